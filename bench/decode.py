"""Decoding speed: our fast decoder against the transformers reference, same random weights.

    python bench/decode.py --arch tiny --device cpu
    python bench/decode.py --arch small --device cuda --batch 4 --seconds 10
    python bench/decode.py --arch small --threads 2 --seconds 2 --dtype int8 --compare

``--dtype bf16|fp16|int8`` adds a third path, the fast decoder in that precision, timed in the same
run as transformers and our fp32 path (ratios against both); ``--compare`` also prints its
teacher-forced logit error and token agreement against fp32 (engine/generation/fast/compare.py).

Both paths decode the same request (classifier-free guidance on, top-k 250) on one model object,
so they share every weight. Printed per path: tokens/s, real-time factor (seconds of audio per
second of wall time, per take), EnCodec decode time, time to first window (request to decoded
audio of a ``--window`` long clip, conditioning included), and the ratio ours/reference. Models
other than ``tiny`` have the published architectures (see engine/generation/fast/archs.py) with random
weights: nothing is downloaded.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from musicgen_bridge.engine.generation.fast.archs import build_random
from musicgen_bridge.engine.generation.fast.compare import precision_error
from musicgen_bridge.engine.generation.fast.decoder import generate_fast, weights_for
from musicgen_bridge.engine.generation.reference import Conditioning, decode_tokens, generate_reference
from musicgen_bridge.engine.generation.sampling import SamplingParams
from musicgen_bridge.engine.models.registry import ModelRegistry, resolve_device, resolve_dtype

ARCH_CHOICES = ["tiny", "tiny-melody", "small", "medium", "large", "melody"]
PROMPT = "lo-fi hip hop beat with warm rhodes chords and vinyl crackle"


def load(arch: str, device: str, layers: int | None):
    """The model in its device's default dtype (fp32 on CPU); ``--dtype`` is applied by the fast path."""
    if arch.startswith("tiny"):
        return ModelRegistry(device=device).load(arch)
    dev = resolve_device(device)
    return build_random(arch, decoder_layers=layers, device=dev, dtype=resolve_dtype(None, dev))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, loaded, cond, frames, params, seeds):
    """(output, wall seconds, process CPU seconds)."""
    _sync(loaded.device)
    start, cpu = time.perf_counter(), time.process_time()
    out = fn(loaded, cond, frames, params, seeds)
    _sync(loaded.device)
    return out, time.perf_counter() - start, time.process_time() - cpu


