"""musicgen-bridge bridge: the versioned protocol, its ZeroMQ and OSC transports, and the client."""
