"""Built-in tiny random MusicGen models that run anywhere in milliseconds.

``tiny`` and ``tiny-melody`` have the architecture of the real family — T5 text encoder, a
4-codebook decoder with the delay pattern, a 32 kHz EnCodec at 50 frames/s, classifier-free
guidance, a chroma prefix for the melody variant — with every dimension shrunk. Their weights
are random (seeded), so they make noise, not music: they exist to exercise every code path.
EnCodec's codebooks are drawn from its own encoder output (a fresh EnCodec has all-zero
codebooks until a checkpoint fills them), so different tokens decode to different audio and
audio-prompt encoding is meaningful.

A random decoder with default init (std 0.02) barely reacts to its conditioning, which would let a
bug that drops the prompt or melody pass unnoticed; the decoder and conditioning projections are
therefore scaled up so different prompts or melodies give measurably different tokens.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import (
    ByT5Tokenizer,
    EncodecConfig,
    GenerationConfig,
    MusicgenConfig,
    MusicgenDecoderConfig,
    MusicgenForConditionalGeneration,
    MusicgenMelodyConfig,
    MusicgenMelodyDecoderConfig,
    MusicgenMelodyForConditionalGeneration,
    PreTrainedModel,
    T5Config,
)
from transformers.utils import logging as hf_logging

TINY_SEED = 1234
TINY_CODEBOOK_SIZE = 64
DECODER_WEIGHT_SCALE = 3.0
CONDITIONING_PROJ_SCALE = 10.0


def tiny_tokenizer() -> ByT5Tokenizer:
    """A byte-level T5 tokenizer that needs no vocabulary file (any UTF-8 text maps to ids)."""
    return ByT5Tokenizer()


def _configs(melody: bool) -> Any:
    text = T5Config(vocab_size=384, d_model=48, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                    decoder_start_token_id=0,  # type: ignore[call-arg]  # PretrainedConfig takes it as **kwargs
                    pad_token_id=0, eos_token_id=1)
    # upsampling 8*5*4*4 = 640 samples per frame at 32 kHz -> 50 frames/s, as the real codec.
    # 1.2 kbps with 6-bit codebooks at 50 frames/s -> exactly 4 quantizers, as the real 2.2 kbps/11 bits.
    codec = EncodecConfig(sampling_rate=32000, audio_channels=1, num_filters=4, hidden_size=16,
                          upsampling_ratios=[8, 5, 4, 4], codebook_size=TINY_CODEBOOK_SIZE, codebook_dim=16,
                          num_lstm_layers=1, target_bandwidths=[1.2], normalize=False, use_causal_conv=False,
                          num_residual_layers=1, compress=2)
    decoder_cls = MusicgenMelodyDecoderConfig if melody else MusicgenDecoderConfig
    decoder = decoder_cls(vocab_size=TINY_CODEBOOK_SIZE, max_position_embeddings=2048, num_hidden_layers=2,
                          ffn_dim=64, num_attention_heads=4, hidden_size=32, num_codebooks=4,
                          pad_token_id=TINY_CODEBOOK_SIZE, bos_token_id=TINY_CODEBOOK_SIZE, dropout=0.0)
    if melody:
        return MusicgenMelodyConfig(text_encoder=text, audio_encoder=codec, decoder=decoder, num_chroma=12,
                                    chroma_length=235)
    return MusicgenConfig(text_encoder=text, audio_encoder=codec, decoder=decoder)


def _generation_config(pad: int) -> GenerationConfig:
    # What the published checkpoints ship: sampling, top-k 250, CFG 3, 1500 frames (30 s) max.
    return GenerationConfig(do_sample=True, top_k=250, guidance_scale=3.0, max_length=1500,
                            decoder_start_token_id=pad, pad_token_id=pad, bos_token_id=pad)


def _init_codebooks(model: Any) -> None:  # a MusicGen model: its submodules are typed loosely
    """Fill EnCodec's codebooks from the encoder's own output on noise, residual by residual.

    A fresh EnCodec's codebooks are zero buffers until a checkpoint fills them: every code would
    decode to the same sound and every encode would give code 0. Drawing each codebook's entries
    from the (residual) encoder output, as EnCodec's k-means init does from data, makes encode and
    decode meaningful: different tokens sound different and audio prompts encode to varied codes.
    """
    gen = torch.Generator().manual_seed(99)
    noise = torch.randn((1, 1, 640 * 400), generator=gen) * 0.3
    with torch.no_grad():
        residual = model.audio_encoder.encoder(noise)  # (1, dim, frames)
        for layer in model.audio_encoder.quantizer.layers:
            pick = torch.randperm(residual.shape[-1], generator=gen)[:TINY_CODEBOOK_SIZE]
            layer.codebook.embed.copy_(residual[0, :, pick].T)
            layer.codebook.embed_avg.copy_(layer.codebook.embed)
            residual = residual - layer.decode(layer.encode(residual))


def build_tiny(melody: bool = False, seed: int = TINY_SEED) -> PreTrainedModel:
    """Construct a tiny random MusicGen (or MusicGen-Melody) in eval mode, same weights for the same seed.

    >>> model = build_tiny()
    >>> model.config.audio_encoder.frame_rate, model.decoder.num_codebooks
    (50, 4)
    """
    # the real checkpoints' pad/bos id equals the vocabulary size too; transformers warns about it
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        config = _configs(melody)
    finally:
        hf_logging.set_verbosity(verbosity)
    cls = MusicgenMelodyForConditionalGeneration if melody else MusicgenForConditionalGeneration
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(config)
        _init_codebooks(model)
    with torch.no_grad():
        for param in model.decoder.parameters():
            if param.dim() == 2:
                param.mul_(DECODER_WEIGHT_SCALE)
        for name in ("enc_to_dec_proj", "audio_enc_to_dec_proj"):
            proj = getattr(model, name, None)
            if proj is not None:
                for param in proj.parameters():
                    param.mul_(CONDITIONING_PROJ_SCALE)
    model.generation_config = _generation_config(TINY_CODEBOOK_SIZE)
    return model.eval()
