"""EnCodec on its own: audio -> codes at a bandwidth -> audio (transformers' ``EncodecModel``).

The published codecs (``facebook/encodec_24khz`` mono, ``_32khz`` mono (MusicGen's),
``_48khz`` stereo with 1 s normalised chunks) load from the local Hugging Face cache;
``tiny-encodec`` is built in code (24 kHz mono, 75 frames/s, 64-entry codebooks, 0.9 or 1.8 kbps:
2 or 4 codebooks) for tests and demos. A mono codec codes every channel of the input as its own
stream; the stereo codec codes a stereo pair (mono input is doubled).

>>> codec = load_codec("tiny-encodec")
>>> codec.sample_rate, codec.bandwidths
(24000, [0.9, 1.8])
>>> codes = codec.encode(np.zeros((2, 24000), np.float32), 24000, 1.8)
>>> tuple(codes.codes.shape)  # (chunks, streams, codebooks, frames)
(1, 2, 4, 75)
>>> codec.decode(codes, 48000).shape  # back at the session rate, the source's length
(2, 48000)
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import EngineError
from ..render.resample import as_channels_first, resample

CODEC_MODELS = ("tiny-encodec", "facebook/encodec_24khz", "facebook/encodec_32khz", "facebook/encodec_48khz")
TINY_SEED = 4321


@dataclass
class Codes:
    """What ``encode`` gives and a tokens file holds (engine/decoders/tokens_file.py)."""

    model: str
    bandwidth: float
    sample_rate: int  # the codec's
    codes: torch.Tensor  # (chunks, streams, codebooks, frames) int64
    scales: list[list[float]] | None  # per chunk, per stream (normalising codecs), else None
    source_rate: int  # the audio's rate before encoding
    source_frames: int  # its length in frames at source_rate
    source_channels: int
    timing: dict[str, Any] | None = None  # {"bars", "bpm", "time_signature"} when the source was bar-exact
    revision: str = ""

    def length_at(self, rate: int) -> int:
        """The source's length at ``rate``: exact bar arithmetic when known, else one rounding."""
        if self.timing is not None:
            from ..timing.timeline import TimeSignature, check_bpm, span_frames

            t = self.timing
            return span_frames(int(t["bars"]), TimeSignature.parse(t["time_signature"]), check_bpm(t["bpm"]), rate)
        return round(self.source_frames * rate / self.source_rate)


@dataclass
class Codec:
    """A loaded EnCodec: encode at a supported bandwidth, decode back at any session rate."""

    name: str
    model: Any  # transformers.EncodecModel
    revision: str
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def sample_rate(self) -> int:
        return int(self.model.config.sampling_rate)

    @property
    def channels(self) -> int:
        return int(self.model.config.audio_channels)

    @property
    def bandwidths(self) -> list[float]:
        return [float(b) for b in self.model.config.target_bandwidths]

    def check_bandwidth(self, bandwidth: Any) -> float:
        """The bandwidth in kbps if this codec has it; else ``invalid_field`` listing the ones it has."""
        ok = not isinstance(bandwidth, bool) and isinstance(bandwidth, (int, float)) and math.isfinite(bandwidth)
        if ok and any(abs(float(bandwidth) - b) < 1e-9 for b in self.bandwidths):
            return float(bandwidth)
        raise EngineError("invalid_field", f"bandwidth {bandwidth!r} kbps is not supported by {self.name}; "
                          f"it supports {', '.join(f'{b:g}' for b in self.bandwidths)}", field="bandwidth")

    def _streams(self, audio: np.ndarray) -> torch.Tensor:
        """(streams, codec channels, samples): each channel alone for a mono codec, the pair for stereo."""
        if self.channels == 1:
            return torch.from_numpy(np.ascontiguousarray(audio))[:, None]
        pair = np.repeat(audio, 2, axis=0) if audio.shape[0] == 1 else audio[:2]
        return torch.from_numpy(np.ascontiguousarray(pair))[None]

    def _padded(self, n: int) -> int:
        """Samples the chunked (48 kHz) codec needs: whole strides plus one overlap; others take any length."""
        chunk, stride = self.model.config.chunk_length, self.model.config.chunk_stride
        if chunk is None:
            return n
        step = chunk - stride
        return max(1, math.ceil(max(n - step, 0) / stride)) * stride + step

    @torch.no_grad()
    def encode(self, audio: np.ndarray, rate: int, bandwidth: float,
               timing: dict[str, Any] | None = None) -> Codes:
        """(channels, samples) float32 at ``rate`` -> codes at ``bandwidth`` kbps."""
        bandwidth = self.check_bandwidth(bandwidth)
        audio = as_channels_first(np.asarray(audio, dtype=np.float32))
        if audio.shape[1] == 0:
            raise EngineError("bad_audio", "the audio to encode is empty")
        at_codec = resample(audio, rate, self.sample_rate) if rate != self.sample_rate else audio
        x = self._streams(at_codec)
        pad = self._padded(x.shape[-1]) - x.shape[-1]
        mask = torch.ones(x.shape[0], x.shape[-1] + pad, dtype=torch.long)
        if pad:
            x = torch.nn.functional.pad(x, (0, pad))
            mask[:, -pad:] = 0
        with self.lock:
            out = self.model.encode(x, mask, bandwidth)
        scales = None
        if out.audio_scales and out.audio_scales[0] is not None:
            scales = [[float(v) for v in s.reshape(-1)] for s in out.audio_scales]
        return Codes(self.name, bandwidth, self.sample_rate, out.audio_codes.long().cpu(), scales, rate,
                     int(audio.shape[1]), int(audio.shape[0]), timing, self.revision)

    @torch.no_grad()
    def decode(self, codes: Codes, rate: int) -> np.ndarray:
        """Codes -> (source channels, source length at ``rate``) float32."""
        if codes.sample_rate != self.sample_rate:
            raise EngineError("invalid_field", f"the codes were made by a {codes.sample_rate} Hz codec; "
                              f"{self.name} runs at {self.sample_rate} Hz", field="model")
        scales = [None] * codes.codes.shape[0] if codes.scales is None else \
            [torch.tensor(s, dtype=torch.float32).view(-1, 1) for s in codes.scales]
        with self.lock:
            wav = self.model.decode(codes.codes, scales).audio_values  # (streams, codec channels, samples)
        wav = wav.float().cpu().numpy()
        audio = wav[:, 0] if self.channels == 1 else wav[0]
        if codes.source_channels == 1 and audio.shape[0] == 2:
            audio = audio.mean(axis=0, keepdims=True)
        keep = round(codes.source_frames * self.sample_rate / codes.source_rate)
        audio = audio[:, :keep]
        out = resample(audio, self.sample_rate, rate) if rate != self.sample_rate else audio
        frames = codes.length_at(rate)
        if out.shape[1] < frames:
            out = np.pad(out, ((0, 0), (0, frames - out.shape[1])))
        return np.ascontiguousarray(out[:, :frames], dtype=np.float32)

    def bounce(self, audio: np.ndarray, rate: int, bandwidth: float) -> np.ndarray:
        """The codec's sound as an effect: encode at ``bandwidth`` and decode, same rate and length."""
        return self.decode(self.encode(audio, rate, bandwidth), rate)


