"""Conditioning and the delay pattern for the fast decoder, computed once per generation.

Everything here follows what transformers' ``generate`` builds for MusicGen and MusicGen-Melody:

* text: the T5 encoder runs once; with guidance the unconditional rows are zeros with an all-zero
  attention mask. MusicGen projects (``enc_to_dec_proj``) and masks the states, and the decoder reads
  them through cross-attention.
* melody: the decoder has no cross-attention. Its input is a prefix ``[chroma states, text states]``
  in front of the audio tokens; the chroma (or, without a melody, a one-hot "null" chroma on bin 0)
  is projected by ``audio_enc_to_dec_proj`` and tiled/truncated to ``chroma_length`` frames; the
  unconditional rows use the null chroma and zero text.
* audio prompt: the prompt codes follow the decoder start token and are laid out under the delay
  pattern, so codebook ``k`` of prompt frame ``t`` sits at position ``1 + t + delay[k]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class Prepared:
    """The per-generation conditioning, already batched as ``[cond rows; uncond rows]`` under guidance."""

    rows: int  # decoder batch rows (2 * takes with guidance)
    cross_states: torch.Tensor | None  # MusicGen: (rows, source, hidden), projected and masked
    cross_mask: torch.Tensor | None  # MusicGen: bool (rows, 1, 1, source), None when nothing is masked
    prefix: torch.Tensor | None  # MusicGen-Melody: (rows, prefix_len, hidden), before positions

    @property
    def prefix_len(self) -> int:
        return 0 if self.prefix is None else self.prefix.shape[1]


def is_melody(model) -> bool:
    """MusicGen-Melody (chroma prefix, no cross-attention) rather than MusicGen."""
    return getattr(model.config, "chroma_length", None) is not None


def _text_states(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    return model.text_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def prepare_text(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, guided: bool) -> Prepared:
    """MusicGen: encoder states for cross-attention."""
    states = _text_states(model, input_ids, attention_mask)
    mask = attention_mask
    if guided:
        states = torch.cat([states, torch.zeros_like(states)], dim=0)
        mask = torch.cat([mask, torch.zeros_like(mask)], dim=0)
    decoder_cfg = model.decoder.config
    widths_differ = model.text_encoder.config.hidden_size != decoder_cfg.hidden_size
    if widths_differ and decoder_cfg.cross_attention_hidden_size is None:
        states = model.enc_to_dec_proj(states)
    states = states * mask[..., None]
    # transformers drops the mask when nothing is masked; keep its choice so SDPA takes the same kernel
    cross_mask = None if bool(mask.all()) else mask.bool()[:, None, None, :]
    return Prepared(rows=states.shape[0], cross_states=states, cross_mask=cross_mask, prefix=None)


def prepare_melody(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, chroma: torch.Tensor | None,
                   guided: bool) -> Prepared:
    """MusicGen-Melody: the decoder prefix. ``chroma`` is (takes, frames, num_chroma) or None."""
    config = model.config
    takes = input_ids.shape[0]
    text = _text_states(model, input_ids, attention_mask)
    if model.text_encoder.config.hidden_size != model.decoder.config.hidden_size:
        text = model.enc_to_dec_proj(text)
    mask = attention_mask
    if guided:
        text = torch.cat([text, torch.zeros_like(text)], dim=0)
        mask = torch.cat([mask, torch.zeros_like(mask)], dim=0)
    text = text * mask[..., None]

    if chroma is not None:
        null = torch.zeros_like(chroma)
    else:
        null = torch.zeros((takes, 1, config.num_chroma), device=text.device, dtype=model.dtype)
    null[:, :, 0] = 1
    audio = chroma if chroma is not None else null
    if guided:
        audio = torch.cat([audio, null], dim=0)
    if config.num_chroma != model.decoder.config.hidden_size:
        audio = model.audio_enc_to_dec_proj(audio)
    if audio.shape[1] < config.chroma_length:
        audio = audio.repeat(1, math.ceil(config.chroma_length / audio.shape[1]), 1)
    audio = audio[:, :config.chroma_length]
    prefix = torch.cat([audio, text], dim=1)
    return Prepared(rows=prefix.shape[0], cross_states=None, cross_mask=None, prefix=prefix)


def delay_pattern(prompt: torch.Tensor | None, takes: int, num_codebooks: int, delays: list[int],
                  new_frames: int, pad: int, device: torch.device) -> torch.Tensor:
    """Input template ``(takes, K, 1 + P + new_frames + max_delay)``: a token id, or -1 where generated.

    Position 0 is the start token; prompt frame ``t`` of codebook ``k`` sits at ``1 + t + delays[k]``;
    generated frame ``f`` of codebook ``k`` at ``1 + P + f + delays[k]``; everything else is ``pad``.
    """
    frames_prompt = 0 if prompt is None else prompt.shape[-1]
    length = 1 + frames_prompt + new_frames + max(delays)
    pattern = torch.full((takes, num_codebooks, length), pad, dtype=torch.long, device=device)
    for k, d in enumerate(delays):
        if prompt is not None and frames_prompt:
            pattern[:, k, 1 + d:1 + d + frames_prompt] = prompt[:, k]
        pattern[:, k, 1 + frames_prompt + d:1 + frames_prompt + d + new_frames] = -1
    return pattern
