#!/usr/bin/env bash
# Live streams through nginx: append→subscriber latency, idle streams (CPU, RSS, threads), and fan-out,
# with the inotify tailer and with the polling baseline (--tailer poll --poll-interval-ms 250), back to back
# in one run so the two compare under the same conditions. The client is bench/stream/streambench.py.
#
#   bench/stream/run.sh          # about 4 minutes; prints Markdown tables at the end
#
# Environment: RJ_BIN (a prebuilt runjournal; otherwise `swift build -c release --scratch-path
# .build-netbench`), MODES (default "inotify poll"), KEEP_RUNTIME=1 keeps the temp directory, and
# STREAMBENCH_ARGS (extra streambench.py measure flags, e.g. "--idle-streams 2000 --idle-seconds 10" for a
# quick check).
#
# Capacity needs: one descriptor per stream in the responder, two per stream in an nginx worker, one per
# stream in the client; the script raises its soft limit to the hard one (the client and the responder do
# the same themselves).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
source "$REPO/bench/http/lib.sh"

MODES=${MODES:-inotify poll}
ulimit -n "$(ulimit -Hn)"

bench_build
bench_setup stream
# nginx is started once (in front of a socket path that each responder re-creates) so only the tailer
# differs between the two configurations.
bench_start_responder --max-streams 20000 --idle-timeout off
bench_start_nginx
echo "nginx $(nginx -v 2>&1 | sed 's/.*: //'), client fd limit $(ulimit -n), $(bench_load)" >&2

RESULTS=()
for mode in $MODES; do
    case $mode in
        inotify) flags=(--tailer inotify) ;;
        poll) flags=(--tailer poll --poll-interval-ms 250) ;;
        *) bench_die "unknown mode $mode (inotify or poll)" ;;
    esac
    bench_start_responder --max-streams 20000 --idle-timeout off "${flags[@]}"
    echo "== $mode: runjournal serve ${flags[*]} (pid $RJ_PID), $(bench_load)" >&2
    # shellcheck disable=SC2086
    timeout 600 python3 "$HERE/streambench.py" measure --port "$PORT" --pid "$RJ_PID" --nginx-pid "$NGINX_PID" \
        --label "$mode" --out "$RUNTIME/$mode.json" ${STREAMBENCH_ARGS:-} \
        || { tail -20 "$RUNTIME/responder.log" "$RUNTIME/error.log" >&2; bench_die "$mode: the stream benchmark failed"; }
    kill -0 "$RJ_PID" 2>/dev/null || bench_die "$mode: the responder died during the benchmark"
    RESULTS+=("$RUNTIME/$mode.json")
done

if grep -q 'setrlimit\|worker_connections are not enough\|Too many open files' "$RUNTIME/error.log"; then
    echo "nginx reported descriptor or connection limits:" >&2
    grep 'setrlimit\|worker_connections are not enough\|Too many open files' "$RUNTIME/error.log" | sort | uniq -c | head -5 >&2
fi
python3 "$HERE/streambench.py" report "${RESULTS[@]}"
if [[ -n ${RESULTS_DIR:-} ]]; then
    mkdir -p "$RESULTS_DIR" && cp "${RESULTS[@]}" "$RESULTS_DIR/"
fi
