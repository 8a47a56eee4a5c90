#!/usr/bin/env bash
# `runjournal exec` figures (the "runjournal exec" section of docs/benchmarks.md):
#   1. lines/s sustained with --fsync always: a child printing LINES lines as fast as it can (seq);
#   2. the latency a lone line adds: a child that prints its own clock (ms) once every 200 ms, compared
#      with the `ts` the journal gave the line's event (both wall clock, millisecond resolution).
#
#   bench/exec/run.sh [LINES]          RUNJOURNAL=path/to/runjournal (default .build/release, else debug)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
lines="${1:-1000000}"
binary="${RUNJOURNAL:-}"
if [[ -z "$binary" ]]; then
    binary="$root/.build/release/runjournal"
    [[ -x "$binary" ]] || binary="$root/.build/debug/runjournal"
fi
scratch="$(mktemp -d "${BENCH_DIR:-/tmp}/exec-bench-XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

echo "- binary: $binary"
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- scratch: $scratch on $(df -T "$scratch" | awk 'NR==2 {print $2}')"
echo

start=$(date +%s%N)
"$binary" exec --journal "$scratch" --id throughput --fsync always -- seq 1 "$lines" 2>/dev/null
end=$(date +%s%N)
journal="$scratch/throughput.jsonl"
batches=$(grep '"type":"stdout"' "$journal" | grep -vc '"more":true' || true)
python3 - "$lines" "$start" "$end" "$batches" <<'PY'
import sys
lines, start, end, batches = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
seconds = (end - start) / 1e9
print(f"| throughput, --fsync always | {lines:,} lines in {seconds:.2f} s = **{lines / seconds:,.0f} lines/s** | {batches:,} batches (fsyncs), {lines / max(batches, 1):,.0f} lines per batch |")
PY

"$binary" exec --journal "$scratch" --id latency --fsync always -- \
    sh -c 'for i in $(seq 1 50); do date +%s%3N; sleep 0.2; done' 2>/dev/null
python3 - "$scratch/latency.jsonl" <<'PY'
import json, sys, datetime, statistics
delays = []
for raw in open(sys.argv[1]):
    event = json.loads(raw)
    if event["type"] != "stdout":
        continue
    printed = int(event["data"]["line"])
    ts = datetime.datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))
    delays.append(int(ts.timestamp() * 1000) - printed)
delays.sort()
p = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))]
print(f"| lone line, --fsync always | {len(delays)} lines: median **{statistics.median(delays):.0f} ms**, p90 {p(0.9)} ms, max {delays[-1]} ms | from the child's clock read to the event's ts (ms resolution; the ts is taken before the write and fsync) |")
PY
