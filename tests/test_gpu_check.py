"""bench/gpu_check.sh (the one GPU check) and bench/gpu_table.py, exercised without a GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_dry_run_lists_every_step_and_runs_nothing(tmp_path):
    result = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh"), "--dry-run"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=30, check=False,
                            env={"PATH": "/usr/bin:/bin", "GPU_CHECK_OUT": str(tmp_path / "out")})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any("pytest" in line and "cuda" in line for line in lines)
    for arch in ("small", "medium", "melody"):
        for batch in (1, 4):
            assert any(f"--arch {arch} " in line and f"--batch {batch} " in line and "--device cuda" in line
                       for line in lines), (arch, batch)
    for bench in ("batching.py", "magnet.py", "live.py", "gpu_table.py"):
        assert any(f"bench/{bench}" in line for line in lines), bench
    assert not (tmp_path / "out").exists()  # a dry run writes nothing


def test_table_reports_rows_and_failed_steps(tmp_path):
    decode = {"ratio_ours_over_ref": 12.5, "tokens_equal": True, "results": [
        {"path": "transformers", "realtime_x": 2.0, "tokens_per_s": 100.0, "first_window_s": 0.9},
        {"path": "fast", "realtime_x": 25.0, "tokens_per_s": 1250.0, "first_window_s": 0.2}]}
    (tmp_path / "decode-small-b1.json").write_text(json.dumps(decode))
    (tmp_path / "batching.json").write_text(json.dumps({"ratio_8": 5.5}))
    ok = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_table.py"), str(tmp_path)],
                        capture_output=True, text=True, timeout=30, check=False)
    assert ok.returncode == 0 and "25.00" in ok.stdout and "12.50x" in ok.stdout and "ratio_8=5.5" in ok.stdout
    (tmp_path / "live.json").write_text("")  # a step that printed nothing failed; it is never skipped
    bad = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_table.py"), str(tmp_path)],
                         capture_output=True, text=True, timeout=30, check=False)
    assert bad.returncode == 1 and "live" in bad.stdout and "FAILED" in bad.stdout
