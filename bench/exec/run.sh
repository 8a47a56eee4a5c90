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

# A lone line every 200 ms: the latency exec adds, child's clock read (date +%s%N) → a poller (every
# 0.2 ms) sees the line in the journal file (written; its fsync follows before the next append), and → the
# event's ts (taken when the batch is formatted, before its write and fsync; ms resolution).
python3 - "$binary" "$scratch" <<'PY'
import json, os, subprocess, sys, time, statistics, datetime
binary, scratch = sys.argv[1], sys.argv[2]
path = os.path.join(scratch, "lone.jsonl")
child = subprocess.Popen([binary, "exec", "--journal", scratch, "--id", "lone", "--fsync", "always", "--",
                          "sh", "-c", "for i in $(seq 1 50); do date +%s%N; sleep 0.2; done"], stderr=subprocess.DEVNULL)
seen, stamped, offset, pending = [], [], 0, b""
while True:
    running = child.poll() is None
    size = os.path.getsize(path) if os.path.exists(path) else 0
    if size > offset:
        now = time.time_ns()
        with open(path, "rb") as f:
            f.seek(offset); chunk = f.read()
        offset += len(chunk)
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            event = json.loads(line)
            if event["type"] != "stdout":
                continue
            printed = int(event["data"]["line"])
            seen.append((now - printed) / 1e6)
            ts = datetime.datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))
            stamped.append(int(ts.timestamp() * 1000) - printed // 1_000_000)
    elif not running:
        break
    time.sleep(0.0002)
def row(name, values, unit):
    values = sorted(values)
    print(f"| lone line → {name}, --fsync always | {len(values)} lines: median **{statistics.median(values):.1f} ms**, "
          f"p90 {values[int(0.9 * len(values))]:.1f} ms, max {values[-1]:.1f} ms | {unit} |")
row("in the journal file", seen, "child's clock read → a poller sees the line in the file")
row("event ts", stamped, "child's clock read → the event's ts (ms resolution)")
PY
