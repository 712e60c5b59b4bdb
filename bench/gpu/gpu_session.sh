#!/usr/bin/env bash
# Issue 5's device checks, prepared for one GPU session. Run from the repository root on the device
# machine (python3 3.12 with torch, no snakemake, no registry, no /work/shared):
#
#   bash bench/gpu/gpu_session.sh PART COMMIT        # PART: tests | bench | fast | full | quick
#
# COMMIT is the commit the working tree is at (the device copy has no .git): it goes into every log.
# Needs two git-ignored folders, carried with the run (carry: [".data", ".whl"]):
#   .data/mnist/  the four MNIST IDX files     cp /work/shared/datasets/mnist/* .data/mnist/
#   .whl/         wheels the machine lacks:    torchattacks (from /work/shared/wheels/gpu-py312),
#                 safetensors, pytest, pluggy, iniconfig, packaging, pygments (pip download ...)
# Everything it writes lands under $OUT/<part>/ (fetched back); long runs write their checkpoints
# under resources/gpu/ (ignored, kept while the machine stays warm), so a `full` run cut by the
# time limit resumes where it stopped when called again (its log then says "resuming").
#
# Parts and expected device time on one H100/H200 (each stays under ~9 minutes by `timeout`):
#   tests  GPU tests + the engine's CPU tests on this torch (tests/test_engine.py, test_attacks'
#          CUDA test); log with device, torch, commit in $OUT/tests/gpu_tests.log     ~2 min
#   bench  bench/gpu/bench_gpu.py: eager vs engine variants at batch 50, kernels, floors, evaluation
#          timing (PGD-100 x 10 over 10,000 images) and the fp32-vs-fast accuracy check  ~3 min
#   quick  tests then bench with fewer repeats (one call when time is short)             ~4 min
#   fast   the madry-fast recipe (bf16), then clean, PGD-100 x 10, AutoAttack, eager re-check
#          (goal: >= 98.5 / 89 / 87 % within 3 minutes to the final checkpoint)          ~6-8 min
#   full   the 100k-iteration Madry recipe (linf-0.3), then clean and PGD-100 x 20, eager
#          re-check (goal: about 6 minutes; >= 98.5 % clean, >= 89 % PGD-100 x 20)         ~8-9 min
set -uo pipefail
PART="${1:?usage: bash bench/gpu/gpu_session.sh tests|bench|quick|fast|full COMMIT}"
export TRADEOFF_COMMIT="${2:-unknown}"
OUT="${OUT:-/tmp/out}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
mkdir -p "$OUT/$PART"
LOG="$OUT/$PART/session.log"
exec > >(tee -a "$LOG") 2>&1

PY=python3
SITE=/tmp/site
if ls .whl/*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" .whl/*.whl || echo "warning: wheel install failed"
fi
export PYTHONPATH="$ROOT/src:$SITE:${PYTHONPATH:-}" PATH="$SITE/bin:$PATH"
export OMP_NUM_THREADS=4
echo "== $(date -u +%FT%TZ) part=$PART commit=$TRADEOFF_COMMIT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
$PY - <<'EOF'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(),
      "device", torch.cuda.get_device_name() if torch.cuda.is_available() else "NO CUDA")
EOF
MNIST=.data/mnist
[ -f "$MNIST/train-images-idx3-ubyte.gz" ] || [ -f "$MNIST/train-images-idx3-ubyte" ] \
    || echo "warning: no MNIST in $MNIST (bench falls back to synthetic data)"

run_tests() {
    export TRADEOFF_GPU_LOG="$OUT/tests/gpu_tests.log"
    mkdir -p "$OUT/tests"
    : > "$TRADEOFF_GPU_LOG"
    timeout 300 $PY -m pytest -p no:cacheprovider -q -rA tests/test_engine.py \
        "tests/test_attacks.py::test_cuda" 2>&1 | tee "$OUT/tests/pytest.log"
    echo "pytest exit: ${PIPESTATUS[0]}"
}

run_bench() {
    mkdir -p "$OUT/bench"
    local extra=("$@")
    local mn=()
    [ -d "$MNIST" ] && mn=(--mnist-dir "$MNIST")
    timeout 420 $PY bench/gpu/bench_gpu.py "${mn[@]}" --json "$OUT/bench/bench.json" \
        --markdown "$OUT/bench/bench.md" "${extra[@]}"
    echo "bench exit: $?"
}

run_recipe() {  # name recipe limit_s args...
    local name="$1" recipe="$2" limit="$3"
    shift 3
    local work="resources/gpu/$name"
    mkdir -p "$work" "$OUT/$name"
    local t0=$SECONDS
    timeout "$limit" $PY bench/gpu/gpu_run.py --recipe "$recipe" --mnist-dir "$MNIST" --out "$work" "$@"
    echo "$name exit: $? (wall $((SECONDS - t0)) s for the process, training and evaluation)"
    cp "$work"/train.log "$work"/summary.json "$OUT/$name/" 2>/dev/null || true
    ls -la "$work/checkpoints"/* 2>/dev/null | tail -3
}

case "$PART" in
    tests) run_tests ;;
    bench) run_bench ;;
    quick) run_tests; run_bench --repeats 3 --iters 30 --warmup 5 --eval-batch 5000 ;;
    fast) run_recipe madry-fast madry-fast 540 --precision bf16 --pgd 100x10 --autoattack \
              --check-eager --eval-batch 5000 --deterministic false ;;
    full) run_recipe madry-100k linf-0.3 560 --pgd 100x20 --check-eager --eval-batch 5000 \
              --deterministic false ;;
    *) echo "unknown part $PART"; exit 2 ;;
esac
echo "== done $(date -u +%FT%TZ)"
