"""MAGNeT against our MusicGen fast decoder: same sizes, random weights, same seconds of audio, same run.

    python bench/magnet.py --layers 4 --seconds 2            # CPU: shallow models, short window
    python bench/magnet.py --device cuda --seconds 10        # GPU: published depth (24 layers)

Both models have the published *small* sizes (dim 1024, 16 heads, 24 layers unless ``--layers``,
4 codebooks of 2048, T5-base text encoder, 32 kHz EnCodec at 50 frames/s) and share one random
T5 and one random EnCodec, so only the token loop differs. Each path runs text -> tokens -> audio:
MusicGen with :func:`generate_fast` (CFG 3, top-k 250), MAGNeT with its own defaults (decoding
steps 20/10/10/10, CFG 10 -> 1, top-p 0.9, temperature 3, non-overlapping spans of 3). Printed per
path: LM passes, wall seconds, real-time factor (seconds of audio per wall second) and time to
first live window (``--window`` seconds of audio ready): MusicGen decodes just that window;
MAGNeT always fills its whole trained window (``--seconds``), then the window is cut from it.
Then the ratios MusicGen / MAGNeT. Nothing is downloaded; weights are random, so this measures
speed only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from musicgen_bridge.engine.generation.fast.archs import build_random
from musicgen_bridge.engine.generation.fast.decoder import generate_fast
from musicgen_bridge.engine.generation.magnet import MagnetParams
from musicgen_bridge.engine.generation.reference import Conditioning
from musicgen_bridge.engine.generation.sampling import SamplingParams
from musicgen_bridge.engine.models.audiocraft.codec import HFEncodecCodec
from musicgen_bridge.engine.models.audiocraft.magnet import text_conditions
from musicgen_bridge.engine.models.audiocraft.magnet_random import build_random_magnet
from musicgen_bridge.engine.models.registry import resolve_device, resolve_dtype

PROMPT = "lo-fi hip hop beat with warm rhodes chords and vinyl crackle"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(args):
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    musicgen = build_random("small", decoder_layers=args.layers, text_layers=args.text_layers, device=device,
                            dtype=dtype)
    codec = HFEncodecCodec(musicgen.model.audio_encoder, "random-encodec-32khz")
    magnet = build_random_magnet("small", codec, musicgen.tokenizer, musicgen.model.text_encoder,
                                 layers=args.layers, device=device, dtype=dtype, seconds=args.seconds)
    return musicgen, magnet, device


def run_musicgen(loaded, seconds: float, batch: int) -> dict:
    frames = round(seconds * loaded.frame_rate)
    passes = []
    _sync(loaded.device)
    start, cpu = time.perf_counter(), time.process_time()
    out = generate_fast(loaded, Conditioning([PROMPT] * batch), frames, SamplingParams(top_k=250, cfg=3.0),
                        list(range(batch)), on_step=lambda done, total: passes.append(done))
    _sync(loaded.device)
    return {"passes": len(passes), "wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu,
            "audio_s": out.tokens.shape[-1] / loaded.frame_rate}


def run_magnet(model, batch: int, params: MagnetParams) -> dict:
    passes = []
    device = model.lm.emb[0].weight.device
    _sync(device)
    start, cpu = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        for take in range(batch):  # takes run one by one: unmasked T5 padding would couple a batch
            cross, prefix = text_conditions(model, [PROMPT])
            tokens = model.generate(cross, prefix, batch=1, params=params,
                                    generator=torch.Generator(device=device).manual_seed(take),
                                    progress=lambda done, total: passes.append(done))
            model.base.codec.decode(tokens)
    _sync(device)
    # non-overlapping spans drop the window's tail that is not a whole span (e.g. 498 of 500 frames)
    return {"passes": len(passes), "wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu,
            "audio_s": tokens.shape[-1] / model.base.codec.frame_rate}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", default=None, help="auto (fp32 on CPU, bf16/fp16 on CUDA), fp32, bf16, fp16")
    parser.add_argument("--seconds", type=int, default=10, help="audio per take = MAGNeT's window (whole seconds)")
    parser.add_argument("--window", type=float, default=2.0, help="live window for time to first window")
    parser.add_argument("--layers", type=int, default=None, help="cut both LMs to N layers (published: 24)")
    parser.add_argument("--text-layers", type=int, default=None, help="cut the shared T5 to N layers")
    parser.add_argument("--steps", default="20,10,10,10", help="MAGNeT decoding steps per codebook")
    parser.add_argument("--batch", type=int, default=1, help="takes per request")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per path (alternating); best kept")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.window > args.seconds:
        parser.error("--window must not exceed --seconds")
    params = MagnetParams(decoding_steps=tuple(int(x) for x in args.steps.split(",")))

    musicgen, magnet, device = build(args)
    run_musicgen(musicgen, 0.2, 1)  # warm-up: allocator, kernels, lazy init
    run_magnet(magnet, 1, MagnetParams(decoding_steps=(1, 1, 1, 1)))
    rows: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name, fn in (("musicgen", lambda: run_musicgen(musicgen, args.seconds, args.batch)),
                         ("magnet", lambda: run_magnet(magnet, args.batch, params))):
            got = fn()
            if name not in rows or got["wall_s"] < rows[name]["wall_s"]:
                rows[name] = {**got, "cpu_s": min(got["cpu_s"], rows.get(name, got)["cpu_s"])}
    rows["musicgen"]["first_window_s"] = run_musicgen(musicgen, args.window, args.batch)["wall_s"]
    rows["magnet"]["first_window_s"] = rows["magnet"]["wall_s"]  # its first window is its whole window
    for row in rows.values():
        row["realtime_x"] = row["audio_s"] * args.batch / row["wall_s"]
    mg, mn = rows["musicgen"], rows["magnet"]
    ratios = {"wall": mg["wall_s"] / mn["wall_s"], "cpu": mg["cpu_s"] / mn["cpu_s"],
              "realtime": mn["realtime_x"] / mg["realtime_x"], "passes": mg["passes"] / mn["passes"],
              "first_window": mg["first_window_s"] / mn["first_window_s"]}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    info = {"device": name, "dtype": str(musicgen.dtype), "threads": torch.get_num_threads(),
            "layers": args.layers or 24, "seconds": args.seconds, "window": args.window, "batch": args.batch,
            "magnet_steps": list(params.decoding_steps), "torch": torch.__version__, "results": rows,
            "ratio_musicgen_over_magnet": ratios}
    # flat copies for bench/gpu_table.py, which prints a JSON's top-level numbers
    info.update({f"ratio_{k}": v for k, v in ratios.items()})
    info.update({f"{name}_{k}": row[k] for name, row in rows.items() for k in ("realtime_x", "first_window_s")})
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"small sizes, {info['layers']} layers, random weights; device={name} dtype={info['dtype']} "
          f"threads={info['threads']} seconds={args.seconds} window={args.window} batch={args.batch} "
          f"magnet steps={args.steps} torch={torch.__version__}")
    print(f"{'path':<10}{'passes':>8}{'audio s':>9}{'wall s':>10}{'CPU s':>10}{'x realtime':>12}{'1st window s':>14}")
    for key, row in rows.items():
        print(f"{key:<10}{row['passes']:>8}{row['audio_s']:>9.2f}{row['wall_s']:>10.3f}{row['cpu_s']:>10.3f}"
              f"{row['realtime_x']:>12.3f}{row['first_window_s']:>14.3f}")
    print(f"ratio musicgen/magnet (above 1: MAGNeT faster): {ratios['wall']:.2f}x wall time, "
          f"{ratios['cpu']:.2f}x CPU time, {ratios['realtime']:.2f}x real-time factor, {ratios['passes']:.2f}x passes, "
          f"{ratios['first_window']:.2f}x time to first live window")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
