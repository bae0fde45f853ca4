"""MAGNeT on the shared audiocraft LM: non-causal, with a local attention window for codebooks >= 1.

Stage 0 (the first codebook) attends over the whole window; later stages see only positions
``|i - j| <= subcodes_context`` (an additive ``0 / -inf`` mask, the same for every head), always
through ``torch.nn.functional.scaled_dot_product_attention`` -- no xformers, so the local window
is kept on every device (audiocraft's own torch path swaps it for a causal mask; see the fixtures
README §8.3).

Checkpoints hold placeholders for the window: as audiocraft's MAGNeT loader does, the window
length comes from ``dataset.segment_duration`` and the codec's frame rate, the span length from
``masking.span_len``; the ``transformer_lm`` copies of those keys are ignored.

>>> model = load_magnet("tests/fixtures/audiocraft/magnet")
>>> model.frames, model.span_len, model.subcodes_context
(48, 3, 5)
>>> model.stage_mask(0, 48) is None, model.stage_mask(1, 48).shape
(True, torch.Size([48, 48]))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ...generation.magnet import MagnetParams, Progress, StageForward, generate_magnet
from .builder import AudiocraftModel, load_model
from .config import bad_checkpoint
from .text_to_audio import text_conditions as base_text_conditions


def local_attention_mask(frames: int, context: int, dtype: torch.dtype = torch.float32,
                         device: torch.device | str = "cpu") -> torch.Tensor:
    """Additive ``[frames, frames]`` mask: 0 where ``|i - j| <= context``, ``-inf`` elsewhere."""
    pos = torch.arange(frames, device=device)
    near = (pos[:, None] - pos[None, :]).abs() <= context
    return torch.zeros(frames, frames, dtype=dtype, device=device).masked_fill(~near, float("-inf"))


@dataclass
class MagnetModel:
    """A loaded MAGNeT: the shared audiocraft model plus the window and span settings."""

    base: AudiocraftModel
    frames: int  # the trained window in codec frames (segment_duration * frame rate)
    span_len: int
    subcodes_context: int  # -1: later stages attend everywhere too

    @property
    def lm(self):
        return self.base.lm

    @property
    def codebooks(self) -> int:
        return self.base.lm.settings.n_q

    @property
    def card(self) -> int:
        return self.base.lm.settings.card

    @property
    def seconds(self) -> float:
        return self.base.max_duration

    def stage_mask(self, stage: int, frames: int) -> torch.Tensor | None:
        """Self-attention mask of ``stage`` for ``frames`` positions (None: full bidirectional)."""
        if stage == 0 or self.subcodes_context < 0:
            return None
        weight = self.lm.emb[0].weight
        return local_attention_mask(frames, self.subcodes_context, weight.dtype, weight.device)

    def forward(self, codes: torch.Tensor, cross: torch.Tensor | None, prefix: torch.Tensor | None,
                stage: int) -> torch.Tensor:
        """All codebooks' logits ``[B, K, T, card]`` for input ``codes`` ``[B, K, T]`` at ``stage``."""
        return self.lm(codes, cross, prefix, causal=False, attn_mask=self.stage_mask(stage, codes.shape[-1]))

    def stage_forward(self, cross: torch.Tensor | None, prefix: torch.Tensor | None) -> StageForward:
        """The callable :func:`~musicgen_bridge.engine.generation.magnet.generate_magnet` drives: logits of one
        codebook ``[N, T, card]``, with the conditions (``2B`` rows: texts, then nulls) bound."""
        def forward(seq: torch.Tensor, stage: int) -> torch.Tensor:
            with torch.inference_mode():
                return self.forward(seq, cross, prefix, stage)[:, stage].float()

        return forward

    def generate(self, cross: torch.Tensor | None, prefix: torch.Tensor | None, batch: int,
                 params: MagnetParams | None = None, frames: int | None = None, **loop) -> torch.Tensor:
        """Tokens ``[batch, K, T]`` for one window; ``cross``/``prefix`` hold ``2 * batch`` rows
        (conditioned, then null). ``loop`` goes to ``generate_magnet`` (generator, progress...);
        the loop runs on the LM's device, so a ``generator`` must live there too."""
        return generate_magnet(self.stage_forward(cross, prefix), batch=batch, codebooks=self.codebooks,
                               frames=frames or self.frames, card=self.card, span_len=self.span_len,
                               params=params, device=self.lm.emb[0].weight.device, **loop)


    def text_to_audio(self, texts: list[str], seeds: list[int], params: MagnetParams | None = None,
                      progress: Progress | None = None, check_cancelled: Callable[[], None] | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens ``[takes, K, T]``, audio ``[takes, C, T * hop]``), one take per text and seed.

        Takes run one after another, each from its own seeded generator: audiocraft's
        cross-attention has no key mask, so in one batch the T5 padding to the longest text would
        change every shorter text's result. ``progress(done, total)`` counts decoding passes over
        all takes.
        """
        if len(texts) != len(seeds):
            raise ValueError("one seed per take")
        params = params or MagnetParams()
        device = self.lm.emb[0].weight.device
        total = params.passes * len(texts)
        tokens = []
        for take, (text, seed) in enumerate(zip(texts, seeds)):
            cross, prefix = text_conditions(self, [text])
            report = None if progress is None else \
                (lambda done, _, base=take * params.passes: progress(base + done, total))
            tokens.append(self.generate(cross, prefix, batch=1, params=params, progress=report,
                                        check_cancelled=check_cancelled,
                                        generator=torch.Generator(device=device).manual_seed(int(seed))))
        codes = torch.cat(tokens)
        with torch.inference_mode():
            audio = self.base.require_codec().decode(codes)
        return codes.cpu(), audio.float().cpu()


def text_conditions(model: MagnetModel, texts: list[str]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(cross, prefix) for the guided batch ``[texts; nulls]`` (``2 * len(texts)`` rows)."""
    return base_text_conditions(model.base, texts)


def load_magnet(source: str | Path, cache_dir: str | Path | None = None) -> MagnetModel:
    """Build a MAGNeT from an exported audiocraft folder (or cached Hugging Face id)."""
    base = load_model(source, cache_dir)
    cfg = base.cfg
    if cfg.get("lm_model") != "transformer_lm_magnet":
        raise bad_checkpoint(cfg.file, "lm_model", f"not a MAGNeT checkpoint ({cfg.get('lm_model')!r})")
    if base.lm.settings.causal:
        raise bad_checkpoint(cfg.file, "transformer_lm.causal", "MAGNeT's LM must be non-causal")
    if any(base.delays):
        raise bad_checkpoint(cfg.file, "codebooks_pattern.modeling", "MAGNeT needs the parallel pattern")
    duration = cfg.require("dataset.segment_duration", (int, float))
    if float(duration) != int(duration) or duration <= 0:
        # audiocraft cannot build its masks for a fractional window either
        raise bad_checkpoint(cfg.file, "dataset.segment_duration", f"expected whole seconds, got {duration!r}")
    span_len = cfg.require("masking.span_len", int)
    if span_len < 1:
        raise bad_checkpoint(cfg.file, "masking.span_len", f"expected at least 1, got {span_len}")
    context = cfg.require("transformer_lm.subcodes_context", int, 5)
    frame_rate = int(base.codec.frame_rate) if base.codec is not None else \
        cfg.require("transformer_lm.compression_model_framerate", int)
    return MagnetModel(base, int(duration * frame_rate), span_len, context)
