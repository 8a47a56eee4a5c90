#!/usr/bin/env bash
# Builds the journal store benchmark in release mode and runs it once, on one scratch directory, printing
# the machine, the load and a Markdown table (the "Journal store" section of docs/benchmarks.md).
#
#   bench/run-store-bench.sh [--quick] [--only single,batch,sync,group,read,single-json]
#
# BENCH_DIR=/path puts the scratch journals on another disk (default: a new directory under bench/.work,
# i.e. the repository's disk). It is removed afterwards unless KEEP_BENCH_DIR=1.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
scratch_parent="${BENCH_DIR:-$here/.work}"
mkdir -p "$scratch_parent"
scratch="$(mktemp -d "$scratch_parent/store-XXXXXX")"
cleanup() { [[ "${KEEP_BENCH_DIR:-0}" == 1 ]] || rm -rf "$scratch"; }
trap cleanup EXIT

echo "Building (release)..." >&2
swift build -c release --package-path "$here" --scratch-path "$here/.build-bench" >&2
binary="$here/.build-bench/release/StoreBench"

echo "## Machine"
echo
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores; memory $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "- kernel $(uname -r); $(swift --version 2>/dev/null | head -1)"
echo "- scratch directory: $scratch on $(df -T "$scratch" | awk 'NR==2 {print $1 " (" $2 ")"}')"
echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo
"$binary" "$scratch" "$@"
echo
echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
