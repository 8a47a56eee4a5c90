#!/usr/bin/env bash
# GET /v1/runs over 100,000 runs through nginx: the listing target is ≤ 1 s per page.
#
#   bench/http/list-runs.sh          # about a minute; RUNS=100000 by default
#
# Cold: the responder's first listing with no .runs.index (it reads every journal once and writes the index).
# Restarted: a new responder process with the index on disk (what a restart costs).
# Warm: later listings of the same process (the summaries are cached; each listing reads the directory and
# stats only the journals it visits).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
source "$HERE/lib.sh"
RUNS=${RUNS:-100000}

bench_build
bench_setup list
echo "bench: writing $RUNS runs" >&2
REPO="$REPO" python3 -c '
import importlib.util, os, sys
spec = importlib.util.spec_from_file_location("opsbench", os.path.join(os.environ["REPO"], "bench/ops-bench.py"))
module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
module.make_runs(sys.argv[1], int(sys.argv[2]))
' "$JOURNAL" "$RUNS"

bench_start_responder --fsync never --idle-timeout off
bench_start_nginx ""
URL="http://127.0.0.1:$PORT"

timed() {  # timed LABEL PATH REPEAT: prints the best and median of curl's total time in ms
    local label=$1 path=$2 repeat=$3 times=()
    for _ in $(seq 1 "$repeat"); do
        times+=("$(curl -s -o /dev/null -w '%{time_total}' "$URL$path")")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk -v label="$label" '{ t[NR] = $1 * 1000 }
        END { printf "| %s | %.0f ms | %.0f ms |\n", label, t[1], t[int((NR + 1) / 2)] }'
}

echo "| GET /v1/runs, $RUNS runs (load $(cut -d' ' -f1 /proc/loadavg)) | best | median |"
echo "| --- | --- | --- |"
timed "cold: first listing, no index" "/v1/runs?limit=100" 1
timed "warm: limit=100" "/v1/runs?limit=100" 7
timed "warm: limit=1000" "/v1/runs?limit=1000" 7
timed "warm: status=failed, limit=100" "/v1/runs?status=failed&limit=100" 7
CURSOR=$(curl -s "$URL/v1/runs?limit=100" | python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"])')
timed "warm: second page (cursor)" "/v1/runs?limit=100&cursor=$CURSOR" 7
bench_start_responder --fsync never --idle-timeout off
timed "restarted: first listing, index on disk" "/v1/runs?limit=100" 1
timed "restarted: status=failed after restart" "/v1/runs?status=failed&limit=100" 1
