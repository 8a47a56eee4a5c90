#!/usr/bin/env bash
# Installs the Debian packages RunJournal needs to build, run and test, if any is missing.
# Usage: deploy/scripts/install-deps.sh [--test]   (--test adds what the test suite needs: lighttpd, wrk, jq, and
# e2fsprogs, util-linux and mount for the disk-fault tests, which build ext4 filesystems on loop devices;
# chromium for the browser tests (EventSource at the stream cap, the viewer), systemd for `systemd-analyze
# verify` of the shipped units;
# prometheus, whose promtool checks the /metrics scrape and whose server scrapes it in the metrics tests)
set -euo pipefail

packages=(libfcgi-dev nginx-light curl)
if [[ "${1:-}" == "--test" ]]; then
    packages+=(lighttpd wrk procps jq e2fsprogs util-linux mount)
    packages+=(chromium systemd prometheus)
fi

missing=()
for package in "${packages[@]}"; do
    # nginx-light and nginx-core both provide a usable nginx binary.
    if [[ "$package" == nginx-light ]] && command -v nginx >/dev/null 2>&1; then continue; fi
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged web servers on port 80 (and Prometheus on 9090) after install; the tests and the
# run script start their own on loopback ports, so stop the system ones (they would only get in the way).
for service in nginx lighttpd prometheus; do
    if command -v service >/dev/null 2>&1; then "${sudo[@]}" service "$service" stop >/dev/null 2>&1 || true; fi
done