def measure(paths: dict, loaded, args, params) -> list[dict]:
    """Time every path on the same request; runs alternate between paths so load spikes hit both."""
    frames = round(args.seconds * loaded.frame_rate)
    window = round(args.window * loaded.frame_rate)
    seeds = list(range(args.batch))
    cond = Conditioning([PROMPT] * args.batch)
    for fn in paths.values():  # warm-up: allocator, kernels, lazy init
        timed(fn, loaded, cond, min(frames, 10), params, seeds)
    best: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name, fn in paths.items():
            out, total, cpu = timed(fn, loaded, cond, frames, params, seeds)
            start = time.perf_counter()
            decode_tokens(loaded, out.tokens)
            _sync(loaded.device)
            codec = time.perf_counter() - start
            if name not in best or total < best[name]["total_s"]:
                best[name] = {"total_s": total, "codec_s": codec, "tokens": out.tokens}
            best[name]["cpu_s"] = min(cpu, best[name].get("cpu_s", cpu))
    rows = []
    for name, fn in paths.items():
        _, first_window, _ = timed(fn, loaded, cond, window, params, seeds)
        run = best[name]
        decode_s = max(run["total_s"] - run["codec_s"], 1e-9)
        rows.append({
            "path": name,
            "tokens_per_s": args.batch * loaded.num_codebooks * frames / decode_s,
            "realtime_x": args.seconds / run["total_s"],
            "total_s": run["total_s"],
            "cpu_s": run["cpu_s"],
            "encodec_s": run["codec_s"],
            "first_window_s": first_window,
            "tokens": run["tokens"],
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=ARCH_CHOICES, default="tiny")
    parser.add_argument("--batch", type=int, default=1, help="takes decoded together (1 or 4 in the docs)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    parser.add_argument("--dtype", default=None, choices=["bf16", "fp16", "int8"],
                        help="also time the fast decoder in this precision (the model itself stays in its "
                        "device's default dtype: fp32 on CPU)")
    parser.add_argument("--compare", action="store_true",
                        help="with --dtype: print its logit error and token agreement against fp32")
    parser.add_argument("--seconds", type=float, default=4.0, help="audio per take to generate")
    parser.add_argument("--window", type=float, default=2.0, help="clip length for time to first window")
    parser.add_argument("--repeats", type=int, default=1,
                        help="timed runs per path (alternating); the fastest is reported")
    parser.add_argument("--layers", type=int, default=None,
                        help="cut the decoder to N layers (not the published depth)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    loaded = load(args.arch, args.device, args.layers)
    build_s = time.perf_counter() - t0
    params = SamplingParams(top_k=250, cfg=3.0)
    paths = {"transformers": generate_reference, "fast": generate_fast}
    convert_s = None
    if args.dtype:
        t0 = time.perf_counter()
        with loaded.lock:  # convert once, outside the timed runs (an engine does it on first use)
            weights_for(loaded, args.dtype)
        convert_s = time.perf_counter() - t0
        paths[f"fast {args.dtype}"] = functools.partial(generate_fast, dtype=args.dtype)
    rows = measure(paths, loaded, args, params)
    ref, ours = rows[0], rows[1]
    tokens = [row.pop("tokens") for row in rows]
    same = torch.equal(tokens[0], tokens[1])
    ratio = ref["total_s"] / ours["total_s"]
    ratio_tokens = ours["tokens_per_s"] / ref["tokens_per_s"]
    ratio_cpu = ref["cpu_s"] / ours["cpu_s"]
    device = torch.cuda.get_device_name(loaded.device) if loaded.device.type == "cuda" else loaded.device.type
    info = {"arch": args.arch, "model": loaded.spec.params, "device": device, "dtype": str(loaded.dtype),
            "threads": torch.get_num_threads(), "batch": args.batch, "seconds": args.seconds,
            "torch": torch.__version__, "build_s": build_s, "tokens_equal": same, "ratio_ours_over_ref": ratio,
            "ratio_tokens_per_s": ratio_tokens, "ratio_cpu_time": ratio_cpu, "results": rows}
    low = rows[2] if args.dtype else None
    if low is not None:
        info.update({"low_dtype": args.dtype, "convert_s": convert_s,
                     "low_over_ref": ref["total_s"] / low["total_s"], "low_over_fast": ours["total_s"] / low["total_s"],
                     "low_over_ref_cpu": ref["cpu_s"] / low["cpu_s"], "low_over_fast_cpu": ours["cpu_s"] / low["cpu_s"],
                     "low_token_agreement": (tokens[2] == tokens[1]).float().mean().item()})
        if args.compare:
            report = precision_error(loaded, Conditioning([PROMPT] * args.batch), round(args.seconds * loaded.frame_rate),
                                     params, list(range(args.batch)), args.dtype)
            info["compare"] = vars(report)
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"arch={args.arch} ({loaded.spec.params}) device={device} model dtype={info['dtype']} "
          f"threads={info['threads']} batch={args.batch} seconds={args.seconds} cfg=3 top_k=250 "
          f"torch={torch.__version__}")
    print(f"{'path':<13}{'tokens/s':>10}{'x realtime':>12}{'total s':>10}{'CPU s':>9}{'EnCodec s':>11}"
          f"{'1st window s':>14}")
    for row in rows:
        print(f"{row['path']:<13}{row['tokens_per_s']:>10.1f}{row['realtime_x']:>12.3f}{row['total_s']:>10.3f}"
              f"{row['cpu_s']:>9.3f}{row['encodec_s']:>11.3f}{row['first_window_s']:>14.3f}")
    print(f"ratio ours/reference: {ratio:.2f}x end to end, {ratio_tokens:.2f}x tokens/s (EnCodec excluded), "
          f"{ratio_cpu:.2f}x process CPU time; tokens identical: {'yes' if same else 'NO'}")
    if low is not None:
        print(f"fast {args.dtype} (weights converted once in {convert_s:.2f} s): "
              f"{info['low_over_ref']:.2f}x transformers fp32, {info['low_over_fast']:.2f}x our fp32 path "
              f"(end to end, wall); {info['low_over_ref_cpu']:.2f}x / {info['low_over_fast_cpu']:.2f}x in process "
              f"CPU time; tokens equal to fp32: {info['low_token_agreement']:.1%}")
    if "compare" in info:
        c = info["compare"]
        first = "none" if c["first_difference"] is None else f"frame {c['first_difference']}"
        print(f"{args.dtype} vs fp32 over {c['steps']} steps (guided logits, teacher-forced): max |error| "
              f"{c['max_abs_error']:.4f}, mean {c['mean_abs_error']:.5f}, max / std of fp32 logits "
              f"{c['relative_error']:.4f}, top-1 agreement {c['top1_agreement']:.1%}; free-running tokens equal "
              f"{c['token_agreement']:.1%}, first difference: {first}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
