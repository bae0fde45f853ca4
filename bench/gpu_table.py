"""Turn the JSON files that bench/gpu_check.sh collected into one table.

    python bench/gpu_table.py gpu-check-out

Each ``decode-*.json`` (bench/decode.py --json) gives one row per path; any other ``*.json`` is
printed as its top-level numbers, so a new benchmark needs no change here. A file that is empty
or not JSON (its step failed) is listed as failed, never skipped silently.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def decode_rows(name: str, info: dict) -> list[str]:
    """One line per decoding path of a bench/decode.py result, plus the ratio line."""
    lines = []
    for row in info.get("results", []):
        lines.append(f"{name:<22}{row['path']:<14}{row['realtime_x']:>10.2f}{row['tokens_per_s']:>12.1f}"
                     f"{row['first_window_s']:>12.3f}")
    lines.append(f"{'':<22}{'ours/transformers':<18}{info['ratio_ours_over_ref']:>6.2f}x"
                 f"   tokens equal: {info['tokens_equal']}")
    return lines


def scalar_items(info: dict) -> str:
    """The top-level numbers and strings of any other benchmark's JSON, as key=value."""
    items = [f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
             for k, v in info.items() if isinstance(v, (int, float, str, bool))]
    return "  ".join(items)


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "gpu-check-out")
    gpu = folder / "gpu.txt"
    if gpu.exists():
        print("machine:", " / ".join(gpu.read_text().split("\n")).strip(" /"))
    print(f"{'run':<22}{'path':<14}{'x realtime':>10}{'tokens/s':>12}{'1st win s':>12}")
    failed = 0
    for path in sorted(folder.glob("*.json")):
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            print(f"{path.stem:<22}FAILED (no JSON; see {path.with_suffix('.log').name})")
            failed += 1
            continue
        if path.stem.startswith("decode-"):
            print("\n".join(decode_rows(path.stem, info)))
        else:
            print(f"{path.stem:<22}{scalar_items(info)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
