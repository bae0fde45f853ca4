"""Our own MusicGen / MusicGen-Melody decoder: token-exact with the reference, without its overhead.

:func:`generate_fast` has the signature and result of :func:`engine.generation.reference.generate_reference`
and, on CPU, chooses the same tokens for the same seeds. It runs the text encoder (and the
melody prefix) once, computes cross-attention keys/values once, keeps self-attention keys/values
in a preallocated cache, batches guidance as one forward over ``[cond; uncond]`` rows, applies the
delay pattern itself and chooses tokens with the shared :func:`~engine.generation.sampling.choose_tokens`.
On CUDA the step is a captured CUDA graph (see :mod:`engine.generation.fast.cuda`).

>>> from musicgen_bridge.engine.models.registry import ModelRegistry
>>> from musicgen_bridge.engine.generation.reference import Conditioning
>>> from musicgen_bridge.engine.generation.sampling import SamplingParams
>>> loaded = ModelRegistry(device="cpu").load("tiny")
>>> out = generate_fast(loaded, Conditioning(["warm pads"]), frames=8, params=SamplingParams(), seeds=[7])
>>> tuple(out.tokens.shape), out.audio.shape
((1, 4, 8), (1, 1, 5120))
"""

from __future__ import annotations

import threading

import torch

from ...errors import EngineError
from ...models.registry import LoadedModel
from ...models.specs import check_melody_support
from ..reference import Conditioning, GenerationOutput, StepCallback, codebook_delays, decode_tokens, undelay
from ..sampling import SamplingParams, choose_tokens, guide, make_generators
from .conditioning import Prepared, delay_pattern, is_melody, prepare_melody, prepare_text
from .precision import normalize, plan_for
from .step import DecoderWeights, KVCache, cross_kv, embed, forward, step_static

#: how far (in steps) the host may run ahead of the GPU before it waits; bounds progress lag
PACE_STEPS = 8
MODES = ("auto", "exact", "static", "graph")


def _start_token(model) -> int:
    gen = model.generation_config
    token = gen.decoder_start_token_id if gen.decoder_start_token_id is not None else gen.bos_token_id
    return int(token)


def _check(loaded: LoadedModel, cond: Conditioning, frames: int, seeds: list[int], mode: str) -> None:
    if len(seeds) != len(cond.prompts):
        raise ValueError("one seed per take")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    if not isinstance(frames, int) or frames < 1:
        raise EngineError("invalid_field", f"frames must be a positive integer, got {frames!r}", field="frames")
    if cond.melody_chroma is not None:
        check_melody_support(loaded.name, is_melody(loaded.model))
    codes = cond.audio_prompt_codes
    if codes is not None:
        k = loaded.num_codebooks
        vocab = int(loaded.model.decoder.config.vocab_size)
        if codes.dim() != 3 or codes.shape[0] != len(cond.prompts) or codes.shape[1] != k:
            raise EngineError("invalid_field", f"audio_prompt_codes must have shape (takes={len(cond.prompts)}, "
                              f"codebooks={k}, frames), got {tuple(codes.shape)}", field="audio_prompt_codes")
        if codes.is_floating_point() or (codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= vocab)):
            raise EngineError("invalid_field", f"audio_prompt_codes must be integer codes in 0..{vocab - 1}",
                              field="audio_prompt_codes")


def _prepare(loaded: LoadedModel, cond: Conditioning, guided: bool) -> Prepared:
    model = loaded.model
    inputs = loaded.tokenizer(cond.prompts, padding=True, return_tensors="pt").to(loaded.device)
    if is_melody(model):
        chroma = None
        if cond.melody_chroma is not None:
            chroma = cond.melody_chroma.to(loaded.device, loaded.dtype)[None]
            chroma = chroma.expand(len(cond.prompts), -1, -1).contiguous()
        return prepare_melody(model, inputs["input_ids"], inputs["attention_mask"], chroma, guided)
    return prepare_text(model, inputs["input_ids"], inputs["attention_mask"], guided)


def _resolve_mode(mode: str, device: torch.device) -> str:
    if mode == "auto":
        return "graph" if device.type == "cuda" else "exact"
    if mode == "graph" and device.type != "cuda":
        raise EngineError("unsupported", "CUDA-graph decoding needs a CUDA GPU; use mode 'exact' on CPU")
    return mode


def weights_for(loaded: LoadedModel, dtype: str | None) -> DecoderWeights:
    """The decoder weights for precision ``dtype`` (None: the engine's default, ``loaded.decode_dtype``).

    The exact path is a view on the model (built per call, nothing copied); any other precision is
    converted once per model and kept in ``loaded.fast_weights``. Call under ``loaded.lock``.
    """
    name = normalize(dtype) or loaded.decode_dtype
    embed_weight = loaded.model.decoder.model.decoder.embed_tokens[0].weight
    plan = plan_for(name, loaded.device, embed_weight.dtype)
    if plan.exact:
        return DecoderWeights(loaded.model)
    if plan.name not in loaded.fast_weights:
        loaded.fast_weights[plan.name] = DecoderWeights(loaded.model, plan.name)
    return loaded.fast_weights[plan.name]


