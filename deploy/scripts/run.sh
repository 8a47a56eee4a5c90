#!/usr/bin/env bash
# Runs RunJournal on this machine: the FastCGI responder (`runjournal serve`) behind nginx on
# http://127.0.0.1:8080, journals in ./journal. Ctrl-C stops both.
#
#   deploy/scripts/run.sh [extra `runjournal serve` flags, e.g. --heartbeat 5 --fsync always]
#
# Environment: PORT (default 8080), JOURNAL (default ./journal).
# On a fresh Debian 12 machine it first installs what is missing (libfcgi-dev, nginx; with sudo when not
# root, `apt-get update` only when something is missing). Nothing under /etc is changed: nginx runs from
# the shipped deploy/nginx.conf, substituted into a private runtime directory.
set -euo pipefail
cd "$(dirname "$0")/../.."

PORT=${PORT:-8080}
JOURNAL=${JOURNAL:-./journal}

command -v swift >/dev/null 2>&1 || { echo "run.sh: swift is not on PATH (Swift 6 toolchain required)" >&2; exit 1; }
deploy/scripts/install-deps.sh
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || { echo "run.sh: nginx was not found after installing it" >&2; exit 1; }

swift build -c release
BIN="$(swift build -c release --show-bin-path)/runjournal"
# Private to this user and its group, like the journals serve creates in it (--journal-dir-mode 0750).
mkdir -p -m 0750 "$JOURNAL"

# Short, private runtime directory: a unix socket path must fit in 107 bytes, and only this user (and
# nginx's workers, which run as this user: @USER@) may reach the socket.
RUNTIME=$(mktemp -d "/tmp/runjournal.XXXXXX")
chmod 0700 "$RUNTIME"
mkdir -p "$RUNTIME/temp"
SOCKET="$RUNTIME/runjournal.sock"
sed -e "s|@PREFIX@|$RUNTIME|g" -e "s|@SOCKET@|$SOCKET|g" -e "s|@PORT@|$PORT|g" \
    -e "s|@USER@|$(id -un) $(id -gn)|g" -e "s|@WWW@|$PWD/deploy/www|g" deploy/nginx.conf >"$RUNTIME/nginx.conf"

RJ_PID=""
NGINX_PID=""
cleanup() {
    trap - INT TERM EXIT
    [[ -n $NGINX_PID ]] && kill -TERM "$NGINX_PID" 2>/dev/null || true
    [[ -n $RJ_PID ]] && kill -TERM "$RJ_PID" 2>/dev/null || true
    [[ -n $NGINX_PID ]] && wait "$NGINX_PID" 2>/dev/null || true
    [[ -n $RJ_PID ]] && wait "$RJ_PID" 2>/dev/null || true
    rm -rf "$RUNTIME"
}
trap cleanup INT TERM EXIT

"$BIN" serve --journal "$JOURNAL" --socket "$SOCKET" "$@" &
RJ_PID=$!
for _ in $(seq 1 300); do
    [[ -S $SOCKET ]] && break
    kill -0 "$RJ_PID" 2>/dev/null || { echo "run.sh: runjournal serve exited" >&2; exit 1; }
    sleep 0.1
done
[[ -S $SOCKET ]] || { echo "run.sh: runjournal serve did not create $SOCKET" >&2; exit 1; }

"$NGINX" -p "$RUNTIME/" -e "$RUNTIME/error.log" -c "$RUNTIME/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    kill -0 "$NGINX_PID" 2>/dev/null || { echo "run.sh: nginx exited:" >&2; cat "$RUNTIME/error.log" >&2; exit 1; }
    sleep 0.1
done

URL="http://127.0.0.1:$PORT"
cat <<MSG

RunJournal is serving $URL (journals in $JOURNAL, nginx log in $RUNTIME/error.log). Ctrl-C stops it.

  Open $URL/ in a browser to watch runs live ($URL/runs/<id> for one run).

  curl -s -X POST $URL/v1/runs -H 'Content-Type: application/json' -d '{"id":"demo"}'
  curl -N $URL/v1/runs/demo/events &
  curl -s -X POST $URL/v1/runs/demo/events -H 'Content-Type: application/json' -d '{"type":"log","data":{"line":"hello"}}'

MSG

# Whichever exits first (or Ctrl-C) stops the other.
wait -n "$RJ_PID" "$NGINX_PID" || true
