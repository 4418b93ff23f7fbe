#!/usr/bin/env bash
# Bring up a one-node SLURM cluster on this machine (root only) for tests/cli/test_slurm.py.
#
# Installs Debian's slurm-wlm and munge, generates a munge key, writes a slurm.conf that names
# this host with more CPUs than it has (SlurmdParameters=config_overrides, so 10 MPI ranks fit
# on a small machine), starts munged, slurmctld and slurmd, and waits until the node is idle.
#
# Fails soft: any problem prints a reason and exits 0, so CI goes on and the SLURM tests skip
# (they report "no SLURM cluster running"). Idempotent: a running cluster is left alone.
# Variables: SLURM_UP_CPUS (CPUs declared, default 16), SLURM_UP_LOG (log file).
set -u
CPUS="${SLURM_UP_CPUS:-16}"
LOG="${SLURM_UP_LOG:-/tmp/slurm-up.log}"

soft_fail() {
    echo "slurm-up: $* -- SLURM tests will be skipped (details: $LOG)"
    exit 0
}

if [ "$(id -u)" != 0 ]; then
    soft_fail "not root, cannot install or start SLURM"
fi
if command -v sinfo >/dev/null 2>&1 && sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    echo "slurm-up: a SLURM cluster is already running"
    exit 0
fi

: >"$LOG"
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
    echo "slurm-up: installing slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q --no-install-recommends slurm-wlm munge; } \
        >>"$LOG" 2>&1 </dev/null || soft_fail "apt-get install slurm-wlm munge failed"
fi

HOST="$(hostname -s)"

# munge: a fresh key (the package may ship none), the daemon as the munge user.
mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
chmod 0700 /etc/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge
chmod 0400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
    runuser -u munge -- /usr/sbin/munged >>"$LOG" 2>&1 || soft_fail "munged did not start"
fi
for _ in $(seq 20); do munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.5; done
munge -n </dev/null | unmunge >>"$LOG" 2>&1 || soft_fail "munge does not work"

MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat >/etc/slurm/slurm.conf <<EOF
# Written by .ci/slurm-up.sh: a one-node test cluster.
ClusterName=crpsgd-ci
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=5
InactiveLimit=0
MinJobAge=600
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${MEM_MB} State=UNKNOWN
PartitionName=ci Nodes=${HOST} Default=YES MaxTime=60 State=UP OverSubscribe=YES
EOF
: >/etc/slurm/cgroup.conf

pgrep -x slurmctld >/dev/null || slurmctld >>"$LOG" 2>&1 || soft_fail "slurmctld did not start"
pgrep -x slurmd >/dev/null || slurmd >>"$LOG" 2>&1 || soft_fail "slurmd did not start"

for _ in $(seq 60); do
    state="$(sinfo -h -n "$HOST" -o %T 2>/dev/null | head -n1)"
    case "$state" in
        idle | mixed | allocated) echo "slurm-up: node $HOST is $state ($CPUS CPUs declared)"; exit 0 ;;
        down* | drain*) scontrol update nodename="$HOST" state=resume >>"$LOG" 2>&1 ;;
    esac
    sleep 1
done
{ tail -n 20 /var/log/slurm/slurmctld.log; tail -n 20 /var/log/slurm/slurmd.log; } >>"$LOG" 2>&1
soft_fail "node $HOST did not become idle (state: ${state:-unknown})"
