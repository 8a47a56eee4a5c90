#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for a while over a scratch copy of its committed seed corpus.
#
#   Fuzz/run.sh [seconds-per-target] [target...]    default 30 s, every target
#
# Targets (Sources/Fuzz<Name>, seeds in corpus/<dir>): JSONCompactor (json-compactor), NDJSON (ndjson),
# JournalLines (journal-lines), JournalSeek (journal-seek), RequestDecoder (request-decoder). They run one
# after another with one worker each (the machines have two cores). Exits non-zero if any target crashed or
# broke a property; the failing input is kept in Fuzz/.build-fuzz/artifacts/ (reproduce:
# Fuzz/.build-fuzz/debug/Fuzz<Name> FILE).
# The committed corpus is never written to; see README.md for growing it.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${1:-30}
shift || true
all=(JSONCompactor:json-compactor NDJSON:ndjson JournalLines:journal-lines JournalSeek:journal-seek RequestDecoder:request-decoder)
selected=()
if [[ $# -eq 0 ]]; then
    selected=("${all[@]}")
else
    for name in "$@"; do
        match=""
        for entry in "${all[@]}"; do [[ ${entry%%:*} == "$name" ]] && match=$entry; done
        [[ -n $match ]] || { echo "run.sh: unknown target $name (known: ${all[*]%%:*})" >&2; exit 2; }
        selected+=("$match")
    done
fi

# libfcgi-dev for the FastCGIServer module; libFuzzer and ASan come with the Swift toolchain (clang's runtime).
../deploy/scripts/install-deps.sh
toolchain=$(dirname "$(dirname "$(readlink -f "$(command -v swiftc)")")")
if ! compgen -G "$toolchain/lib/clang/*/lib/linux/libclang_rt.fuzzer*-x86_64.a" >/dev/null \
    && ! compgen -G "$toolchain/lib/swift/clang/lib/linux/libclang_rt.fuzzer*-x86_64.a" >/dev/null; then
    echo "run.sh: the Swift toolchain at $toolchain has no libFuzzer runtime (libclang_rt.fuzzer)" >&2
    exit 1
fi

scratch=.build-fuzz
swift build -c debug -Xswiftc -sanitize=fuzzer,address --scratch-path "$scratch" 2>&1 \
    | grep -v 'ld.gold: warning: Cannot export local symbol' || { echo "run.sh: build failed" >&2; exit 1; }
bin="$scratch/debug"
artifacts="$scratch/artifacts"
mkdir -p "$artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Swift's own crash backtracer would compete with ASan's report; a property failure aborts, which
# libFuzzer reports as a crash with the input saved.
export SWIFT_BACKTRACE=enable=no

failed=()
summary=()
for entry in "${selected[@]}"; do
    name=${entry%%:*}
    corpus=${entry##*:}
    echo "=== Fuzz$name: ${seconds}s over corpus/$corpus"
    cp -r "corpus/$corpus" "$work/$corpus"
    log="$work/$name.log"
    status=0
    "$bin/Fuzz$name" -max_total_time="$seconds" -workers=1 -timeout=20 -print_final_stats=1 \
        -artifact_prefix="$artifacts/$name-" "$work/$corpus" >"$log" 2>&1 || status=$?
    # The last status line carries coverage (cov: edges, ft: features) and the corpus; the final stats the rest.
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    features=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    units=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
    line="Fuzz$name: ${executions:-?} executions, ${rate:-?}/s, cov ${cov:-?}, ft ${features:-?}, corpus ${units:-?}"
    if [[ $status -ne 0 ]]; then
        # The property message or sanitizer report, and where the input was saved.
        grep -E 'property failed|ERROR: (AddressSanitizer|libFuzzer)|^SUMMARY|Test unit written|deadly signal|Fatal error' "$log" | head -20 >&2 || true
        echo "--- last lines of the log:" >&2
        tail -30 "$log" >&2
        failed+=("Fuzz$name")
        line+="  FAILED (exit $status)"
    fi
    echo "$line"
    summary+=("$line")
done

echo "=== fuzzing summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "run.sh: failed: ${failed[*]} (inputs in Fuzz/$artifacts)" >&2
    exit 1
fi
