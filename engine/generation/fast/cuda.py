"""The decoding step captured as a CUDA graph (GPU only; CPU never imports a CUDA API from here).

The graph holds :func:`~engine.generation.fast.step.step_static` for fixed buffers: the input tokens,
the position (a 1-element device tensor), the KV cache, the cross-attention keys/values and the
logits it writes. A step is then two small copies and one ``replay()``: no Python per layer, no
kernel-launch overhead, no host sync. Token choice stays outside the graph (it draws from the
per-take ``torch.Generator``\\ s, which a replay would not advance).

>>> runner = GraphStep(w, cache, cross, rows=2)     # needs a CUDA GPU  # doctest: +SKIP
>>> logits = runner(tokens, position_tensor)  # needs a CUDA GPU  # doctest: +SKIP
"""

from __future__ import annotations

import torch

from .step import CrossKV, DecoderWeights, KVCache, step_static

WARMUP_STEPS = 2


class GraphStep:
    """A captured decoding step. Capture happens in ``__init__``; call it once per step.

    Warm-up and capture write their keys/values to the cache's last slot (``scratch``), which the
    caller keeps one longer than it needs, so the real cache contents are never touched.
    """

    def __init__(self, w: DecoderWeights, cache: KVCache, cross: CrossKV | None, rows: int,
                 positions: torch.Tensor) -> None:
        if cache.keys[0].device.type != "cuda":
            raise RuntimeError("GraphStep needs the model and cache on a CUDA device")
        device = cache.keys[0].device
        self.tokens = torch.zeros((rows, w.num_codebooks, 1), dtype=torch.long, device=device)
        self.pos = torch.full((1,), cache.length - 1, dtype=torch.long, device=device)  # the scratch slot
        self._slots = torch.arange(cache.length, device=device)
        self._args = (w, cache, self.tokens, self.pos, positions, self._slots, cross)
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):  # warm-up off the capture stream (cuBLAS handles, allocator)
            for _ in range(WARMUP_STEPS):
                step_static(*self._args)
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
            self.logits = step_static(*self._args)

    def __call__(self, tokens: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Feed ``tokens`` (rows, K, 1) at position ``pos`` (1,), both on the device; return the logits buffer.

        The returned tensor is overwritten by the next call: consume (or copy) it first.
        """
        self.tokens.copy_(tokens)
        self.pos.copy_(pos)
        self.graph.replay()
        return self.logits


def pace(events: list[torch.cuda.Event], every: int) -> None:
    """Keep the host at most ``every`` steps ahead of the GPU so progress reports stay honest.

    Records an event each call and waits on the one recorded ``every`` calls ago; by then that
    work is long done, so the wait costs nothing but bounds how far the CPU can run ahead.
    """
    event = torch.cuda.Event()
    event.record()
    events.append(event)
    if len(events) > every:
        events.pop(0).synchronize()
