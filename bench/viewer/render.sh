#!/usr/bin/env bash
# The viewer with a run of 100,000 events: headless Chromium opens /runs/<id> through nginx and the time
# until every event has arrived and been counted is measured in the page (bench/viewer/harness.html), with
# the longest gap between animation frames meanwhile (the page's worst unresponsive moment).
#
#   bench/viewer/render.sh          # EVENTS=100000 by default; RJ_BIN=path skips the release build
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
source "$REPO/bench/http/lib.sh"
EVENTS=${EVENTS:-100000}
RUNS=${RUNS:-3}
command -v chromium >/dev/null 2>&1 || bench_die "chromium is not installed (deploy/scripts/install-deps.sh --test)"

bench_build
bench_setup viewer
chmod 0755 "$RUNTIME"
cp "$HERE/harness.html" "$RUNTIME/htdocs/"
bench_start_responder --fsync never --idle-timeout off
bench_start_nginx "        location = /harness.html { root $RUNTIME/htdocs; }"
URL="http://127.0.0.1:$PORT"

curl -sf -X POST "$URL/v1/runs" -H 'Content-Type: application/json' -d '{"id":"big"}' >/dev/null
# stdout lines with, every 100th event, a structured one; in batches that fit the 1 MiB body limit.
python3 - "$EVENTS" <<'PY' >"$RUNTIME/events.ndjson"
import json, sys
n = int(sys.argv[1]) - 2
print(json.dumps({"type": "run.started", "data": {"argv": ["./job.sh"]}}))
for i in range(1, n):
    if i % 100 == 0:
        print(json.dumps({"type": "progress", "data": {"done": i, "of": n}}))
    else:
        print(json.dumps({"type": "stdout", "data": {"line": f"[{i}] compiling module {i % 997} with a line of ordinary length"}}))
print(json.dumps({"type": "run.completed", "data": {"exit_code": 0}}))
PY
split -l 8000 "$RUNTIME/events.ndjson" "$RUNTIME/batch."
for batch in "$RUNTIME"/batch.*; do
    curl -sf -X POST "$URL/v1/runs/big/events" -H 'Content-Type: application/x-ndjson' --data-binary "@$batch" >/dev/null
done
last=$(curl -sf "$URL/v1/runs/big" | python3 -c 'import json,sys; print(json.load(sys.stdin)["last_seq"])')
echo "bench: run big has $last events; $(bench_load)" >&2

echo "| run | events | all shown after | longest frame | rows in the DOM |"
echo "| --- | --- | --- | --- | --- |"
for i in $(seq 1 "$RUNS"); do
    curl -sf -X POST "$URL/v1/runs" -H 'Content-Type: application/json' -d "{\"id\":\"report-$i\"}" >/dev/null
    profile=$(mktemp -d "$RUNTIME/chromium.XXXXXX")
    chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --user-data-dir="$profile" \
        --window-size=1200,900 --remote-debugging-port=0 \
        "$URL/harness.html?run=big&events=$last&report=report-$i" >"$profile/log" 2>&1 &
    browser=$!
    for _ in $(seq 1 1200); do
        grep -q '"type":"result"' "$JOURNAL/report-$i.jsonl" 2>/dev/null && break
        sleep 0.25
    done
    kill -KILL "$browser" 2>/dev/null || true
    wait "$browser" 2>/dev/null || true
    python3 - "$JOURNAL/report-$i.jsonl" "$i" <<'PY'
import json, sys
results = [json.loads(l)["data"] for l in open(sys.argv[1]) if '"type":"result"' in l]
if not results:
    sys.exit("bench: the page never reported a result")
r = results[0]
print(f"| {sys.argv[2]} | {r['events']} | {r['render_ms']} ms | {r['longest_frame_ms']} ms | {r['dom_rows']} |")
PY
done
echo "($(bench_load))"
