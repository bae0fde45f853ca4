"""Style conditioning (MusicGen-Style): a clip of reference audio -> style tokens and a mask.

The steps, as audiocraft's style conditioner runs them at inference:

1. the clip, mono at the model's rate (32 kHz), gives one excerpt of ``excerpt_seconds``
   (audiocraft's ``excerpt_length``, 3 s by default). audiocraft picks it at random; we pick it
   deterministically: at ``start`` when given, else in the middle, ``int((N - L) / 2)``, which
   is audiocraft's ``use_middle_of_segment``; with a tempo the middle snaps to the nearest
   bar line so the excerpt starts on a downbeat. A clip shorter than the excerpt is looped
   to length (a loop is the usual style clip) instead of failing;
2. the excerpt is resampled to MERT's 24 kHz with julius' ``resample_frac`` (default
   filter), fed raw to MERT, and its ``last_hidden_state`` goes through
   :class:`~musicgen_bridge.engine.models.audiocraft.style_encoder.StyleEncoder`;
3. the mask is ``arange(F') < length / (sr / 75 * ds_factor)`` over the *whole* clip length
   (not the excerpt), and the embeddings are multiplied by it. A null row (no style: the
   classifier-free "unconditional" rows) has length 0, so its embeddings are zeros. When no
   row of a batch has a style, audiocraft's null waveform is one sample long and the style
   prefix is a single zero token; we reproduce that.

>>> import torch
>>> excerpt_start(28800, 16000)                 # middle
6400
>>> excerpt_start(320000, 96000, bar_samples=76800.0)   # 100 bpm at 32 kHz: snapped to bar 1
76800
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import EngineError
from ..models.audiocraft.mert import MERT_FRAME_RATE, MERT_SAMPLE_RATE
from ..models.audiocraft.style_encoder import StyleEncoder


def bar_samples(bpm: float, sample_rate: int, beats_per_bar: int = 4) -> float:
    """Samples in one bar at ``bpm`` (may be fractional)."""
    return sample_rate * 60.0 / bpm * beats_per_bar


def excerpt_start(n_samples: int, excerpt_samples: int, *, start: int | None = None,
                  bar_samples: float | None = None) -> int:
    """Where the style excerpt of ``excerpt_samples`` begins in a clip of ``n_samples``.

    ``start`` (samples) wins when given; it must leave room for the whole excerpt. Otherwise
    the middle, ``int((N - L) / 2)`` like audiocraft, moved to the nearest bar line that still
    fits when ``bar_samples`` is given (bar 0 is the clip's first sample).
    """
    room = n_samples - excerpt_samples
    if start is not None:
        if start < 0 or (room >= 0 and start > room) or (room < 0 and start != 0):
            raise EngineError("invalid_field",
                              f"style start {start} leaves no room for a {excerpt_samples}-sample "
                              f"excerpt in a {n_samples}-sample clip", field="style_start")
        return int(start)
    if room <= 0:
        return 0
    middle = int(room / 2)
    if not bar_samples:
        return middle
    last_bar = math.floor(room / bar_samples + 1e-9)
    bar = min(round(middle / bar_samples), last_bar)
    return round(bar * bar_samples)


def cut_excerpt(wav: torch.Tensor, start: int, excerpt_samples: int) -> torch.Tensor:
    """``wav[..., start:start+L]``; a clip shorter than ``L`` is looped to length."""
    n = wav.shape[-1]
    if n >= start + excerpt_samples:
        return wav[..., start:start + excerpt_samples]
    reps = math.ceil(excerpt_samples / max(n, 1))
    return wav.tile(reps)[..., :excerpt_samples]


def resample_for_mert(excerpt: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """``[B, C, L]`` at ``sample_rate`` -> mono ``[B, L * 24000 / sample_rate]`` for MERT."""
    import julius

    mono = excerpt.mean(dim=-2, keepdim=True) if excerpt.shape[-2] > 1 else excerpt
    if sample_rate != MERT_SAMPLE_RATE:
        mono = julius.resample_frac(mono, sample_rate, MERT_SAMPLE_RATE)
    return mono.squeeze(-2)


def style_mask(lengths: torch.Tensor, sample_rate: int, ds_factor: int,
               frames: int) -> torch.Tensor:
    """int32 ``[B, frames]``: 1 where a style token lies inside the clip (audiocraft's rule)."""
    per_token = sample_rate / MERT_FRAME_RATE * ds_factor
    scaled = lengths / per_token
    return (torch.arange(max(frames, 1), device=lengths.device)[None, :] < scaled[:, None]).int()


@dataclass(frozen=True)
class StyleClip:
    """One row's style input: ``wav [C, N]`` at the model's rate, and where to cut it.

    ``start`` is the excerpt start in samples (None: middle); ``bpm`` aligns the middle to a
    bar line of ``beats_per_bar`` beats.
    """

    wav: torch.Tensor
    start: int | None = None
    bpm: float | None = None
    beats_per_bar: int = 4


def style_clip(wav: torch.Tensor, sample_rate: int, model_rate: int, *,
               start_seconds: float | None = None, start_bar: float | None = None,
               bpm: float | None = None, beats_per_bar: int = 4) -> StyleClip:
    """A :class:`StyleClip` from audio at any rate: mixed to mono and resampled to the model's
    rate (as audiocraft converts style audio before its conditioner sees it); the excerpt start
    in seconds or in bars (bar 0 = the clip's first sample, needs ``bpm``).

    >>> clip = style_clip(torch.zeros(2, 48000), 48000, 32000, start_bar=1, bpm=120)
    >>> tuple(clip.wav.shape), clip.start
    ((1, 32000), 64000)
    """
    import julius

    if wav.dim() == 1:
        wav = wav[None]
    if wav.dim() != 2 or wav.shape[-1] == 0:
        raise EngineError("bad_audio", "the style clip is empty or not [channels, samples]",
                          field="style")
    if not torch.isfinite(wav).all():
        raise EngineError("bad_audio", "the style clip holds NaN or infinite samples",
                          field="style")
    mono = wav.float().mean(0, keepdim=True)
    if sample_rate != model_rate:
        mono = julius.resample_frac(mono, int(sample_rate), int(model_rate))
    start = None
    if start_bar is not None:
        if not bpm:
            raise EngineError("missing_field", "a style start in bars needs a tempo", field="bpm")
        start = round(start_bar * bar_samples(bpm, model_rate, beats_per_bar))
    elif start_seconds is not None:
        start = round(start_seconds * model_rate)
    return StyleClip(mono, start, bpm, beats_per_bar)


@dataclass
class StyleTrace:
    """Every intermediate of one style pass (the conformance runner compares each)."""

    starts: list[int]
    excerpt: torch.Tensor          # [B, C, L]
    mert_input: torch.Tensor       # [B, L * 24000 / sr]
    mert_hidden: torch.Tensor      # [B, F, 768]
    embed_out: torch.Tensor
    bn_out: torch.Tensor
    rvq_out: torch.Tensor
    ds_out: torch.Tensor
    embeds: torch.Tensor           # [B, F', output_dim], masked
    mask: torch.Tensor             # [B, F'] int32


class StyleConditioner(torch.nn.Module):
    """MERT + :class:`StyleEncoder` + excerpt/mask rules: clips -> ``(embeds, mask)``.

    Built by the audiocraft loader without MERT (like T5, it is fetched separately):
    ``attach_mert(model)`` or ``load_mert()`` before use.

    >>> # cond = model.conditioners["self_wav"].load_mert()
    >>> # embeds, mask = cond([StyleClip(loop), None])   # row 1 is a null (no-style) row
    """

    def __init__(self, encoder: StyleEncoder, sample_rate: int, excerpt_seconds: float = 3.0,
                 mert: torch.nn.Module | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.mert = None if mert is None else mert.eval()
        self.sample_rate = int(sample_rate)
        self.excerpt_seconds = float(excerpt_seconds)

    def attach_mert(self, mert: torch.nn.Module) -> StyleConditioner:
        """Use this MERT (or a HuBERT-layout stand-in); returns self."""
        self.mert = mert.eval()
        return self

    def load_mert(self, cache_dir: str | None = None) -> StyleConditioner:
        """Load the published MERT (``m-a-p/MERT-v1-95M``) as a ``HubertModel``."""
        from pathlib import Path

        from ..models.audiocraft.mert import load_mert

        return self.attach_mert(load_mert(cache=None if cache_dir is None else Path(cache_dir)))

    @property
    def excerpt_samples(self) -> int:
        return int(self.excerpt_seconds * self.sample_rate)

    def set_params(self, eval_q: int | None = None, excerpt_seconds: float | None = None) -> None:
        """audiocraft's ``set_style_conditioner_params``: default codebooks and excerpt length
        (a request can override both per call, see :meth:`forward`)."""
        if eval_q is not None:
            self.encoder.set_eval_q(eval_q)
        if excerpt_seconds is not None:
            self.excerpt_seconds = self._check_seconds(excerpt_seconds)

    def _check_seconds(self, seconds: float) -> float:
        # MERT needs at least its receptive field (400 samples at 24 kHz) to give one frame.
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                or not 0.05 <= seconds <= 30:
            raise EngineError("invalid_field", f"style excerpt must be 0.05-30 s, got {seconds!r}",
                              field="style_seconds")
        return float(seconds)

    @torch.no_grad()
    def trace(self, wav: torch.Tensor, lengths: torch.Tensor, starts: list[int] | None = None,
              *, excerpt_seconds: float | None = None, eval_q: int | None = None) -> StyleTrace:
        """Style of a collated batch ``wav [B, C, N]`` whose rows are ``lengths`` long
        (0 = null row). ``starts`` per row; default: the middle of ``N``, as audiocraft does.
        """
        if self.mert is None:
            raise RuntimeError("no MERT attached: call load_mert() or attach_mert() first")
        b, n = wav.shape[0], wav.shape[-1]
        seconds = self.excerpt_seconds if excerpt_seconds is None else \
            self._check_seconds(excerpt_seconds)
        big_l = int(seconds * self.sample_rate)
        if starts is None:
            starts = [excerpt_start(n, big_l)] * b
        excerpt = torch.stack([cut_excerpt(wav[i], starts[i], big_l) for i in range(b)])
        mert_in = resample_for_mert(excerpt, self.sample_rate)
        hidden = self.mert(mert_in).last_hidden_state
        enc = self.encoder(hidden, eval_q)
        mask = style_mask(lengths, self.sample_rate, self.encoder.ds_factor, enc.embeds.shape[1])
        embeds = enc.embeds * mask.unsqueeze(-1)
        return StyleTrace(list(starts), excerpt, mert_in, hidden, enc.embed_out, enc.bn_out,
                          enc.rvq_out, enc.ds_out, embeds, mask)

    @torch.no_grad()
    def forward(self, clips: list[StyleClip | None], *, excerpt_seconds: float | None = None,
                eval_q: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Style tokens ``[B, F', output_dim]`` and mask ``[B, F']`` for rows with or without
        a clip. Null rows are exact zeros (mask 0), so they are not run through MERT.
        ``excerpt_seconds`` and ``eval_q`` override the set defaults for this call only.
        """
        real = [i for i, c in enumerate(clips) if c is not None and c.wav.shape[-1] > 0]
        out_dim = self.encoder.output_proj.out_features
        device = self.encoder.output_proj.weight.device
        if not real:
            # audiocraft's all-null batch: a 1-sample wav -> one masked token per row.
            return (torch.zeros(len(clips), 1, out_dim, device=device),
                    torch.zeros(len(clips), 1, dtype=torch.int32, device=device))
        seconds = self.excerpt_seconds if excerpt_seconds is None else \
            self._check_seconds(excerpt_seconds)
        big_l = int(seconds * self.sample_rate)
        rows, starts, lengths = [], [], []
        for i in real:
            clip = clips[i]
            assert clip is not None
            wav = clip.wav if clip.wav.dim() == 2 else clip.wav[None]
            bar = bar_samples(clip.bpm, self.sample_rate, clip.beats_per_bar) if clip.bpm else None
            start = excerpt_start(wav.shape[-1], big_l, start=clip.start, bar_samples=bar)
            rows.append(cut_excerpt(wav.mean(0, keepdim=True).to(device), start, big_l))
            starts.append(0)
            lengths.append(max(wav.shape[-1], big_l))
        got = self.trace(torch.stack(rows), torch.tensor(lengths, device=device), starts,
                         excerpt_seconds=seconds, eval_q=eval_q)
        embeds = torch.zeros(len(clips), *got.embeds.shape[1:], device=device)
        mask = torch.zeros(len(clips), got.mask.shape[1], dtype=torch.int32, device=device)
        embeds[real] = got.embeds
        mask[real] = got.mask
        return embeds, mask
