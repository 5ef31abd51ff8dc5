#!/usr/bin/env bash
# The scale-out example end to end, on 127.0.0.1 (README.md beside this file):
# redis-server, three `sipsans uas` workers sharing their dialogs through it, Kamailio
# in front of them, and sipp placing calls through Kamailio. Everything started here is
# stopped by its PID at the end. Run from anywhere (it works from the repository root):
#
#   examples/scaleout/run.sh [CALLS [RATE [CALL_SECONDS]]]    default: 150 calls, 15/s, 8 s
#
# KILL_AFTER=3 examples/scaleout/run.sh  kills worker 1 (SIGKILL) 3 s into the run: the
# calls it held end on the other workers, which restore them from Redis.
# Other ports (when those are taken): BALANCER_PORT (5070), WORKER_PORTS ("5101 5102
# 5103": a dispatcher list for them is written beside the logs), REDIS_PORT (6379);
# PYTHON (.venv/bin/python, else python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

calls=${1:-150}
rate=${2:-15}
call_seconds=${3:-8}
redis_port=${REDIS_PORT:-6379}
balancer_port=${BALANCER_PORT:-5070}
read -r -a worker_ports <<<"${WORKER_PORTS:-5101 5102 5103}"
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python3
for program in redis-server kamailio sipp; do
    command -v "$program" >/dev/null || { echo "run.sh: $program is not installed" >&2; exit 2; }
done

run=$(mktemp -d "${TMPDIR:-/tmp}/scaleout.XXXXXX")
pids=()
workers=()
stop() {
    # The workers first (SIGTERM: they hang up what they hold), then the servers.
    for pid in "${workers[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${workers[@]}"; do wait "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    echo "logs: $run"
}
trap stop EXIT

redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
    >"$run/redis.log" 2>&1 &
pids+=($!)
defines=()
if [ -n "${WORKER_PORTS:-}" ] || [ -n "${BALANCER_PORT:-}" ]; then
    for port in "${worker_ports[@]}"; do echo "1 sip:127.0.0.1:$port 0"; done >"$run/workers.list"
    defines=(-A "LISTEN=udp:127.0.0.1:$balancer_port" -A "WORKERS=\"$run/workers.list\"")
fi
n=0
for port in "${worker_ports[@]}"; do
    n=$((n + 1))
    "$python" -m sipsans_asyncio.cli uas --listen "127.0.0.1:$port" --worker "worker$n" \
        --state "redis://127.0.0.1:$redis_port/0" >"$run/worker$n.log" 2>&1 &
    workers+=($!)
done
worker1=${workers[0]}
kamailio -DD -E -f examples/scaleout/kamailio.cfg -Y "$run" -w . "${defines[@]}" \
    >"$run/kamailio.log" 2>&1 &
pids+=($!)

# Ready when every worker shares its dialogs (Kamailio takes less time to start).
for _ in $(seq 100); do
    ready=$(grep -l "sharing dialogs" "$run"/worker*.log 2>/dev/null | wc -l || true)
    [ "$ready" -ge "${#worker_ports[@]}" ] && break
    sleep 0.1
done
sleep 1

if [ -n "${KILL_AFTER:-}" ]; then
    (sleep "$KILL_AFTER"; kill -KILL "$worker1" && echo "worker 1 killed (SIGKILL)") &
    pids+=($!)
fi
echo "sipp: $calls calls of $call_seconds s at $rate/s through Kamailio at 127.0.0.1:$balancer_port"
status=0
scenario=$PWD/examples/scaleout/uac.xml
(cd "$run" && sipp -sf "$scenario" -m "$calls" -r "$rate" -d "$((call_seconds * 1000))" \
    -i 127.0.0.1 -p 0 "127.0.0.1:$balancer_port" -nostdin -timeout 120 \
    -trace_screen -screen_file sipp.screen -trace_rtt -rtt_freq 1 >sipp.out 2>&1) || status=$?
grep -E "Successful call|Failed call" "$run/sipp.screen" | tail -2 || true
echo "dialogs restored: $(cat "$run"/worker*.log | grep -c ' restored$' || true)"
exit "$status"