def build_tiny_codec(seed: int = TINY_SEED) -> Any:
    """A seeded tiny 24 kHz mono EncodecModel whose codebooks come from its own encoder output."""
    from transformers import EncodecConfig, EncodecModel

    config = EncodecConfig(sampling_rate=24000, audio_channels=1, num_filters=4, hidden_size=16,
                           upsampling_ratios=[8, 5, 4, 2], codebook_size=64, codebook_dim=16, num_lstm_layers=1,
                           target_bandwidths=[0.9, 1.8], normalize=False, use_causal_conv=False,
                           num_residual_layers=1, compress=2)
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = EncodecModel(config).eval()
    # a fresh EnCodec's codebooks are zeros: draw them from the encoder's output, residual by residual
    with torch.no_grad():
        residual = model.encoder(torch.randn((1, 1, 320 * 400), generator=gen) * 0.3)
        for layer in model.quantizer.layers:
            pick = torch.randperm(residual.shape[-1], generator=gen)[:config.codebook_size]
            layer.codebook.embed.copy_(residual[0, :, pick].T)
            layer.codebook.embed_avg.copy_(layer.codebook.embed)
            residual = residual - layer.decode(layer.encode(residual))
    return model


def load_codec(name: str, cache_dir: str | Path | None = None) -> Codec:
    """``tiny-encodec`` built in code, or a published EnCodec from the local cache (``model_unavailable``)."""
    if name == "tiny-encodec":
        return Codec(name, build_tiny_codec(), f"builtin-seed{TINY_SEED}")
    if name not in CODEC_MODELS:
        raise EngineError("unknown_model", f"unknown codec {name!r}; known codecs: {', '.join(CODEC_MODELS)}",
                          model=name)
    from transformers import EncodecModel

    from ..models.hf import cache_dir as default_cache
    from ..models.hf import ensure_snapshot

    snapshot = ensure_snapshot(name, default_cache(cache_dir))
    return Codec(name, EncodecModel.from_pretrained(snapshot).eval(), Path(snapshot).name)


_SHARED: dict[str, Codec] = {}
_SHARED_LOCK = threading.Lock()


def shared_codec(name: str, cache_dir: str | Path | None = None) -> Codec:
    """One loaded codec per name for this process (the fx chain's codec steps share it)."""
    with _SHARED_LOCK:
        if name not in _SHARED:
            _SHARED[name] = load_codec(name, cache_dir)
        return _SHARED[name]
