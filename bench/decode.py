"""Decoding speed: our fast decoder against the transformers reference, same random weights.

    python bench/decode.py --arch tiny --device cpu
    python bench/decode.py --arch small --device cuda --batch 4 --seconds 10

Both paths decode the same request (classifier-free guidance on, top-k 250) on one model object,
so they share every weight. Printed per path: tokens/s, real-time factor (seconds of audio per
second of wall time, per take), EnCodec decode time, time to first window (request to decoded
audio of a ``--window`` long clip, conditioning included), and the ratio ours/reference. Models
other than ``tiny`` have the published architectures (see engine/generation/fast/archs.py) with random
weights: nothing is downloaded.
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
from musicgen_bridge.engine.generation.reference import Conditioning, decode_tokens, generate_reference
from musicgen_bridge.engine.generation.sampling import SamplingParams
from musicgen_bridge.engine.models.registry import ModelRegistry, resolve_device, resolve_dtype

ARCH_CHOICES = ["tiny", "tiny-melody", "small", "medium", "large", "melody"]
PROMPT = "lo-fi hip hop beat with warm rhodes chords and vinyl crackle"


def load(arch: str, device: str, dtype: str | None, layers: int | None):
    if arch.startswith("tiny"):
        return ModelRegistry(device=device).load(arch)
    dev = resolve_device(device)
    return build_random(arch, decoder_layers=layers, device=dev, dtype=resolve_dtype(dtype, dev))


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
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", default=None, help="auto (fp32 on CPU, bf16/fp16 on CUDA), fp32, bf16, fp16")
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
    loaded = load(args.arch, args.device, args.dtype, args.layers)
    build_s = time.perf_counter() - t0
    params = SamplingParams(top_k=250, cfg=3.0)
    ref, ours = measure({"transformers": generate_reference, "fast": generate_fast}, loaded, args, params)
    same = torch.equal(ref.pop("tokens"), ours.pop("tokens"))
    ratio = ref["total_s"] / ours["total_s"]
    ratio_tokens = ours["tokens_per_s"] / ref["tokens_per_s"]
    ratio_cpu = ref["cpu_s"] / ours["cpu_s"]
    device = torch.cuda.get_device_name(loaded.device) if loaded.device.type == "cuda" else "cpu"
    info = {"arch": args.arch, "model": loaded.spec.params, "device": device, "dtype": str(loaded.dtype),
            "threads": torch.get_num_threads(), "batch": args.batch, "seconds": args.seconds,
            "torch": torch.__version__, "build_s": build_s, "tokens_equal": same, "ratio_ours_over_ref": ratio,
            "ratio_tokens_per_s": ratio_tokens, "ratio_cpu_time": ratio_cpu,
            "results": [ref, ours]}
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"arch={args.arch} ({loaded.spec.params}) device={device} dtype={info['dtype']} "
          f"threads={info['threads']} batch={args.batch} seconds={args.seconds} cfg=3 top_k=250 "
          f"torch={torch.__version__}")
    print(f"{'path':<13}{'tokens/s':>10}{'x realtime':>12}{'total s':>10}{'CPU s':>9}{'EnCodec s':>11}"
          f"{'1st window s':>14}")
    for row in (ref, ours):
        print(f"{row['path']:<13}{row['tokens_per_s']:>10.1f}{row['realtime_x']:>12.3f}{row['total_s']:>10.3f}"
              f"{row['cpu_s']:>9.3f}{row['encodec_s']:>11.3f}{row['first_window_s']:>14.3f}")
    print(f"ratio ours/reference: {ratio:.2f}x end to end, {ratio_tokens:.2f}x tokens/s (EnCodec excluded), "
          f"{ratio_cpu:.2f}x process CPU time; tokens identical: {'yes' if same else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
