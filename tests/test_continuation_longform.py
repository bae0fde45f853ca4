"""Long-form generation: bar windows within the model window, one token stream, exact length."""

import itertools
from fractions import Fraction

import pytest
import torch

from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.generation.reference import generate_reference, steps_for
from musicgen_bridge.engine.generation.sampling import SamplingParams
from musicgen_bridge.engine.generation.windows import frame_at, generate_long, plan_windows, window_seed
from musicgen_bridge.engine.models.registry import LoadedModel, ModelRegistry, get_spec
from musicgen_bridge.engine.models.tiny import build_tiny, tiny_tokenizer
from musicgen_bridge.engine.timing.timeline import Grid, TempoMap, TimeSignature

torch.set_num_threads(1)


def small_window_tiny(max_frames: int) -> LoadedModel:
    model = build_tiny()
    model.generation_config.max_length = max_frames
    return LoadedModel(get_spec("tiny"), model, tiny_tokenizer(), torch.device("cpu"), torch.float32, "test")


def check_plan(plan, grid, bars, max_frames, origin=0):
    assert sum(w.bars for w in plan) == bars
    start = 0
    for w in plan:
        assert w.start_bar == start  # windows tile the bars with no gap or overlap
        # window boundaries are the frames nearest the bar lines: 50 frames/s, halves up
        assert w.first_frame == int(grid.span_seconds(origin, w.start_bar) * 50 + Fraction(1, 2))
        assert w.context_frames + w.frames <= max_frames
        start += w.bars
    for a, b in itertools.pairwise(plan):
        assert a.first_frame + a.frames == b.first_frame  # new frames tile the stream too


def test_plan_90_s_at_120():
    grid = Grid.constant("4/4", 120)
    plan = plan_windows(grid, 0, 45, frame_rate=50, max_frames=1500, context_bars=4)
    check_plan(plan, grid, 45, 1500)
    # first window has no context: 12 bars (24 s); then 11 bars + 4 bars of context = 30 s exactly
    assert [w.bars for w in plan] == [12, 11, 11, 11]
    assert [w.context_frames for w in plan] == [0, 400, 400, 400]
    assert plan[-1].first_frame + plan[-1].frames == 4500


def test_plan_odd_meter_tempo_map_and_prompt():
    grid = Grid(TimeSignature(7, 8), TempoMap([(0, 93.5), (35, 141.25)]))
    plan = plan_windows(grid, 3, 60, frame_rate=50, max_frames=1500, context_bars=3, prompt_frames=420)
    check_plan(plan, grid, 60, 1500, origin=3)
    assert plan[0].context_frames == 420  # the item's prompt
    last = plan[-1]
    assert last.first_frame + last.frames == -(-grid.span_seconds(3, 60) * 50 // 1)  # ceil: covers the end
    fixed = plan_windows(grid, 3, 10, frame_rate=50, max_frames=1500, context_bars=3, window_bars=4)
    assert [w.bars for w in fixed] == [4, 4, 2]


def test_plan_refuses_context_that_leaves_no_room():
    with pytest.raises(EngineError) as err:
        plan_windows(Grid.constant("4/4", 60), 0, 20, frame_rate=50, max_frames=1500, context_bars=7)
    assert err.value.code == "invalid_field"


def test_frame_at_negative_bars_is_symmetric():
    grid = Grid.constant("3/4", 93.5)
    assert frame_at(grid, 4, -2, 50) == -frame_at(grid, 2, 2, 50)


def test_window_seeds():
    assert window_seed(7, 0) == 7
    seeds = {window_seed(7, i) for i in range(1, 50)} | {window_seed(8, i) for i in range(1, 50)}
    assert len(seeds) == 98 and all(0 <= s < 2**63 for s in seeds)
    assert window_seed(7, 3) == window_seed(7, 3)


def test_long_request_with_a_small_window():
    loaded = small_window_tiny(max_frames=300)  # 6 s windows keep the test fast
    grid = Grid.constant("4/4", 120)
    calls, progress = [], []

    def recording(model, cond, frames, params, seeds, on_step=None, cancel=None):
        calls.append((cond, frames, seeds))
        return generate_reference(model, cond, frames, params, seeds, on_step, cancel)

    stream, plan = generate_long(loaded, ["a", "b"], grid, 8, 9, SamplingParams(), [11, 12], context_bars=1,
                                 on_step=lambda done, total: progress.append((done, total)), generate=recording)
    check_plan(plan, grid, 9, 300, origin=8)
    assert len(plan) >= 3 and len(calls) == len(plan)
    for (cond, frames, seeds), w in zip(calls, plan):
        assert frames == w.frames and seeds == [window_seed(11, w.index), window_seed(12, w.index)]
        if w.index == 0:
            assert cond.audio_prompt_codes is None
        else:  # the context is the stream's own tokens for the last whole bar(s) before the window
            assert cond.audio_prompt_codes.shape == (2, 4, w.context_frames)
            assert torch.equal(cond.audio_prompt_codes,
                               stream.tokens[:, :, w.first_frame - w.context_frames:w.first_frame])
    total = sum(steps_for(w.frames, [0, 1, 2, 3]) for w in plan)
    assert progress[-1] == (total, total) and all(t == total for _, t in progress)
    assert [d for d, _ in progress] == list(range(1, total + 1))  # one monotone count over all windows
    audio = stream.span_audio(9)
    assert audio.shape == (2, 1, 18 * 32000)
    last = plan[-1]  # live mode decodes one window with its context only
    win = stream.window_audio(last, pre_frames=1)
    assert win.shape == (2, 1, 640 + grid.span_frames(8 + last.start_bar, last.bars, 32000))


def test_real_90_s_with_tiny():
    from musicgen_bridge.engine.generation.fast.decoder import (
        generate_fast,  # token-exact with the reference, and quicker
    )

    loaded = ModelRegistry(device="cpu").load("tiny")
    grid = Grid.constant("4/4", 120)
    stream, plan = generate_long(loaded, ["x"], grid, 0, 45, SamplingParams(), [1], context_bars=4,
                                 generate=generate_fast)
    check_plan(plan, grid, 45, loaded.max_frames)
    assert stream.span_audio(45).shape == (1, 1, 90 * 32000)
