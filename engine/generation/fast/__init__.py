"""The fast generator: our static-KV-cache decoder loop (CUDA graphs where available)."""
