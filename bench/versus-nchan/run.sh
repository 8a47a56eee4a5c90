#!/usr/bin/env bash
# RunJournal's live streams side by side with nchan (nginx's pub/sub module), in one run, through the same
# nginx binary and configuration, measured by the same load client (bench/versus-nchan/sseload.c):
#
#   always  runjournal serve --fsync always (the default)
#   never   runjournal serve --fsync never
#   poll    runjournal serve --tailer poll --poll-interval-ms 250 (the polling baseline)
#   nchan   nchan_subscriber eventsource + nchan_publisher http, a 5,000-message buffer kept 10 minutes
#
# Phases per configuration (docs/benchmarks.md explains each):
#   latency  1 subscriber, 2,000 events 5 ms apart: append → client p50/p99/max, and the CDF
#   resume   100 subscribers, 2,000 events at 200/s; each drops its connection once mid-publish and
#            reconnects 300 ms later with Last-Event-ID: events missed or duplicated
#   fan-out  1 run × 1,000 subscribers × 1,000 events/s for 10 s: delivered, in order, latency, server CPU
#   idle     streams opened in steps up to 19,000 (responder + nginx memory and descriptors at each step),
#            CPU of 1,000 idle streams over 60 s
# poll runs only latency and resume: its fan-out and idle figures are those of the inotify build (the tailer
# only changes how a new append is noticed) and would add minutes.
#
#   bench/versus-nchan/run.sh                       # 7–9 minutes on 2 cores, prints the table at the end
#   RJ_BIN=/path/to/runjournal RESULTS_DIR=/tmp/vs bench/versus-nchan/run.sh
#
# Environment: RJ_BIN (prebuilt runjournal; otherwise a release build into .build-netbench), RESULTS_DIR
# (raw JSON, CDF data, table and plots are kept there; otherwise in the temp directory, removed at exit),
# PLOTS_DIR (where the two PNGs go; default RESULTS_DIR), CONFIGS (default "always never poll nchan"),
# PHASES (default "latency resume fanout idle"), IDLE_STEPS (default 1000,5000,10000,19000), IDLE_CPU_S (60),
# IDLE_CPU_STREAMS (1000), IDLE_SETTLE_S (5: seconds between opening a step and measuring it), FANOUT_SUBS (1000), FANOUT_EVENTS (10000), FANOUT_RATE (1000), LAT_EVENTS (2000),
# NGINX_WORKERS (2), SKIP_INSTALL=1, KEEP_RUNTIME=1.
#
# Descriptors: without CAP_SYS_RESOURCE every process is held to the hard limit (20,000 here). A RunJournal
# stream costs nginx two (client + upstream), so 19,000 streams need both nginx workers: the listener uses
# `reuseport`, which makes the kernel spread connections evenly over the workers (the idle figures record
# each worker's descriptors). The client holds one per stream, the responder one per stream.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
source "$REPO/bench/http/lib.sh"

CONFIGS=${CONFIGS:-always never poll nchan}
IDLE_STEPS=${IDLE_STEPS:-1000,5000,10000,19000}
IDLE_CPU_S=${IDLE_CPU_S:-60}
IDLE_SETTLE_S=${IDLE_SETTLE_S:-5}
IDLE_CPU_STREAMS=${IDLE_CPU_STREAMS:-1000}
FANOUT_SUBS=${FANOUT_SUBS:-1000}
FANOUT_EVENTS=${FANOUT_EVENTS:-10000}
FANOUT_RATE=${FANOUT_RATE:-1000}
LAT_EVENTS=${LAT_EVENTS:-2000}
PHASES=${PHASES:-latency resume fanout idle}
NGINX_WORKERS=${NGINX_WORKERS:-2}
NCHAN_MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

