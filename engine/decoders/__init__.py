"""Decoders: model tokens to audio (EnCodec, Multi-Band Diffusion)."""
