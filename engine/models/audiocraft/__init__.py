"""Modules built from audiocraft-exported checkpoints (codec, LM, conditioners)."""
