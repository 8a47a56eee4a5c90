#!/usr/bin/env bash
# Runs every test: installs what is missing (libfcgi-dev, nginx, lighttpd, curl, wrk), builds, and runs the
# whole suite — unit tests and the integration tests through real nginx and lighttpd on loopback.
set -euo pipefail
cd "$(dirname "$0")/../.."

deploy/scripts/install-deps.sh --test
swift build --build-tests
swift test --skip-build "$@"