# What a fresh Debian 12 machine lacks (the Swift toolchain is assumed, as for every other build here).
install_deps() {
    local missing=()
    command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
    [[ -f $NCHAN_MODULE ]] || missing+=(libnginx-mod-nchan)
    command -v gnuplot >/dev/null 2>&1 || missing+=(gnuplot-nox)
    command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    [[ -n ${RJ_BIN:-} ]] || dpkg -s libfcgi-dev >/dev/null 2>&1 || missing+=(libfcgi-dev)
    ((${#missing[@]})) || return 0
    [[ -z ${SKIP_INSTALL:-} && $(id -u) == 0 ]] || bench_die "missing packages: ${missing[*]} (run as root to install them)"
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# deploy/nginx.conf as bench/http/lib.sh substitutes it, plus: the nchan module and its two locations (in the
# same server block, so both are served by the same nginx), NGINX_WORKERS workers, and `reuseport`.
write_nginx_conf() {
    sed -e "s|@PREFIX@|$RUNTIME|g" -e "s|@SOCKET@|$SOCKET|g" -e "s|@PORT@|$PORT|g" \
        -e "s|@USER@|$(id -un) $(id -gn)|g" -e "s|@WWW@|$REPO/deploy/www|g" \
        -e "s|limit_conn runjournal_streams_per_client [0-9]*;|limit_conn runjournal_streams_per_client 65535;|" \
        -e "s|^worker_processes .*;|worker_processes $NGINX_WORKERS;|" -e "s|worker_rlimit_nofile [0-9]*;|worker_rlimit_nofile $(ulimit -Hn);|" \
        -e "s|listen 127.0.0.1:$PORT;|listen 127.0.0.1:$PORT reuseport;|" \
        "$REPO/deploy/nginx.conf" >"$RUNTIME/nginx.conf.base"
    grep -q "reuseport" "$RUNTIME/nginx.conf.base" || bench_die "deploy/nginx.conf: no 'listen 127.0.0.1:@PORT@;' line"
    NCHAN_LOCATIONS='
        # nchan, for the side-by-side benchmark only.
        location ~ ^/sub/(\w+)$ {
            nchan_subscriber eventsource;
            nchan_channel_id $1;
            nchan_subscriber_first_message oldest;
            nchan_eventsource_ping_interval 15;
            nchan_eventsource_ping_comment heartbeat;
        }
        location ~ ^/pub/(\w+)$ {
            nchan_publisher http;
            nchan_channel_id $1;
            nchan_message_buffer_length 5000;
            nchan_message_timeout 10m;
        }' python3 - "$RUNTIME/nginx.conf.base" "$RUNTIME/nginx.conf" "$NCHAN_MODULE" <<'PY'
import os, sys
source, target, module = sys.argv[1:4]
text = open(source).read()
anchor = "        server_name localhost;\n"
if anchor not in text:
    sys.exit("bench: deploy/nginx.conf has no 'server_name localhost;' line")
text = text.replace(anchor, anchor + os.environ["NCHAN_LOCATIONS"] + "\n", 1)
open(target, "w").write(f"load_module {module};\n" + text)
PY
}

stop_nginx() {
    if [[ -n ${NGINX_PID:-} ]]; then
        kill -TERM "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
        NGINX_PID=""
    fi
}

# A fresh nginx (same binary, same configuration) for each configuration and phase group, so every memory
# baseline starts from a clean process.
start_nginx() {
    stop_nginx
    bench_launch_nginx
}

# start_server LABEL: the responder for a RunJournal configuration (fresh journal directory), none for nchan;
# then nginx.
start_server() {
    local label=$1 flags=()
    case $label in
        always) flags=(--fsync always) ;;
        never) flags=(--fsync never) ;;
        poll) flags=(--tailer poll --poll-interval-ms 250) ;;
        nchan) ;;
        *) bench_die "unknown configuration $label (always, never, poll or nchan)" ;;
    esac
    bench_stop_responder
    rm -rf "$JOURNAL" && mkdir -p "$JOURNAL"
    if [[ $label != nchan ]]; then
        bench_start_responder --max-streams 20000 --idle-timeout off "${flags[@]}"
    fi
    start_nginx
    SERVER_ARGS=(--rj-pid "${RJ_PID:-0}" --nginx-pid "$NGINX_PID")
}

# paths LABEL NAME: sets SUB and PUB for a run (created now) or an nchan channel.
paths() {
    if [[ $1 == nchan ]]; then
        SUB=/sub/$2 PUB=/pub/$2 KIND=nchan
    else
        curl -sf -o /dev/null -X POST "http://127.0.0.1:$PORT/v1/runs" -H 'Content-Type: application/json' \
            -d "{\"id\":\"$2\"}" || bench_die "could not create run $2"
        SUB=/v1/runs/$2/events PUB=/v1/runs/$2/events KIND=rj
    fi
}

phase_latency() {
    paths "$1" lat
    log "$1: latency, 1 subscriber, $LAT_EVENTS events 5 ms apart"
    "$LOAD" sub --port "$PORT" --sub "$SUB" --pub "$PUB" --kind "$KIND" --subs 1 --events "$LAT_EVENTS" --rate 200 \
        --pub-conns 1 --drain-s 10 --label "$1" --cdf "$OUT/$1-latency-cdf.dat" "${SERVER_ARGS[@]}" \
        >"$OUT/$1-latency.json"
}

