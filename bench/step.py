"""One decoding step of the fast decoder, per precision, on the same random weights.

    python bench/step.py --arch small --threads 2 --dtypes fp32,bf16,fp16,int8

Times only the decoder step (guidance: 2 rows; KV cache at ``--position``), not the text encoder,
token choice or EnCodec, so it isolates what the precision changes. Prints the median process CPU
time and wall time per step, the ratio to fp32 in the same run, and the real-time factor the step
alone would allow (50 steps per second of audio).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from musicgen_bridge.engine.generation.fast.archs import build_random
from musicgen_bridge.engine.generation.fast.decoder import _prepare, weights_for
from musicgen_bridge.engine.generation.fast.step import KVCache, cross_kv, embed, forward
from musicgen_bridge.engine.generation.reference import Conditioning


def time_steps(loaded, dtype: str, steps: int, position: int) -> tuple[float, float]:
    """Median (CPU s, wall s) of ``steps`` single-token steps after ``position`` cached ones."""
    with loaded.lock, torch.inference_mode():
        w = weights_for(loaded, dtype)
        prep = _prepare(loaded, Conditioning(["lo-fi hip hop beat"]), True)
        length = position + steps + 1
        table, cache = w.position_table(length), KVCache.allocate(w, prep.rows, length)
        cross = cross_kv(w, prep.cross_states, prep.cross_mask)
        tokens = torch.zeros((prep.rows, w.num_codebooks, 1), dtype=torch.long, device=loaded.device)
        forward(w, cache, embed(w, tokens.expand(-1, -1, position + 1)) + table[:position + 1], 0, cross)
        cpu, wall = [], []
        for s in range(position + 1, position + 1 + steps):
            c0, t0 = time.process_time(), time.perf_counter()
            forward(w, cache, embed(w, tokens) + table[s:s + 1], s, cross)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - t0)
    return sorted(cpu)[len(cpu) // 2], sorted(wall)[len(wall) // 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="small", choices=["small", "medium", "large", "melody"])
    parser.add_argument("--layers", type=int, default=None, help="cut the decoder to N layers")
    parser.add_argument("--dtypes", default="fp32,bf16,fp16,int8")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--position", type=int, default=100, help="cached positions before the timed steps")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = build_random(args.arch, decoder_layers=args.layers, text_layers=1)
    layers = loaded.model.decoder.config.num_hidden_layers
    print(f"arch={args.arch} layers={layers} threads={torch.get_num_threads()} rows=2 (guidance) "
          f"position={args.position} torch={torch.__version__} cpu={torch.backends.cpu.get_cpu_capability()}")
    print(f"{'dtype':<7}{'CPU ms':>9}{'wall ms':>9}{'CPU x fp32':>12}{'wall x fp32':>13}{'step-only x realtime':>22}")
    base = None
    for dtype in args.dtypes.split(","):
        cpu, wall = time_steps(loaded, dtype, args.steps, args.position)
        base = base or (cpu, wall)
        print(f"{dtype:<7}{cpu * 1e3:>9.1f}{wall * 1e3:>9.1f}{base[0] / cpu:>12.2f}{base[1] / wall:>13.2f}"
              f"{1 / (loaded.frame_rate * wall):>22.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
