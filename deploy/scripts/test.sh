#!/usr/bin/env bash
# Runs every test: installs what is missing (libfcgi-dev, nginx, lighttpd, curl, wrk, jq, e2fsprogs, ...),
# builds, and runs the whole suite — unit tests and the integration tests through real nginx and lighttpd on
# loopback — then ThreadSanitizer over three targets and each libFuzzer target in Fuzz/ briefly.
#
#   deploy/scripts/test.sh                 every test target, one after another, then the
#                                          ThreadSanitizer subset below
#   deploy/scripts/test.sh --filter NAME   passed on to `swift test` (one run, no sanitizer)
#   RUNJOURNAL_SKIP_SANITIZER=1 deploy/scripts/test.sh   every target, without the sanitizer subset
#
# Each test target runs in its own `swift test` process: several targets measure process-wide things
# (thread counts, descriptors, inotify instances, read syscalls) and run servers whose blocking waits would
# otherwise compete for the 2-core machine's small Swift concurrency pool with unrelated suites.
set -euo pipefail
cd "$(dirname "$0")/../.."

deploy/scripts/install-deps.sh --test
swift build --build-tests

if [[ $# -gt 0 ]]; then
    exec swift test --skip-build "$@"
fi

targets=(SystemSupportTests RunJournalTests JournalTailerTests RunsAPITests ServeConfigurationTests FastCGIServerTests IntegrationTests)
failed=()
for target in "${targets[@]}"; do
    echo "=== $target"
    # FastCGIServerTests counts the process's threads after bursts: run its tests one at a time.
    extra=()
    [[ $target == FastCGIServerTests ]] && extra=(--no-parallel)
    swift test --skip-build --filter "^${target}\." "${extra[@]}" || failed+=("$target")
done
# ThreadSanitizer over the targets whose code the compiler cannot check for data races: the store's and
# the FastCGI server's state behind pthread locks (nonisolated(unsafe)) and its stream loop, the tailer's
# shared followers and sync workers, the live streams' wakers and lifecycle thread.
# It builds separately, into .build-tsan (what that costs: docs/sanitizers.md). The whole suite under
# either sanitizer is deploy/scripts/sanitize.sh thread|address.
if [[ ${RUNJOURNAL_SKIP_SANITIZER:-0} != 1 ]]; then
    echo "=== ThreadSanitizer: SystemSupportTests RunJournalTests JournalTailerTests RunsAPITests FastCGIServerTests"
    # The reader's seek sweep and the every-byte cuts are single-threaded and take minutes under TSan.
    RUNJOURNAL_SANITIZER_SKIP='ReaderTests|TruncationTests' \
        deploy/scripts/sanitize.sh thread --targets SystemSupportTests RunJournalTests JournalTailerTests RunsAPITests FastCGIServerTests \
        || failed+=("ThreadSanitizer")
fi

# Coverage-guided fuzzing of the parsers that read untrusted bytes, briefly (Fuzz/README.md has the long run).
echo "=== Fuzz"
Fuzz/run.sh 20 || failed+=("Fuzz")
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "test.sh: failed: ${failed[*]}" >&2
    exit 1
fi
echo "test.sh: all test targets passed"
