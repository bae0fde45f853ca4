"""musicgen-bridge engine: models, jobs, conditioning, timeline, render."""

__version__ = "0.1.0"