phase_resume() {
    paths "$1" resume
    log "$1: resume, 100 subscribers reconnecting once with Last-Event-ID"
    "$LOAD" sub --port "$PORT" --sub "$SUB" --pub "$PUB" --kind "$KIND" --subs 100 --events 2000 --rate 200 \
        --pub-conns 4 --resume --reconnect-gap-ms 300 --drain-s 15 --label "$1" "${SERVER_ARGS[@]}" \
        >"$OUT/$1-resume.json"
}

phase_fanout() {
    paths "$1" fanout
    log "$1: fan-out, $FANOUT_SUBS subscribers x $FANOUT_RATE events/s x $FANOUT_EVENTS events"
    "$LOAD" sub --port "$PORT" --sub "$SUB" --pub "$PUB" --kind "$KIND" --subs "$FANOUT_SUBS" --events "$FANOUT_EVENTS" \
        --rate "$FANOUT_RATE" --pub-conns 16 --drain-s 30 --label "$1" "${SERVER_ARGS[@]}" \
        >"$OUT/$1-fanout.json"
}

# On a fresh responder and nginx, so the memory baseline is not what the earlier phases left behind.
phase_idle() {
    start_server "$1"
    local fmt=/sub/idle%d i
    if [[ $1 != nchan ]]; then
        for i in $(seq 0 99); do paths "$1" "idle$i"; done
        fmt=/v1/runs/idle%d/events
    fi
    log "$1: idle streams in steps $IDLE_STEPS, CPU of $IDLE_CPU_STREAMS over $IDLE_CPU_S s"
    "$LOAD" idle --port "$PORT" --sub-fmt "$fmt" --channels 100 --steps "$IDLE_STEPS" --cpu-step "$IDLE_CPU_STREAMS" \
        --cpu-s "$IDLE_CPU_S" --settle-s "$IDLE_SETTLE_S" --label "$1" "${SERVER_ARGS[@]}" >"$OUT/$1-idle.json"
}

run_config() {
    local label=$1 phase
    start_server "$label"
    log "== $label: $(bench_load)"
    for phase in $PHASES; do
        # The polling baseline only changes how an append is noticed: its idle and fan-out costs are the
        # inotify build's, and measuring them again would add minutes.
        [[ $label == poll && ( $phase == fanout || $phase == idle ) ]] && continue
        "phase_$phase" "$label"
        if [[ $label != nchan ]] && ! kill -0 "$RJ_PID" 2>/dev/null; then
            tail -20 "$RUNTIME/responder.log" >&2
            bench_die "$label: the responder died during $phase"
        fi
    done
}

install_deps
ulimit -n "$(ulimit -Hn)"
bench_build
bench_setup versus
OUT=${RESULTS_DIR:-$RUNTIME/results}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOAD=$RUNTIME/sseload
gcc -O2 -Wall -o "$LOAD" "$HERE/sseload.c" || bench_die "could not build the load client"
write_nginx_conf
STARTED=$(date +%s)
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nginx: $(nginx -v 2>&1 | sed 's/.*: //'), nchan $(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null || echo '?'), $NGINX_WORKERS workers"
    echo "runjournal: $BIN; tree at $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo "?")"
    echo "descriptor limit: $(ulimit -n); $(bench_load) at the start"
} >"$OUT/environment.txt"
cat "$OUT/environment.txt" >&2

for label in $CONFIGS; do
    run_config "$label"
done
bench_stop_responder
stop_nginx
echo "$(bench_load) at the end; total $(($(date +%s) - STARTED)) s" >>"$OUT/environment.txt"

if grep -q 'setrlimit\|worker_connections are not enough\|Too many open files' "$RUNTIME/error.log"; then
    echo "nginx reported descriptor or connection limits:" >&2
    grep 'setrlimit\|worker_connections are not enough\|Too many open files' "$RUNTIME/error.log" | sort | uniq -c | head -5 >&2
fi
python3 "$HERE/report.py" --results "$OUT" --plots "${PLOTS_DIR:-$OUT}" --configs "$CONFIGS" | tee "$OUT/table.md"
[[ -n ${RESULTS_DIR:-} ]] || log "raw results are removed with the temp directory; set RESULTS_DIR to keep them"
