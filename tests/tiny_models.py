"""The built-in tiny model as a LoadedModel for tests that drive the generation layer directly."""

from __future__ import annotations

import torch

from musicgen_bridge.engine.models.registry import LoadedModel, get_spec
from musicgen_bridge.engine.models.tiny import build_tiny, tiny_tokenizer


def tiny_model(max_frames: int | None = None) -> LoadedModel:
    """The built-in tiny model, optionally with a shorter window (to exercise long-form cheaply)."""
    model = build_tiny()
    if max_frames is not None:
        model.generation_config.max_length = max_frames
    return LoadedModel(get_spec("tiny"), model, tiny_tokenizer(), torch.device("cpu"), torch.float32, "test")
