"""Continue an audio item: its last whole bars become the audio prompt, new bars come back.

The caller reads the item (any rate, mono or stereo) and says where it ends on the session's bar
grid. The last ``context_bars`` whole bars before the item's last bar line are resampled to the
model rate, EnCodec-encoded and fed as ``audio_prompt_codes``, so the model continues the song
rather than starting a new one; longer requests run as bar windows (:mod:`engine.generation.windows`).

    result = continue_audio(loaded, item, 44100, grid=Grid.constant("4/4", 120), end_bar=16,
                            context_bars=4, bars=8, prompt="funk bass", seeds=[1])
    result.start_bar, result.audio.shape    # 16, (1, 2, 705600): 8 bars at 44.1 kHz, item's channels

The join: the new clip starts exactly at a bar line where the item's own audio stops playing.
The model's decoded stream is continuous across that bar line, but its audio before the line is
only the codec's re-generation of the item (close for the real codec, unrelated for a random one),
so its first new sample need not meet the item's last one. We remove that step: the difference
between the item's last sample and the re-generation's last sample is added to the new clip and
faded out with a raised-cosine over ``join_s`` (10 ms). The correction is one constant offset,
so it has no pitch and cannot smear transients; a cross-fade is not used because the item cannot
be changed and the clip has nothing earlier to fade from. The correction's gain curve sums with
nothing else, so equal-gain vs equal-power does not arise.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch

from ..decoders.choice import TokenDecoder
from ..errors import EngineError
from ..models.families import FamilyModel
from ..models.registry import LoadedModel
from ..render.dsp import convert_channels
from ..render.resample import as_channels_first, resample
from ..timing.conform import tempo_hint
from ..timing.timeline import Grid, check_sample_rate
from .reference import StepCallback, generate_reference
from .sampling import SamplingParams
from .windows import Generator, WindowPlan, generate_long

DEFAULT_SAMPLING = SamplingParams()  # frozen: safe to share as a default

#: samples of the model stream kept before the join to know the re-generation's last value
_PRE_FRAMES = 1


@dataclass
class PromptContext:
    """The item's context, ready for the model."""

    codes: torch.Tensor  # (1, codebooks, frames) EnCodec codes ending exactly at ``join_bar``
    join_bar: int  # bar line where the new bars start (the item's last bar line)
    context_bars: int  # whole bars of context actually used (fewer when the item is short)
    join_index: int  # sample index in the item's audio of ``join_bar``


@dataclass
class Continuation:
    """New bars to place at ``start_bar``; ``audio`` is exactly their span at ``sample_rate``."""

    audio: np.ndarray  # (takes, channels, frames) float32
    sample_rate: int
    start_bar: int
    bars: int
    tokens: torch.Tensor  # (takes, codebooks, frames) of the new bars (continue a continuation with them)
    windows: list[WindowPlan] = field(default_factory=list)
    join_step: list[float] = field(default_factory=list)  # per take: |offset| removed at the join


def encode_audio(loaded: LoadedModel, audio: np.ndarray) -> torch.Tensor:
    """EnCodec codes (1, codebooks, frames) of (channels, samples) audio at the model rate.

    Stereo models get left and right encoded apart with their codebooks interleaved, as
    transformers lays them out; a mono model gets the channel mean.
    """
    audio = as_channels_first(audio)
    if isinstance(loaded, FamilyModel):
        return loaded.encode(audio)
    if loaded.audio_channels == 1:
        audio = audio.mean(axis=0, keepdims=True)
    elif audio.shape[0] == 1:
        audio = np.repeat(audio, 2, axis=0)
    codec = loaded.model.audio_encoder
    x = torch.from_numpy(audio).to(loaded.device, loaded.dtype)
    with torch.inference_mode():
        parts = [codec.encode(x[c:c + 1][None], return_dict=True).audio_codes[0] for c in range(x.shape[0])]
    if len(parts) == 1:
        return parts[0].cpu()
    codes = torch.stack(parts, dim=2)  # (1, K/2, 2, frames): left, right per codebook
    return codes.reshape(1, -1, codes.shape[-1]).cpu()


def _item_index(grid: Grid, end_bar: Fraction, bar: Fraction | int, item_len: int, rate: int) -> int:
    """Sample index in the item of bar line ``bar`` (the item's last sample sits just before ``end_bar``)."""
    return item_len - (grid.bar_frame(end_bar, rate) - grid.bar_frame(bar, rate))


