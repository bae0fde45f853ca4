"""Run a pedalboard chain over a clip in fixed blocks, then render its tail from silence.

    >>> board = pedalboard.Pedalboard([pedalboard.Reverb(room_size=0.8)])  # an example chain  # doctest: +SKIP
    >>> out, tail = run_chain(board, audio, 48000, tail="keep", max_tail_s=10.0)  # audio: a model's output  # doctest: +SKIP

The chain always sees blocks of exactly ``block_frames`` frames with its state carried
across them (``reset=False``), whatever size the caller's chunks are: rendering a clip in
one piece and in any chunking gives bit-identical samples, and the same samples as
pedalboard's own one-call ``board(audio, rate)`` (which works in 8192-frame blocks too).
Fixed blocks matter: pedalboard 0.9 re-prepares a plugin, clearing its state, when a call
brings a bigger block than the first call did (measured: a 1000-frame call followed by a
47000-frame one changes Compressor, Reverb and filter output). Plugins that report latency return fewer frames
at first; the silence pushed afterwards flushes them, so output frame 0 lines up with
input frame 0.

Tail: ``tail="cut"`` keeps exactly the input's frame count. ``tail="keep"`` keeps what
rings on after the input, up to ``max_tail_s`` (at most :data:`MAX_TAIL_S`, 30 s): silence
is pushed until the output has stayed :data:`TAIL_FLOOR_DB` below the clip's peak for
``max(1 s, longest Delay + 0.25 s)``, and the tail ends at its last sample above that floor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from ..errors import EngineError

CHAIN_BLOCK = 8192  # pedalboard's own internal block size
MAX_TAIL_S = 30.0
TAIL_FLOOR_DB = -80.0
MIN_QUIET_S = 1.0
ABS_FLOOR = 1e-7  # -140 dBFS: a silent body must not make every denormal count as tail


class ChainStream:
    """Feed audio in any chunking; the chain processes fixed blocks with state carried over.

        >>> stream = ChainStream(board, 48000, channels=2)  # board: a chain  # doctest: +SKIP
        >>> parts = [stream.push(chunk) for chunk in chunks] + [stream.push_silence(48000)]  # chunks: a stream's blocks  # doctest: +SKIP
    """

    def __init__(self, board: Any, sample_rate: int, channels: int, block_frames: int = CHAIN_BLOCK) -> None:
        self.board = board
        self.sample_rate = sample_rate
        self.channels = channels
        self.block_frames = block_frames
        self._pending = np.zeros((channels, 0), np.float32)
        board.reset()

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Queue ``chunk``; process every full block; return the output produced so far."""
        self._pending = np.concatenate([self._pending, chunk.astype(np.float32, copy=False)], axis=1)
        outs = [np.zeros((self.channels, 0), np.float32)]
        b = self.block_frames
        full = self._pending.shape[1] // b
        for i in range(full):
            block = np.ascontiguousarray(self._pending[:, i * b : (i + 1) * b])
            outs.append(self.board.process(block, float(self.sample_rate), reset=False))
        self._pending = self._pending[:, full * b :]
        return np.concatenate(outs, axis=1)

    def push_silence(self, frames: int) -> np.ndarray:
        """Queue ``frames`` of silence (rounded up to finish a block) and process it."""
        b = self.block_frames
        total = -(-(self._pending.shape[1] + frames) // b) * b - self._pending.shape[1]
        return self.push(np.zeros((self.channels, total), np.float32))


def run_chain(
    board: Any,
    audio: np.ndarray,
    sample_rate: int,
    *,
    tail: Literal["cut", "keep"] = "cut",
    max_tail_s: float = 10.0,
    longest_delay_s: float = 0.0,
    chunk_frames: int | None = None,
    block_frames: int = CHAIN_BLOCK,
    cancelled: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, int]:
    """Process ``audio`` through ``board``; return (output, tail_frames) as described above.

    ``chunk_frames`` feeds the input in chunks of that size (default 8 blocks); the output
    does not depend on it. ``cancelled()`` is polled between chunks and raises ``cancelled``.
    """
    channels, frames = audio.shape
    stream = ChainStream(board, sample_rate, channels, block_frames)
    step = chunk_frames or block_frames * 8  # also how often cancelled() is polled
    outs: list[np.ndarray] = []

    def check() -> None:
        if cancelled is not None and cancelled():
            raise EngineError("cancelled", "the render was cancelled")

    for start in range(0, frames, step):
        check()
        outs.append(stream.push(audio[:, start : start + step]))
    have = sum(o.shape[1] for o in outs)
    max_tail = int(min(max_tail_s, MAX_TAIL_S) * sample_rate) if tail == "keep" else 0
    # "cut" pushes silence only until latent plugins have caught up with the input;
    # the cap keeps a plugin that never returns audio from looping forever.
    limit = frames + max(max_tail, int(MAX_TAIL_S * sample_rate)) + block_frames
    quiet_needed = int(max(MIN_QUIET_S, longest_delay_s + 0.25) * sample_rate)
    scan = _TailScan(frames)
    if tail == "keep":
        for piece in outs:
            scan.add(piece)
    while have < limit:
        if have >= frames:
            if tail == "cut":
                break
            if have - frames >= max_tail or have - 1 - scan.last_loud >= quiet_needed:
                break
        check()
        outs.append(stream.push_silence(block_frames))
        have += outs[-1].shape[1]
        if tail == "keep":
            scan.add(outs[-1])
    out = np.concatenate(outs, axis=1)
    if tail == "cut":
        return out[:, :frames], 0
    tail_frames = int(np.clip(scan.last_loud + 1 - frames, 0, max_tail))
    return out[:, : frames + tail_frames], tail_frames


class _TailScan:
    """Tracks the body's peak and the last tail sample above the floor, piece by piece."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.offset = 0
        self.peak = 0.0
        self.last_loud = frames - 1

    def add(self, piece: np.ndarray) -> None:
        n = piece.shape[1]
        if n == 0:
            return
        mags = np.max(np.abs(piece), axis=0)
        body_n = min(max(self.frames - self.offset, 0), n)
        if body_n:
            self.peak = max(self.peak, float(mags[:body_n].max()))
        floor = max(self.peak * 10 ** (TAIL_FLOOR_DB / 20), ABS_FLOOR)
        loud = np.nonzero(mags[body_n:] > floor)[0]
        if loud.size:
            self.last_loud = self.offset + body_n + int(loud[-1])
        self.offset += n