def generate_fast(loaded: LoadedModel, cond: Conditioning, frames: int, params: SamplingParams,
                  seeds: list[int], on_step: StepCallback | None = None,
                  cancel: threading.Event | None = None, *, mode: str = "auto",
                  dtype: str | None = None) -> GenerationOutput:
    """Generate ``frames`` new frames per take; same contract as ``generate_reference``.

    With ``cond.audio_prompt_codes`` (takes, K, P) the takes continue those codes (transformers'
    ``decoder_input_ids`` semantics); ``tokens`` then holds only the new frames, and ``audio`` is
    the new frames decoded with the prompt as context (the prompt's samples are cut off).

    ``mode``: ``exact`` attends to the cache slice as transformers does (CPU default, token-exact);
    ``graph`` captures the step as a CUDA graph (CUDA default); ``static`` runs that same
    fixed-shape step eagerly (for tests and as a CUDA fallback).

    ``dtype``: the decoding precision (``fp32|bf16|fp16|int8``, see :mod:`.precision`); None uses
    ``loaded.decode_dtype`` (the engine's ``--dtype``), else the model's own dtype (exact).
    On Apple GPUs (MPS) tokens are chosen on the CPU: the per-take seeded generators live there.
    """
    _check(loaded, cond, frames, seeds, mode)
    mode = _resolve_mode(mode, loaded.device)
    model = loaded.model
    takes, k = len(cond.prompts), loaded.num_codebooks
    delays = codebook_delays(k, loaded.audio_channels)
    n_steps = frames + max(delays)
    guided = params.uses_cfg
    # MPS: choose tokens on the CPU (seeded CPU generators; top-k/multinomial fall back there anyway)
    sample_device = torch.device("cpu") if loaded.device.type == "mps" else loaded.device
    generators = make_generators(seeds, sample_device)
    prompt = cond.audio_prompt_codes
    prompt = None if prompt is None or prompt.shape[-1] == 0 else prompt.to(loaded.device, torch.long)
    n_prompt = 0 if prompt is None else prompt.shape[-1]

    with loaded.lock, torch.inference_mode():
        prep = _prepare(loaded, cond, guided)
        w = weights_for(loaded, dtype)
        pattern = delay_pattern(prompt, takes, k, delays, frames, _start_token(model), loaded.device)
        row_pattern = pattern.repeat(2, 1, 1) if guided else pattern
        first_pos = prep.prefix_len + n_prompt  # position of the last prefill input
        length = first_pos + n_steps + (1 if mode == "graph" else 0)  # graph: one scratch slot
        positions = w.position_table(length)
        cache = KVCache.allocate(w, prep.rows, length)
        cross = cross_kv(w, prep.cross_states, prep.cross_mask) if prep.cross_states is not None else None

        hidden = embed(w, row_pattern[:, :, :1 + n_prompt])
        if prep.prefix is not None:
            hidden = torch.cat([prep.prefix.to(w.dtype), hidden], dim=1)
        hidden = hidden + positions[:hidden.shape[1]]
        logits = forward(w, cache, hidden, 0, cross)

        step = _stepper(mode, w, cache, cross, prep.rows, positions)
        slot = torch.arange(length, device=loaded.device)
        chosen = torch.empty((n_steps, takes * k), dtype=torch.long, device=loaded.device)
        events: list = []
        for s in range(n_steps):
            if cancel is not None and cancel.is_set():
                raise EngineError("cancelled", "the job was cancelled")
            if s > 0:
                template = pattern[:, :, n_prompt + s]
                tokens = torch.where(template == -1, chosen[s - 1].view(takes, k), template)
                tokens = tokens.repeat(2, 1) if guided else tokens
                logits = step(tokens[:, :, None], slot[first_pos + s:first_pos + s + 1], first_pos + s)
            scores = logits.float().to(sample_device)
            if guided:
                cond_scores, uncond_scores = scores.split(scores.shape[0] // 2)
                scores = guide(cond_scores, uncond_scores, params.cfg)
            chosen[s] = choose_tokens(scores, params, generators, k).to(loaded.device)
            if mode == "graph":
                _pace(events)
            if on_step is not None:
                on_step(s + 1, n_steps)
        tokens = undelay(chosen.t().cpu(), takes, delays, frames)
        if prompt is None:
            audio = decode_tokens(loaded, tokens)
        else:  # decode with the prompt as context, keep the new frames' samples
            hop = loaded.sample_rate // loaded.frame_rate
            audio = decode_tokens(loaded, torch.cat([prompt.cpu(), tokens], dim=-1))[..., n_prompt * hop:]
    return GenerationOutput(tokens=tokens, audio=audio)


def _pace(events: list) -> None:
    from .cuda import pace  # CUDA only

    pace(events, PACE_STEPS)


def _stepper(mode: str, w: DecoderWeights, cache: KVCache, cross, rows: int, positions: torch.Tensor):
    """``step(tokens (rows, K, 1), pos_tensor (1,), pos_int) -> logits`` for the chosen mode."""
    if mode == "exact":
        def exact(tokens: torch.Tensor, _pos: torch.Tensor, pos: int) -> torch.Tensor:
            hidden = embed(w, tokens) + positions[pos:pos + 1]
            return forward(w, cache, hidden, pos, cross)
        return exact
    slots = torch.arange(cache.length, device=cache.keys[0].device)
    if mode == "static":
        def static(tokens: torch.Tensor, pos_t: torch.Tensor, _pos: int) -> torch.Tensor:
            return step_static(w, cache, tokens, pos_t, positions, slots, cross)
        return static
    from .cuda import GraphStep  # CUDA only
    runner = GraphStep(w, cache, cross, rows, positions)
    return lambda tokens, pos_t, _pos: runner(tokens, pos_t)
