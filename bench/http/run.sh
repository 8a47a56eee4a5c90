#!/usr/bin/env bash
# HTTP API through nginx: short requests with wrk against `runjournal serve` behind the shipped
# deploy/nginx.conf, next to nginx serving a static file of the same size and type from the same server,
# in one run so the ratios compare like with like.
#
#   bench/http/run.sh            # about 1.5 minutes; prints a Markdown table at the end
#
# Environment: DURATION (seconds per measurement, default 10), CONNECTIONS (64), THREADS (2),
# RJ_BIN (a prebuilt runjournal; otherwise `swift build -c release --scratch-path .build-netbench`),
# KEEP_RUNTIME=1 keeps the temp directory (logs, journals, nginx.conf) for inspection.
#
# Order: static, GET, POST (--fsync never), responder restarted with --fsync always, POST, GET, static.
# Static and GET are each measured twice, bracketing the rest, and averaged: the machine is shared, and a
# drift in its load shows up as a difference between the two measurements of the same thing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
source "$HERE/lib.sh"

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
WRK=$(command -v wrk || true)
[[ -n $WRK ]] || bench_die "wrk is not installed (apt-get install wrk)"

bench_build
bench_setup http
STATIC_LOCATION="        location = /static/run.json { root $RUNTIME/htdocs; rewrite ^ /run.json break; default_type application/json; }"
bench_start_responder --fsync never --idle-timeout off
bench_start_nginx "$STATIC_LOCATION"
URL="http://127.0.0.1:$PORT"

# The run that GET reads: created with metadata and a few events, so its summary is a realistic size.
curl -fsS -o /dev/null -X POST "$URL/v1/runs" -H 'Content-Type: application/json' \
    -d '{"id":"bench-get","metadata":{"pipeline":"nightly","commit":"0123456789abcdef","owner":"bench"}}'
for i in 1 2 3; do
    curl -fsS -o /dev/null -X POST "$URL/v1/runs/bench-get/events" -H 'Content-Type: application/json' \
        -d "{\"type\":\"step\",\"data\":{\"n\":$i}}"
done
curl -fsS -o /dev/null -X POST "$URL/v1/runs" -H 'Content-Type: application/json' -d '{"id":"bench-post-never"}'
curl -fsS -o /dev/null -X POST "$URL/v1/runs" -H 'Content-Type: application/json' -d '{"id":"bench-post-always"}'
# The static file is the run's own GET answer: same bytes, same Content-Type.
curl -fsS -o "$RUNTIME/htdocs/run.json" "$URL/v1/runs/bench-get"
curl -fsS -o /dev/null "$URL/static/run.json" || bench_die "nginx does not serve the static file"
echo "GET /v1/runs/bench-get answers $(wc -c <"$RUNTIME/htdocs/run.json") bytes: $(cat "$RUNTIME/htdocs/run.json")" >&2

declare -A RESULT
# measure NAME SCRIPT PATH: one wrk run; its WRKRESULT line is kept under NAME.
measure() {
    local name=$1 script=$2 path=$3 out line
    echo "== $name: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s $path ($(bench_load))" >&2
    out=$("$WRK" -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$HERE/$script" "$URL$path")
    line=$(grep '^WRKRESULT ' <<<"$out") || { echo "$out" >&2; bench_die "wrk printed no result for $name"; }
    echo "   ${line#WRKRESULT }" >&2
    RESULT[$name]="${line#WRKRESULT } load=$(cut -d' ' -f1 /proc/loadavg)"
}
field() { sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"${RESULT[$1]}"; }

# Short warm-up (page cache, nginx and responder worker threads), not reported.
"$WRK" -t"$THREADS" -c"$CONNECTIONS" -d2s "$URL/static/run.json" >/dev/null
"$WRK" -t"$THREADS" -c"$CONNECTIONS" -d2s "$URL/v1/runs/bench-get" >/dev/null

measure static1 get.lua /static/run.json
measure get1 get.lua /v1/runs/bench-get
measure post_never post.lua /v1/runs/bench-post-never/events
bench_start_responder --fsync always --idle-timeout off
"$WRK" -t"$THREADS" -c"$CONNECTIONS" -d2s "$URL/v1/runs/bench-get" >/dev/null
measure post_always post.lua /v1/runs/bench-post-always/events
measure get2 get.lua /v1/runs/bench-get
measure static2 get.lua /static/run.json

# Every acknowledged append is in the journal: lines = run.created + appends (+ at most one in-flight
# request per connection that wrk stopped counting when the time was up).
for mode in never always; do
    lines=$(wc -l <"$JOURNAL/bench-post-$mode.jsonl")
    acked=$(field "post_$mode" requests)
    bad=$(field "post_$mode" bad)
    appended=$((lines - 1))
    if (( bad != 0 || appended < acked || appended > acked + CONNECTIONS )); then
        bench_die "fsync $mode: wrk counted $acked answers ($bad bad) but the journal holds $appended appends"
    fi
    echo "fsync $mode: $acked appends acknowledged, $appended in the journal (ok)" >&2
done
for name in static1 get1 get2 static2; do
    (( $(field $name bad) == 0 )) || bench_die "$name: $(field $name bad) bad responses"
done

python3 - "$DURATION" "$CONNECTIONS" "$THREADS" \
    "static1 ${RESULT[static1]}" "static2 ${RESULT[static2]}" "get1 ${RESULT[get1]}" "get2 ${RESULT[get2]}" \
    "post_never ${RESULT[post_never]}" "post_always ${RESULT[post_always]}" <<'PY'
import sys
duration, connections, threads = sys.argv[1:4]
rows = {}
for arg in sys.argv[4:]:
    name, *pairs = arg.split()
    rows[name] = {k: float(v) for k, v in (p.split("=", 1) for p in pairs)}
static_rps = (rows["static1"]["rps"] + rows["static2"]["rps"]) / 2
def line(label, names):
    rps = sum(rows[n]["rps"] for n in names) / len(names)
    p50 = max(rows[n]["p50_us"] for n in names) / 1000
    p99 = max(rows[n]["p99_us"] for n in names) / 1000
    loads = "/".join(f'{rows[n]["load"]:.1f}' for n in names)
    runs = " + ".join(f'{rows[n]["rps"]:,.0f}' for n in names)
    print(f"| {label} | {rps:,.0f} ({runs}) | {p50:.2f} | {p99:.2f} | {100 * rps / static_rps:.0f} % | {loads} |")
print(f"\nwrk -t{threads} -c{connections} -d{duration}s --latency, through nginx on loopback\n")
print("| request | req/s (each measurement) | p50 ms | p99 ms | of static | load avg (1 min) |")
print("|---|---:|---:|---:|---:|---:|")
line("nginx static file (same bytes as GET)", ["static1", "static2"])
line("GET /v1/runs/:id", ["get1", "get2"])
line("POST /v1/runs/:id/events, --fsync never", ["post_never"])
line("POST /v1/runs/:id/events, --fsync always", ["post_always"])
print("\n(p50/p99: the worse of the measurements; req/s: their mean)")
PY
