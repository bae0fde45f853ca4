"""Live windows of a fixed-window model (MAGNeT): each window is one fresh generation, cut to its bars.

MAGNeT cannot continue audio, so a session's windows do not share a token stream: window ``n`` is
generated from the session's prompt (with the window's own tempo hint) and the seed
``window_seed(seed, n)`` (window 0: the request's seed), cut to its exact bars, and joined to the
window before by removing the step at the join over 10 ms (the previous window's last sample; no
click). A window that does not fit the model's window at its tempo (a tempo change can make it
longer) is ``too_large``, which ends the session with that error.

>>> made = make_fresh_window(state, win, req, CancelToken())  # needs a loaded MAGNeT and a live window  # doctest: +SKIP
>>> made.frames  # 2 bars of 4/4 at 120 bpm, 48 kHz  # doctest: +SKIP
192000
"""

from __future__ import annotations

import time
from dataclasses import asdict

from ..generation.continuation import smooth_join
from ..generation.magnet import MagnetParams
from ..generation.reference import Conditioning
from ..generation.windows import window_seed
from ..jobs.cancel import CancelToken
from ..produce.fixed_window import check_fits
from ..produce.generate_job import model_frames_for
from ..produce.takes import render_takes, sidecar_meta
from ..request import GenerateRequest
from ..timing.conform import tempo_hint
from ..timing.timeline import bars_to_seconds, seconds_to_frames, span_frames
from .schedule import LiveWindow
from .window import JOIN_FADE_S, MadeWindow, WindowState


def make_fresh_window(state: WindowState, win: LiveWindow, req: GenerateRequest,
                      cancel: CancelToken | None = None) -> MadeWindow:
    """Generate, join and render ``win`` as one generation of its own; writes nothing."""
    cancel = cancel or CancelToken()
    started = time.perf_counter()
    loaded = state.loaded
    params = req.sampling.magnet or MagnetParams()
    seconds = bars_to_seconds(win.bars, req.time_signature, win.bpm)
    check_fits(loaded.name, loaded.spec.window_s, params.span_arrangement, seconds, req.time_signature, win.bpm,
               win.bars, field="window_bars")
    prompt = tempo_hint(req.prompt, win.bpm, req.tempo_hint and loaded.spec.musical)
    out = state.generate(loaded, Conditioning([prompt]), model_frames_for(float(seconds), loaded), req.sampling,
                         [window_seed(req.seed, win.index)], cancel=cancel)
    body = out.audio[0]
    if state.last_sample is not None and not win.after_gap:
        body = smooth_join(state.last_sample, body[:, 0], body, round(JOIN_FADE_S * loaded.sample_rate))
    # the last sample that plays (the audio runs a little past the window's bars)
    state.last_sample = body[:, min(seconds_to_frames(seconds, loaded.sample_rate), body.shape[1]) - 1].copy()
    gen_s = time.perf_counter() - started
    frames = span_frames(win.bars, req.time_signature, win.bpm, req.sample_rate, start_bar=win.start_bar)
    meta = sidecar_meta(loaded, req, magnet=asdict(params),
                        live={"session_id": state.session_id, "index": win.index, "start_bar": win.start_bar + 1,
                              "bpm": float(win.bpm), "seed": window_seed(req.seed, win.index)})
    take = render_takes(req, body[None], loaded.sample_rate, meta, cancel, frames)[0]
    return MadeWindow(take.clip, take.sidecar, frames, gen_s)
