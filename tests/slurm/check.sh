#!/usr/bin/env bash
# make test-slurm: a config (SLURM_CONFIG, default config/ci.yaml) through the Slurm executor on a local
# one-node cluster, checked. CI runs config/ci_sudoku.yaml (the ci config's Sudoku domain: every rule but
# the domain analyses, 13 Slurm jobs, in 174-254 s against 359-433 s for all four domains) against the
# killed-and-resumed local run of it (tests/e2e/test_resume.py).
#   1. bring up Slurm with accounting (tests/slurm/up.sh; installs Debian's packages if missing: root)
#   2. the config with the Slurm profile (workflow/profiles/slurm) to completion
#   3. sacct: every job of that run COMPLETED, one per job Snakemake submitted
#   4. its tables equal those of a local run of the same config (LOCAL_TABLES=<dir> reuses a local
#      run's results/tables, as .ci/run does with the run `make test` makes beside this check, waiting up
#      to LOCAL_TABLES_WAIT seconds for it; else one is run here)
#   5. a rule that fails (a data step asked for puzzles it cannot make) makes the run exit non-zero,
#      naming the rule, with a FAILED job in sacct (this run goes beside step 2, in fail/; each run's
#      jobs are told apart in sacct by the run ID the plugin names them with)
#   6. stop the daemons step 1 started (tests/slurm/down.sh), also when a step fails
# Work folder: results/slurm-check/ (WORK=...). Needs snakemake and the plugin on PATH (make setup).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${WORK:-$ROOT/results/slurm-check}
export USER=${USER:-$(id -un)}        # the Slurm plugin reads $USER (unset under some container runtimes)
LIMIT=${SLURM_RUN_LIMIT:-900}         # seconds before a hung run is interrupted (SIGINT cancels its jobs)
say() { echo "[test-slurm] $*"; }
now() { date +%s.%N; }
since() { awk "BEGIN{printf \"%.1f\", $(now) - $1}"; }
CONFIG=$(realpath "${SLURM_CONFIG:-$ROOT/config/ci.yaml}")
SNAKEMAKE=(python -m snakemake -s "$ROOT/Snakefile" --configfile "$CONFIG")

t=$(now); bash "$ROOT/tests/slurm/up.sh"; up_s=$(since "$t")
trap 'bash "$ROOT/tests/slurm/down.sh"' EXIT
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
start=$(date +%Y-%m-%dT%H:%M:%S)

# ---- 5 (started first, runs beside step 2). a rule that fails: a data step asked for puzzles it cannot make
mkdir -p fail
cat > fail/fail.yaml <<YAML
extends: $ROOT/config/ci.yaml
results: fail
domains: [sudoku]
sudoku: {data: {max_attempts: 1, test_puzzles: {hard: 3}}}     # cannot be made: the data rule fails
YAML
t_fail=$(now)
( cd fail && set +e
  timeout -s INT -k 30 300 python -m snakemake -s "$ROOT/Snakefile" --configfile fail.yaml \
      --workflow-profile "$ROOT/workflow/profiles/slurm" --slurm-init-seconds-before-status-checks 1 > fail.log 2>&1
  echo $? > fail.rc; awk "BEGIN{printf \"%.1f\", $(now) - $t_fail}" > fail.seconds ) &
fail_pid=$!

# ---- 2. the config on Slurm
t=$(now)
# a test cluster with nothing else queued: poll job states every few seconds, not the profile's 10
timeout -s INT -k 30 "$LIMIT" "${SNAKEMAKE[@]}" --workflow-profile "$ROOT/workflow/profiles/slurm" \
    --slurm-init-seconds-before-status-checks 1 --config results=slurm > slurm.log 2>&1 || { tail -n 40 slurm.log; say "FAIL: the Slurm run failed (log: $WORK/slurm.log)"; exit 1; }
slurm_s=$(since "$t")
submitted=$(grep -c "has been submitted with SLURM jobid" slurm.log || true)
run_id() { grep -o "SLURM run ID: [0-9a-f-]*" "$1" | head -1 | cut -d' ' -f4; }   # every job of a run is named by it

# ---- 3. every job of the run COMPLETED in the accounting database
sleep 2
sacct -X -P -n -S "$start" --name "$(run_id slurm.log)" -o JobID,JobName,State,Comment > sacct.txt
jobs=$(grep -c "rule_" sacct.txt || true)
bad=$(grep "rule_" sacct.txt | awk -F'|' '$3 != "COMPLETED"' || true)
[ -z "$bad" ] || { echo "$bad"; say "FAIL: jobs not COMPLETED in sacct"; exit 1; }
[ "$jobs" -gt 0 ] && [ "$jobs" = "$submitted" ] || { say "FAIL: sacct lists $jobs jobs of the run, Snakemake submitted $submitted"; exit 1; }

# ---- 4. the same tables as a local run
if [ -n "${LOCAL_TABLES:-}" ]; then
    # .ci/run starts this check beside `make test`, whose killed-and-resumed run puts these tables in place whole
    # (a rename) when it ends, or leaves $LOCAL_TABLES.failed when `make test` fails first: wait for either
    waited=0
    while [ ! -d "$LOCAL_TABLES" ]; do
        [ ! -e "$LOCAL_TABLES.failed" ] || { say "FAIL: the local run to compare with did not finish (make test failed)"; exit 1; }
        [ "$waited" -lt "${LOCAL_TABLES_WAIT:-0}" ] || { say "FAIL: no local tables at $LOCAL_TABLES after ${waited} s"; exit 1; }
        sleep 5; waited=$((waited + 5))
    done
    local_tables=$LOCAL_TABLES; local_s="(reused: $LOCAL_TABLES, waited ${waited} s for it)"
else
    t=$(now)
    "${SNAKEMAKE[@]}" --cores 2 --config results=local > local.log 2>&1 || { tail -n 40 local.log; say "FAIL: local run"; exit 1; }
    local_tables=local/tables; local_s="$(since "$t") s"
fi
python -m mdmi compare-tables "$local_tables" slurm/tables

# ---- 5. the failing rule's run (started beside step 2)
wait $fail_pid || true
rc=$(cat fail/fail.rc); fail_s=$(cat fail/fail.seconds)
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { tail -n 30 fail/fail.log; say "FAIL: the failing run exited $rc"; exit 1; }
grep -q "Error in rule data" fail/fail.log || { tail -n 30 fail/fail.log; say "FAIL: the failing rule is not named"; exit 1; }
failed=$(sacct -X -P -n -S "$start" --name "$(run_id fail/fail.log)" -o State,Comment | grep "rule_data" | grep -c FAILED || true)
[ "$failed" -ge 1 ] || { say "FAIL: no FAILED data job in sacct for the failing run"; exit 1; }

say "bring-up ${up_s} s; Slurm run of $(basename "$CONFIG") ${slurm_s} s (local run ${local_s}); sacct: ${jobs} jobs, all COMPLETED"
say "tables identical to the local run's; failing rule: exit $rc in ${fail_s} s, 'Error in rule data', ${failed} FAILED in sacct"
say "PASS"
