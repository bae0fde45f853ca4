"""The bridge: the versioned protocol, its ZeroMQ and OSC transports, the client and the CLI."""
