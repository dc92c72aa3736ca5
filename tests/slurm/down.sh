#!/usr/bin/env bash
# Stop what tests/slurm/up.sh started, and only that: each daemon recorded in /var/lib/mdmi-slurm/pids/
# is signalled if its PID still runs that program (a recycled PID is never hit). Jobs still queued
# are cancelled first; the configuration files up.sh created are removed. --purge also deletes the
# cluster's state, database and logs.
set -uo pipefail
STATE=/var/lib/mdmi-slurm
PIDS=$STATE/pids
command -v scancel >/dev/null && [ -s "$PIDS/slurmctld.pid" ] && scancel --full --quiet -u "${USER:-$(id -un)}" 2>/dev/null
stop() {    # signal the named daemons together, then wait up to 15 s for each (each takes 1-3 s to exit)
    local name f pid pids=()
    for name in "$@"; do
        f=$PIDS/$name.pid
        [ -s "$f" ] || continue
        pid=$(cat "$f")
        if [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$name" ]; then
            kill "$pid" && pids+=("$name:$pid")
        fi
        rm -f "$f"
    done
    for entry in "${pids[@]}"; do
        pid=${entry#*:}
        for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        echo "[slurm-down] stopped ${entry%%:*} ($pid)"
    done
}
stop slurmd slurmctld slurmdbd      # the Slurm daemons first (slurmctld keeps unsent accounting in its state)
stop mariadbd munged                # then what they use
for f in slurm.conf slurmdbd.conf; do          # configuration up.sh created (not a cluster's own)
    [ -e "$PIDS/created-$f" ] && rm -f "/etc/slurm/$f" "$PIDS/created-$f" && echo "[slurm-down] removed /etc/slurm/$f"
done
if [ "${1:-}" = "--purge" ]; then
    rm -rf "$STATE" /var/lib/slurm/slurmctld/* /var/lib/slurm/slurmd/* /var/log/slurm/*
    echo "[slurm-down] purged state, database and logs"
fi
