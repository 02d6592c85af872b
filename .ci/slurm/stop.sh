#!/usr/bin/env bash
# Stop the private SLURM cluster started by .ci/slurm/start.sh [STATE_DIR].
#   bash .ci/slurm/stop.sh [STATE_DIR]     # default /tmp/dnnmap-slurm
# Stops slurmd and slurmctld (pid files in STATE_DIR), and munged only if start.sh
# started it (STATE_DIR/munged.pid), and removes the /etc/slurm/slurm.conf symlink
# if it points into STATE_DIR. Leaves STATE_DIR (config, logs) in place;
# pass --purge as 2nd argument to delete it.
set -uo pipefail

STATE=${1:-/tmp/dnnmap-slurm}
PURGE=${2:-}

stop_daemon() {  # $1 = name, $2 = pid file
    local name=$1 pf=$2 pid
    [ -s "$pf" ] || return 0
    pid=$(cat "$pf")
    if kill -0 "$pid" 2>/dev/null; then
        echo "[slurm-ci] stopping $name (pid $pid)" >&2
        kill "$pid" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "[slurm-ci] $name did not stop in 10 s; SIGKILL" >&2
            kill -9 "$pid" 2>/dev/null
        fi
    fi
    rm -f "$pf"
}

# Jobs still running would be left as orphan slurmstepd processes: cancel them first.
if [ -s "$STATE/slurmctld.pid" ] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null; then
    SLURM_CONF="$STATE/slurm.conf" scancel --full --quiet --state=RUNNING \
        --user="$(id -un)" </dev/null >/dev/null 2>&1 || true
    SLURM_CONF="$STATE/slurm.conf" scancel --quiet --user="$(id -un)" </dev/null >/dev/null 2>&1 || true
    for _ in $(seq 40); do  # up to ~10 s for the cancelled jobs to go away
        [ -z "$(SLURM_CONF="$STATE/slurm.conf" squeue -h -t R,CG,PD -o %i 2>/dev/null </dev/null)" ] && break
        sleep 0.25
    done
fi
stop_daemon slurmd "$STATE/slurmd.pid"
stop_daemon slurmctld "$STATE/slurmctld.pid"
stop_daemon munged "$STATE/munged.pid"

# remove the /etc/slurm/slurm.conf symlink if it is ours
if [ -L /etc/slurm/slurm.conf ]; then
    case "$(readlink /etc/slurm/slurm.conf)" in
        "$STATE/slurm.conf"|"$(cd "$STATE" 2>/dev/null && pwd -P)/slurm.conf")
            rm -f /etc/slurm/slurm.conf ;;
    esac
fi
if [ "$PURGE" = --purge ]; then
    rm -rf "$STATE"
fi
exit 0
