"""Token-to-audio decoders: EnCodec, the audiocraft SEANet codec, Multi-Band Diffusion."""
