#!/usr/bin/env bash
# One GPU check, run on a CUDA machine from the repository root:
#
#   bash bench/gpu_check.sh            # run everything, print one table at the end
#   bash bench/gpu_check.sh --dry-run  # print what it would run, run nothing
#
# It runs the GPU tests that CPU runs skip (the CUDA-graph step against the eager step, batched
# decoding on the GPU), then the decoding benchmarks for the published sizes (random weights, so
# nothing is downloaded) in graph mode and bf16, the batching benchmark, MAGNeT's benchmark and a
# 10-window live session on `small`. Each benchmark writes one JSON object; the last step turns
# them into one table (bench/gpu_table.py).
#
# A machine without the project's pure-Python dependencies can bring them as wheels in .whl/
# (see docs/benchmarks.md); they are installed into a private folder first.
set -uo pipefail
cd "$(dirname "$0")/.."

DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
PY=${PYTHON:-python3}
OUT_DIR=${GPU_CHECK_OUT:-gpu-check-out}
REPEATS=${GPU_CHECK_REPEATS:-3}
failures=0

run() {  # run NAME COMMAND...: one step; its JSON goes to $OUT_DIR/NAME.json, its log beside it
    local name=$1; shift
    if [ $DRY -eq 1 ]; then
        printf '%s > %s/%s.json\n' "$*" "$OUT_DIR" "$name"
        return 0
    fi
    echo "== $name: $*" >&2
    if ! "$@" >"$OUT_DIR/$name.json" 2>"$OUT_DIR/$name.log"; then
        echo "   FAILED (see $OUT_DIR/$name.log)" >&2
        tail -n 20 "$OUT_DIR/$name.log" >&2
        failures=$((failures + 1))
    fi
}

if [ $DRY -eq 0 ]; then
    mkdir -p "$OUT_DIR"
    if ls .whl/*.whl >/dev/null 2>&1; then
        $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/gpu-check-site .whl/*.whl || exit 1
        export PYTHONPATH=/tmp/gpu-check-site:.${PYTHONPATH:+:$PYTHONPATH}
    fi
    $PY -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' \
        || { echo "gpu_check: no CUDA device visible to torch" >&2; exit 2; }
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
        >"$OUT_DIR/gpu.txt" 2>/dev/null || true
    $PY -c 'import torch, transformers; print(torch.__version__, torch.version.cuda, transformers.__version__)' \
        >>"$OUT_DIR/gpu.txt"
fi

# 1. GPU unit tests that CPU runs skip (-rs lists any skip with its reason: a skip is not a pass).
if [ $DRY -eq 1 ]; then
    echo "$PY -m pytest -q -rs -k 'cuda or gpu' tests"
else
    echo "== GPU unit tests" >&2
    $PY -m pytest -q -rs -p no:cacheprovider -k "cuda or gpu" tests 2>&1 | tee "$OUT_DIR/pytest.log" >&2
    [ "${PIPESTATUS[0]}" -eq 0 ] || failures=$((failures + 1))
fi

# 2. Decoding: small, medium and melody, batch 1 and 4, guidance on, CUDA graph + bf16.
for arch in small medium melody; do
    for batch in 1 4; do
        run "decode-$arch-b$batch" $PY bench/decode.py --arch "$arch" --device cuda --dtype bf16 \
            --batch "$batch" --seconds 10 --window 2 --repeats "$REPEATS" --json
    done
done

# 3. Batching: 1, 2, 4 and 8 concurrent jobs, sequential against batched (when that bench exists).
if [ -f bench/batching.py ] || [ $DRY -eq 1 ]; then
    run batching $PY bench/batching.py --arch small --device cuda --dtype bf16 --jobs 1 2 4 8 --json
fi

# 4. MAGNeT against MusicGen small (when that bench exists).
if [ -f bench/magnet.py ] || [ $DRY -eq 1 ]; then
    run magnet $PY bench/magnet.py --device cuda --seconds 10 --json
fi

# 5. A 10-window live session on small: time to the first 1-bar window at 120 bpm, and lead kept.
if [ -f bench/live.py ] || [ $DRY -eq 1 ]; then
    run live $PY bench/live.py --arch small --device cuda --dtype bf16 --windows 10 --bpm 120 \
        --window-bars 1 --json
fi

# 6. One table.
if [ $DRY -eq 1 ]; then
    echo "$PY bench/gpu_table.py $OUT_DIR"
    exit 0
fi
$PY bench/gpu_table.py "$OUT_DIR"
echo "gpu_check: $failures step(s) failed" >&2
[ $failures -eq 0 ]