def prompt_context(loaded: LoadedModel, audio: np.ndarray, sample_rate: int, grid: Grid,
                   end_bar: Fraction | int, context_bars: int) -> PromptContext:
    """Encode the last ``context_bars`` whole bars of an item ending at ``end_bar``."""
    audio = as_channels_first(audio)
    end_bar = Fraction(end_bar)
    join_bar = math.floor(end_bar)
    start_s = grid.bar_seconds(end_bar) - Fraction(audio.shape[1], sample_rate)
    if start_s < 0:
        raise EngineError("invalid_field", "the item would start before bar 1: check end_bar and the item's length",
                          field="end_bar")
    first_whole = math.ceil(grid.bar_at_seconds(start_s))
    bars = min(context_bars, join_bar - first_whole)
    if bars < 1 or not np.any(audio):
        raise EngineError("bad_audio", "the item holds no whole bar of audio before its end; "
                          "select an item at least one bar long (and not silent)")
    join = _item_index(grid, end_bar, join_bar, audio.shape[1], sample_rate)
    ctx = max(0, _item_index(grid, end_bar, join_bar - bars, audio.shape[1], sample_rate))
    model_rate, hop = loaded.sample_rate, loaded.sample_rate // loaded.frame_rate
    # whole frames only, ending exactly at the bar line, so the first new frame starts on it
    frames = int(grid.span_seconds(join_bar - bars, bars) * loaded.frame_rate)
    # resample a little past the join when the item goes on, so the filter sees real audio there
    segment = resample(audio[:, ctx:min(audio.shape[1], join + sample_rate // 100)], sample_rate, model_rate)
    end = round((join - ctx) * model_rate / sample_rate)
    segment = segment[:, max(0, end - frames * hop):end]
    if segment.shape[1] < frames * hop:
        segment = np.pad(segment, ((0, 0), (frames * hop - segment.shape[1], 0)))
    codes = encode_audio(loaded, segment)
    return PromptContext(codes=codes[:, :, -frames:], join_bar=join_bar, context_bars=bars, join_index=join)


def smooth_join(before: np.ndarray, regen_before: np.ndarray, after: np.ndarray, fade: int) -> np.ndarray:
    """``after`` with the step at a join removed: ``before[c] - regen_before[c]`` (the last samples
    of what plays before the join and of the model's own audio there) added and faded out over
    ``fade`` samples with a raised cosine. ``before``/``regen_before`` are (channels,)."""
    out = np.array(after, dtype=np.float32, copy=True)
    n = min(fade, out.shape[-1])
    if n:
        ramp = 0.5 + 0.5 * np.cos(np.pi * np.arange(n) / n)
        out[:, :n] += ((before - regen_before)[:, None] * ramp[None]).astype(np.float32)
    return out


def continue_audio(loaded: LoadedModel, audio: np.ndarray, sample_rate: int, *, grid: Grid,
                   end_bar: Fraction | int, context_bars: int, bars: int, prompt: str = "",
                   seeds: list[int] | None = None, params: SamplingParams = DEFAULT_SAMPLING,
                   out_rate: int | None = None, add_tempo_hint: bool = True, join_s: float = 0.010,
                   window_bars: int | None = None, on_step: StepCallback | None = None,
                   cancel: threading.Event | None = None, generate: Generator = generate_reference,
                   decoder: TokenDecoder | None = None) -> Continuation:
    """Continue ``audio`` (an item ending at bar position ``end_bar``) by ``bars`` bars.

    The new bars start at the item's last bar line (``floor(end_bar)``) and come back at
    ``out_rate`` (default: the item's rate) with the item's channel count, one row per seed.
    ``decoder`` turns the stream's tokens into audio (default EnCodec; see ``engine/decoders/choice.py``).
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or not 8000 <= sample_rate <= 384000:
        raise EngineError("invalid_field", f"the item's sample rate must be 8000..384000 Hz, got {sample_rate!r}",
                          field="sample_rate")
    out_rate = check_sample_rate(out_rate) if out_rate is not None else sample_rate
    seeds = [0] if seeds is None else seeds
    if bars < 1:
        raise EngineError("invalid_field", f"bars must be at least 1, got {bars}", field="bars")
    item = as_channels_first(audio)
    ctx = prompt_context(loaded, item, sample_rate, grid, end_bar, context_bars)
    text = tempo_hint(prompt, grid.bpm_at_bar(ctx.join_bar), enabled=add_tempo_hint)
    takes = len(seeds)
    stream, windows = generate_long(loaded, [text] * takes, grid, ctx.join_bar, bars, params, seeds,
                                    context_bars=context_bars,
                                    prompt_codes=ctx.codes.expand(takes, -1, -1).contiguous(),
                                    window_bars=window_bars, on_step=on_step, cancel=cancel, generate=generate,
                                    decoder=decoder)
    # one decode of prompt + all windows, cut at the join bar with one frame of re-generation before it
    model_audio = stream.span_audio(bars, pre_frames=_PRE_FRAMES)
    pre = _PRE_FRAMES * out_rate // loaded.frame_rate  # a whole number at every supported rate
    out = resample(model_audio.reshape(-1, model_audio.shape[-1]), loaded.sample_rate, out_rate)
    out = convert_channels(out.reshape(takes, -1, out.shape[-1]), item.shape[0])
    frames = grid.span_frames(ctx.join_bar, bars, out_rate)
    new = out[..., pre:pre + frames]
    if new.shape[-1] < frames:
        new = np.pad(new, ((0, 0), (0, 0), (0, frames - new.shape[-1])))
    # the item's last sample before the join (an amplitude: it needs no resampling to compare)
    before = item[:, ctx.join_index - 1]
    fade = round(join_s * out_rate)
    joined, steps = [], []
    for t in range(takes):
        regen = out[t, :, pre - 1]
        steps.append(float(np.abs(before - regen).max()))
        joined.append(smooth_join(before, regen, new[t], fade))
    tokens = stream.tokens[:, :, stream.prompt_frames:]
    return Continuation(audio=np.stack(joined), sample_rate=out_rate, start_bar=ctx.join_bar, bars=bars,
                        tokens=tokens, windows=windows, join_step=steps)
