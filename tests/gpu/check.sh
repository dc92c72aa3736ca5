#!/usr/bin/env bash
# The CUDA path on a GPU host, checked and timed (CI has no GPU; run this where one is):
#   1. tests/unit/test_cuda.py: exact MI, the family model, the estimator head and every decoder on CUDA
#      agree with the CPU (and exact MI with brute-force enumeration)
#   2. the protein half at the paper config's sizes with the family model (config/paper_family.yaml):
#      the workflow's own rules, up to the tables, one GPU (--resources gpu=1)
#   3. a summary: per-job time and peak memory against the config's declarations (python -m mdmi resources),
#      the in-family contact precision by source and range, the claims; with OUT set, the run's tables, logs
#      and benchmarks packed into $OUT/paper_family.tar.gz
# Usage: bash tests/gpu/check.sh   (CORES=16, CONFIG=config/paper_family.yaml, LIMIT=0 (none); needs snakemake and the mdmi package importable)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
CORES=${CORES:-16}
CONFIG=${CONFIG:-config/paper_family.yaml}
RESULTS=$(python -c "import sys; sys.path.insert(0, 'lib'); from mdmi.config import resolved; print(resolved('$CONFIG').get('results', 'results'))")
say() { echo "[test-gpu] $*"; }

python -c "import sys, torch; torch.cuda.is_available() or sys.exit(f'test-gpu: PyTorch {torch.__version__} sees no CUDA device; run this on a GPU host'); print('[test-gpu] torch', torch.__version__, torch.cuda.get_device_name(0))"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

t=$(date +%s); tests=0
timeout 300 python -m pytest -q -p no:cacheprovider tests/unit/test_cuda.py || tests=$?
say "CUDA tests: exit $tests in $(( $(date +%s) - t )) s"

mkdir -p "$RESULTS"; t=$(date +%s); status=0
# LIMIT (seconds): interrupt the run then (SIGINT: Snakemake stops its jobs); what finished is summarised
timeout -s INT "${LIMIT:-0}" python -m snakemake "$RESULTS/tables/claims.csv" --cores "$CORES" --resources gpu=1 --configfile "$CONFIG" \
    --rerun-incomplete --printshellcmds --keep-going > "$RESULTS.snakemake.log" 2>&1 || status=$?
say "workflow ($CONFIG, up to the tables): exit $status in $(( $(date +%s) - t )) s; log $RESULTS.snakemake.log"
[ "$status" = 0 ] || grep -E "Error in rule|Exception|Error:" "$RESULTS.snakemake.log" | head -20 || true

# the workflow's own summaries: declared vs measured memory and time per job (the resources check),
# the contact analysis's precision by source and range, the claims table
if [ -f "$RESULTS/config.yaml" ]; then
    python -m mdmi resources --config "$RESULTS/config.yaml" --benchmarks "$RESULTS/benchmarks" \
        --out "$RESULTS/benchmarks/resources.csv" || say "resource check failed: see above"
fi
grep -h "in_family=True" "$RESULTS"/logs/*_analysis_contacts.log 2>/dev/null || true
[ -f "$RESULTS/tables/claims.md" ] && cat "$RESULTS/tables/claims.md" || true
if [ -n "${OUT:-}" ]; then
    tar czf "$OUT/paper_family.tar.gz" --exclude='*.pt' --exclude='*/checkpoint*' "$RESULTS" "$RESULTS.snakemake.log"
fi
[ "$tests" = 0 ] || exit "$tests"
exit "$status"
