"""Models: the registry, model specs, loaders (transformers, audiocraft) and the built-in tiny models."""
