#!/usr/bin/env bash
# Runs test targets under ThreadSanitizer or AddressSanitizer and fails on any sanitizer report, from the
# test process or from any `runjournal` child the integration tests start.
#
#   deploy/scripts/sanitize.sh thread                         every test target under TSan
#   deploy/scripts/sanitize.sh address --targets A B ...      only these targets under ASan
#   deploy/scripts/sanitize.sh thread --skip-build ...        reuse the existing sanitized build
#
# Each sanitizer builds into its own scratch path (.build-tsan, .build-asan) so it never disturbs the
# normal .build. The integration tests find `runjournal` beside the running test binary, so they start
# the sanitized one from the same scratch path.
#
# Reports go to files under <scratch>/sanitizer-logs (log_path) rather than stderr: a child's stderr is
# often read or discarded by the test that started it, and the test process's stderr is buried in the
# test output. The script fails if any report file exists after the run, whatever the tests said.
# RUNJOURNAL_SANITIZER is set to the sanitizer's name so that the few tests that pin thread counts or
# timings which the sanitizer's own runtime changes can skip themselves (they print why).
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() { echo "usage: $0 thread|address [--skip-build] [--targets TARGET...]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
sanitizer=$1; shift
case $sanitizer in
    thread) scratch=.build-tsan ;;
    address) scratch=.build-asan ;;
    *) usage ;;
esac

targets=(SystemSupportTests RunJournalTests JournalTailerTests RunsAPITests FastCGIServerTests IntegrationTests)
build=1
while [[ $# -gt 0 ]]; do
    case $1 in
        --skip-build) build=0; shift ;;
        --targets)
            shift
            targets=()
            while [[ $# -gt 0 && $1 != --* ]]; do targets+=("$1"); shift; done
            [[ ${#targets[@]} -gt 0 ]] || usage
            ;;
        *) usage ;;
    esac
done

swift_flags=(--sanitize="$sanitizer" --scratch-path "$scratch")
if [[ $build -eq 1 ]]; then
    start=$SECONDS
    swift build --build-tests "${swift_flags[@]}"
    echo "sanitize.sh: $sanitizer build took $((SECONDS - start)) s"
fi

logs="$PWD/$scratch/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"
# halt_on_error=0 (TSan) lets one run collect every report instead of stopping at the first; the log
# check below fails the run anyway. ASan always stops at its first report.
case $sanitizer in
    thread)
        options="log_path=$logs/tsan halt_on_error=0 second_deadlock_stack=1"
        suppressions=$PWD/deploy/sanitizers/tsan.supp
        [[ -f $suppressions ]] && options+=" suppressions=$suppressions"
        export TSAN_OPTIONS="$options ${TSAN_OPTIONS:-}"
        ;;
    address)
        export ASAN_OPTIONS="log_path=$logs/asan detect_leaks=1 ${ASAN_OPTIONS:-}"
        # print_suppressions=0: a run whose leaks are all suppressed writes no report file.
        export LSAN_OPTIONS="suppressions=$PWD/deploy/sanitizers/lsan.supp print_suppressions=0 ${LSAN_OPTIONS:-}"
        ;;
esac
export RUNJOURNAL_SANITIZER=$sanitizer

failed=()
for target in "${targets[@]}"; do
    echo "=== $target ($sanitizer sanitizer)"
    extra=()
    [[ $target == FastCGIServerTests ]] && extra=(--no-parallel)
    # RUNJOURNAL_SANITIZER_SKIP: a regex of tests to leave out (single-threaded suites that are only slow
    # under the sanitizer).
    [[ -n ${RUNJOURNAL_SANITIZER_SKIP:-} ]] && extra+=(--skip "$RUNJOURNAL_SANITIZER_SKIP")
    start=$SECONDS
    swift test --skip-build "${swift_flags[@]}" --filter "^${target}\." "${extra[@]}" || failed+=("$target")
    echo "sanitize.sh: $target took $((SECONDS - start)) s"
done

reports=("$logs"/*)
if [[ -e ${reports[0]} ]]; then
    echo "sanitize.sh: ${#reports[@]} $sanitizer sanitizer report file(s):" >&2
    for report in "${reports[@]}"; do
        echo "--- $report" >&2
        cat "$report" >&2
    done
    failed+=("sanitizer reports")
fi
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "sanitize.sh: failed: ${failed[*]}" >&2
    exit 1
fi
echo "sanitize.sh: no $sanitizer sanitizer reports; all targets passed"
