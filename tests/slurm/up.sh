#!/usr/bin/env bash
# Bring up a single-node Slurm cluster with accounting on this machine (Debian 12, as root, no systemd),
# for `make test-slurm`. Idempotent: packages are installed only if missing, daemons started only if
# not running. Every daemon this script starts is recorded in $STATE/pids/, and only those are stopped
# by tests/slurm/down.sh. Knobs: SLURM_CLUSTER (mdmi), SLURM_ACCOUNT (mdmi), SLURM_PARTITION (debug),
# SLURM_DB_PORT (3307), SLURM_MEM_MB (default: what slurmd -C reports), SLURM_CPUS (default: 8x the CPUs
# slurmd -C reports: the test jobs are small, one thread each, and mostly wait on Python start-up and the
# executor's status polls, so a node that runs more of them at once finishes the DAG sooner; set
# SLURM_CPUS to the real count to schedule strictly).
#
# Pieces: munge (authentication), a private MariaDB instance (own datadir, socket and port, so it never
# touches a database already on the host) behind slurmdbd (the Snakemake Slurm executor reads job
# states from sacct, which needs accounting), slurmctld and slurmd with 127.0.0.1 addresses (a
# container's hostname need not resolve). Process tracking without cgroups, so it also runs in
# containers without a writable cgroup tree: jobs are scheduled by their requests, not confined.
set -euo pipefail
t0=$(date +%s.%N)
CLUSTER=${SLURM_CLUSTER:-mdmi}
ACCOUNT=${SLURM_ACCOUNT:-mdmi}
PARTITION=${SLURM_PARTITION:-debug}
DB_PORT=${SLURM_DB_PORT:-3307}
STATE=/var/lib/mdmi-slurm
PIDS=$STATE/pids
NODE=$(hostname -s)
export USER=${USER:-$(id -un)}
log() { echo "[slurm-up] $*"; }
die() { echo "[slurm-up] ERROR: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (it installs packages and starts daemons); CI runs as root"

wait_for() {  # wait_for <seconds> <what> <command...>: poll until the command succeeds
    local limit=$1 what=$2; shift 2
    for _ in $(seq $((limit * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
    for f in /var/log/slurm/*.log; do echo "--- $f"; tail -n 15 "$f"; done >&2
    die "$what not ready after ${limit}s (logs above, all in /var/log/slurm/)"
}

started() {  # started <name> <pidfile>: record a daemon we started (down.sh stops only these)
    cp "$2" "$PIDS/$1.pid"
}

# ---- packages
PKGS="munge slurm-wlm slurmdbd slurm-wlm-mysql-plugin mariadb-server mariadb-client"
missing=$(for p in $PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"; done)
if [ -n "$missing" ]; then
    log "installing $(echo $missing)"
    guard=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then      # no init system: keep postinst scripts from starting daemons
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; guard=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 || {
        apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; }
    [ $guard = 1 ] && rm -f /usr/sbin/policy-rc.d
fi
mkdir -p "$PIDS" /var/log/slurm /run/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /etc/slurm
chown -R slurm:slurm /var/log/slurm /run/slurm /var/lib/slurm

# ---- munge
mkdir -p /run/munge && chown munge:munge /run/munge
[ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null;
                                 chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- munged --force </dev/null >/var/log/slurm/munged.start.log 2>&1
    wait_for 20 munge sh -c 'munge -n | unmunge'
    started munged /run/munge/munged.pid
fi

# ---- private MariaDB for slurmdbd
DATADIR=$STATE/mysql SOCK=$STATE/mysqld.sock
if [ ! -d "$DATADIR/mysql" ]; then
    mkdir -p "$DATADIR" && chown mysql:mysql "$DATADIR"
    mariadb-install-db --user=mysql --datadir="$DATADIR" --auth-root-authentication-method=socket \
        >/var/log/slurm/mariadb-install.log 2>&1 || die "mariadb-install-db failed (/var/log/slurm/mariadb-install.log)"
fi
if ! mariadb-admin --socket="$SOCK" ping >/dev/null 2>&1; then
    chown mysql:mysql "$STATE"
    setsid mariadbd --no-defaults --user=mysql --datadir="$DATADIR" --socket="$SOCK" --pid-file="$STATE/mysqld.pid" \
        --bind-address=127.0.0.1 --port="$DB_PORT" --skip-name-resolve --log-error=/var/log/slurm/mariadb.log \
        --innodb-buffer-pool-size=1024M --innodb-lock-wait-timeout=900 </dev/null >/dev/null 2>&1 &
    wait_for 60 MariaDB mariadb-admin --socket="$SOCK" ping
    started mariadbd "$STATE/mysqld.pid"
fi
[ -s "$STATE/dbpass" ] || { head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$STATE/dbpass"; chmod 600 "$STATE/dbpass"; }
DBPASS=$(cat "$STATE/dbpass")
mariadb --socket="$SOCK" -u root <<SQL
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DBPASS';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DBPASS';
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL

# ---- configuration (written only when it changes)
install_if_changed() {  # install_if_changed <file> <mode> <owner>; content on stdin; prints "changed" if so
    local tmp; tmp=$(mktemp); cat > "$tmp"
    if ! cmp -s "$tmp" "$1"; then install -m "$2" -o "$3" "$tmp" "$1"; echo changed; fi
    rm -f "$tmp"
}
# configuration files this script creates are removed again by down.sh: with a slurm.conf naming a stopped
# controller, every `scontrol` call (which the Slurm executor plugin makes whenever Snakemake starts) waits 9 s
for f in slurm.conf slurmdbd.conf; do [ -e "/etc/slurm/$f" ] || touch "$PIDS/created-$f"; done
HW=$(slurmd -C | head -1)
REAL_CPUS=$(echo "$HW" | grep -o 'CPUs=[0-9]*' | cut -d= -f2)
CPUS=${SLURM_CPUS:-$((REAL_CPUS * 8))}
MEM=${SLURM_MEM_MB:-$(echo "$HW" | grep -o 'RealMemory=[0-9]*' | cut -d= -f2)}
[ -f /var/lib/slurm/slurmctld/clustername ] && [ "$(cat /var/lib/slurm/slurmctld/clustername)" != "$CLUSTER" ] \
    && rm -rf /var/lib/slurm/slurmctld/*        # slurmctld refuses state saved by another cluster name
conf_changed=$(install_if_changed /etc/slurm/slurm.conf 644 root <<CONF
# written by mdmi tests/slurm/up.sh: a one-node test cluster with accounting
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
AuthType=auth/munge
SlurmUser=slurm
SlurmdUser=root
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStorageEnforce=associations
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
InactiveLimit=0
KillWait=5
MinJobAge=300
# the node may declare more CPUs than it has (SLURM_CPUS above); slurmd then keeps the declared count
SlurmdParameters=config_overrides
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
)
dbd_changed=$(install_if_changed /etc/slurm/slurmdbd.conf 600 slurm <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=slurm
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurm/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DBPASS
StorageLoc=slurm_acct_db
CONF
)

running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
restart() {  # restart <daemon> <pidfile> <changed>: start it if down, restart if its config changed
    if running "$2" && [ -n "$3" ]; then kill "$(cat "$2")"; sleep 1; fi
    if ! running "$2"; then "$1" </dev/null >"/var/log/slurm/$1.start.log" 2>&1 || die "$1 failed to start"
        wait_for 20 "$1" test -s "$2"; started "$1" "$2"; fi
}

# ---- slurmdbd, then the cluster and its account in the database, then the controller and the node
restart slurmdbd /run/slurm/slurmdbd.pid "$dbd_changed"
wait_for 60 slurmdbd sacctmgr -n list cluster
sacctmgr -n list cluster format=cluster -P | grep -qx "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null
sacctmgr -n list account format=account -P | grep -qx "$ACCOUNT" || sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" >/dev/null
sacctmgr -n list assoc user="$USER" account="$ACCOUNT" format=user -P | grep -q . \
    || sacctmgr -i add user "$USER" Account="$ACCOUNT" Cluster="$CLUSTER" >/dev/null
restart slurmctld /run/slurm/slurmctld.pid "$conf_changed"
wait_for 60 slurmctld scontrol ping
restart slurmd /run/slurm/slurmd.pid "$conf_changed"
state() { sinfo -h -N -n "$NODE" -o %T 2>/dev/null; }
wait_for 60 "node $NODE" sh -c "sinfo -h -N -o %T | grep -qvE 'unknown|not_responding|down\\*'"
case "$(state)" in down*|drain*|fail*) scontrol update NodeName="$NODE" State=RESUME ;; esac
wait_for 60 "node $NODE idle" sh -c "sinfo -h -N -o %T | grep -qE '^(idle|mixed|allocated)'"

# ---- smoke test: a job through sbatch, seen by sacct
job=$(sbatch --parsable -A "$ACCOUNT" -p "$PARTITION" -t 1 --mem 100 -o /dev/null --wrap true)
wait_for 60 "smoke job $job in sacct" sh -c "sacct -n -X -j $job -o State -P | grep -qx COMPLETED"
log "READY in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}") s: cluster=$CLUSTER node=$NODE ($CPUS CPUs declared, $REAL_CPUS real; $MEM MB) partition=$PARTITION account=$ACCOUNT"
