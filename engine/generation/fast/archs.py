"""Random-weight models with the published MusicGen architectures, for benchmarks and exactness tests.

No download: the configs are transformers' defaults plus the sizes of the published checkpoints
(facebook/musicgen-small, -medium, -large, -melody): a T5-base text encoder, the 32 kHz EnCodec
(4 codebooks of 2048 at 50 frames/s) and the decoder sizes below. ``decoder_layers`` /
``text_layers`` cut depth (keeping every width) and ``text_vocab`` the T5 embedding table where
tests need speed.

>>> loaded = build_random("small", decoder_layers=2, text_layers=2)
>>> loaded.model.decoder.config.hidden_size, loaded.num_codebooks, loaded.frame_rate
(1024, 4, 50)
"""

from __future__ import annotations

import torch
from transformers import (
    EncodecConfig,
    GenerationConfig,
    MusicgenConfig,
    MusicgenDecoderConfig,
    MusicgenForConditionalGeneration,
    MusicgenMelodyConfig,
    MusicgenMelodyDecoderConfig,
    MusicgenMelodyForConditionalGeneration,
    T5Config,
)

from ...models import tiny
from ...models.registry import LoadedModel, ModelSpec

#: arch -> (hidden, layers, heads, ffn, params as published)
ARCHS: dict[str, tuple[int, int, int, int, str]] = {
    "small": (1024, 24, 16, 4096, "300M"),
    "medium": (1536, 48, 24, 6144, "1.5B"),
    "large": (2048, 48, 32, 8192, "3.3B"),
    "melody": (1536, 48, 24, 6144, "1.5B"),
}
CODEBOOK_SIZE = 2048
T5_VOCAB = 32128
#: the byte-level tokenizer's ids all lie below this; tests may shrink the text vocabulary to it
BYTE_VOCAB = 384


def _t5_base(layers: int, vocab: int) -> T5Config:
    return T5Config(vocab_size=vocab, d_model=768, d_kv=64, d_ff=3072, num_layers=layers, num_heads=12,
                    relative_attention_num_buckets=32, feed_forward_proj="relu",
                    decoder_start_token_id=0,  # type: ignore[call-arg]  # PretrainedConfig takes it as **kwargs
                    pad_token_id=0, eos_token_id=1)


def _encodec_32khz() -> EncodecConfig:
    return EncodecConfig(sampling_rate=32000, audio_channels=1, codebook_size=CODEBOOK_SIZE, codebook_dim=128,
                         hidden_size=128, num_filters=64, num_lstm_layers=2, num_residual_layers=1,
                         upsampling_ratios=[8, 5, 4, 4], target_bandwidths=[2.2], normalize=False,
                         use_causal_conv=False, compress=2, chunk_length_s=None, overlap=None)


def published_config(arch: str, decoder_layers: int | None = None, text_layers: int | None = None,
                     text_vocab: int = T5_VOCAB):
    """The config of a published checkpoint (optionally shallower, or with a smaller text vocabulary)."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}")
    hidden, layers, heads, ffn, _ = ARCHS[arch]
    melody = arch == "melody"
    decoder_cls = MusicgenMelodyDecoderConfig if melody else MusicgenDecoderConfig
    decoder = decoder_cls(vocab_size=CODEBOOK_SIZE, max_position_embeddings=2048, hidden_size=hidden,
                          num_hidden_layers=decoder_layers or layers, num_attention_heads=heads, ffn_dim=ffn,
                          num_codebooks=4, pad_token_id=CODEBOOK_SIZE, bos_token_id=CODEBOOK_SIZE)
    text = _t5_base(text_layers or 12, text_vocab)
    if melody:
        return MusicgenMelodyConfig(text_encoder=text, audio_encoder=_encodec_32khz(), decoder=decoder,
                                    num_chroma=12, chroma_length=235)
    return MusicgenConfig(text_encoder=text, audio_encoder=_encodec_32khz(), decoder=decoder)


def build_random(arch: str, decoder_layers: int | None = None, text_layers: int | None = None, seed: int = 0,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                 text_vocab: int = T5_VOCAB) -> LoadedModel:
    """A :class:`LoadedModel` with random weights and a byte-level tokenizer (no vocabulary file needed)."""
    config = published_config(arch, decoder_layers, text_layers, text_vocab)
    cls = MusicgenMelodyForConditionalGeneration if arch == "melody" else MusicgenForConditionalGeneration
    device = torch.device(device)
    rng_devices = [device.index or 0] if device.type == "cuda" else []
    # built on the target device: random init of billions of weights is slow on a CPU
    with torch.random.fork_rng(devices=rng_devices), device:
        torch.manual_seed(seed)
        model = cls(config)
    model.generation_config = GenerationConfig(do_sample=True, top_k=250, guidance_scale=3.0, max_length=1500,
                                               decoder_start_token_id=CODEBOOK_SIZE, pad_token_id=CODEBOOK_SIZE,
                                               bos_token_id=CODEBOOK_SIZE)
    model = model.to(device=device, dtype=dtype).eval()  # type: ignore[call-arg]  # transformers' to() is wrapped
    depth = f"{decoder_layers}-layer " if decoder_layers else ""
    spec = ModelSpec(f"random-{arch}", f"{ARCHS[arch][4]} architecture, {depth}random weights",
                     melody=arch == "melody")
    return LoadedModel(spec, model, tiny.tiny_tokenizer(), device, dtype, revision=f"random-seed{seed}")
