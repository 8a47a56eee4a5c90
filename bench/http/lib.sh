# Shared by bench/http/run.sh and bench/stream/run.sh (sourced, not run): build the release responder,
# start `runjournal serve` and nginx from the shipped deploy/nginx.conf on loopback in a private temp
# directory, stop them, and clean up on exit. Everything is bounded in time: a server that does not come
# up within its deadline aborts the benchmark with its log.
#
# Uses: REPO (repository root). Sets: BIN, RUNTIME, SOCKET, PORT, JOURNAL, RJ_PID, NGINX_PID.

BENCH_SCRATCH=${BENCH_SCRATCH:-.build-netbench}

bench_die() { echo "bench: $*" >&2; exit 1; }

# RJ_BIN=/path/to/runjournal skips the build (e.g. a binary built from a snapshot of the tree).
bench_build() {
    if [[ -n ${RJ_BIN:-} ]]; then
        BIN=$RJ_BIN
    else
        (cd "$REPO" && swift build -c release --scratch-path "$BENCH_SCRATCH" --product runjournal) >&2 \
            || bench_die "release build failed (set RJ_BIN to a prebuilt runjournal to skip it)"
        BIN="$REPO/$BENCH_SCRATCH/release/runjournal"
    fi
    [[ -x $BIN ]] || bench_die "no runjournal executable at $BIN"
    command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || bench_die "nginx is not installed"
}

# A free loopback TCP port (bound and released; the tiny race with other programs is acceptable here).
bench_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# bench_setup NAME: the private runtime directory (short path: a unix socket path must fit in 107 bytes).
bench_setup() {
    RUNTIME=$(mktemp -d "/tmp/rj-$1.XXXXXX")
    chmod 0700 "$RUNTIME"
    mkdir -p "$RUNTIME/temp" "$RUNTIME/htdocs" "$RUNTIME/journal"
    SOCKET="$RUNTIME/rj.sock"
    JOURNAL="$RUNTIME/journal"
    PORT=$(bench_free_port)
    RJ_PID=""
    NGINX_PID=""
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    trap - EXIT
    bench_stop_responder
    if [[ -n ${NGINX_PID:-} ]]; then
        kill -TERM "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
        NGINX_PID=""
    fi
    if [[ -n ${KEEP_RUNTIME:-} ]]; then
        echo "bench: runtime directory kept: $RUNTIME" >&2
    else
        [[ -n ${RUNTIME:-} ]] && rm -rf "$RUNTIME"
    fi
}

# bench_start_responder [serve flags...]: (re)starts the responder on $SOCKET with a fresh log.
bench_start_responder() {
    bench_stop_responder
    rm -f "$SOCKET"
    "$BIN" serve --journal "$JOURNAL" --socket "$SOCKET" "$@" >>"$RUNTIME/responder.log" 2>&1 &
    RJ_PID=$!
    local i
    for i in $(seq 1 300); do
        [[ -S $SOCKET ]] && return 0
        kill -0 "$RJ_PID" 2>/dev/null || { tail -20 "$RUNTIME/responder.log" >&2; bench_die "runjournal serve exited"; }
        sleep 0.1
    done
    bench_die "runjournal serve did not create $SOCKET within 30 s"
}

bench_stop_responder() {
    if [[ -n ${RJ_PID:-} ]]; then
        kill -TERM "$RJ_PID" 2>/dev/null || true
        # Its stop grace is 5 s; after 15 s it is killed.
        local i
        for i in $(seq 1 150); do kill -0 "$RJ_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$RJ_PID" 2>/dev/null || true
        wait "$RJ_PID" 2>/dev/null || true
        RJ_PID=""
    fi
}

# bench_start_nginx [extra server-block directives]: deploy/nginx.conf with its placeholders substituted,
# exactly as deploy/scripts/run.sh does; the optional text is inserted into the server block (the HTTP
# benchmark adds a static-file location there so both are measured through the same server). The per-client
# stream cap is raised (to 65535, the most nginx accepts): a benchmark opens thousands of streams from one address.
bench_start_nginx() {
    local extra=${1:-}
    sed -e "s|@PREFIX@|$RUNTIME|g" -e "s|@SOCKET@|$SOCKET|g" -e "s|@PORT@|$PORT|g" \
        -e "s|@USER@|$(id -un) $(id -gn)|g" -e "s|@WWW@|$REPO/deploy/www|g" \
        -e "s|limit_conn runjournal_streams_per_client [0-9]*;|limit_conn runjournal_streams_per_client 65535;|" "$REPO/deploy/nginx.conf" >"$RUNTIME/nginx.conf"
    if [[ -n $extra ]]; then
        EXTRA="$extra" python3 - "$RUNTIME/nginx.conf" <<'PY'
import os, sys
path = sys.argv[1]
text = open(path).read()
anchor = "        server_name localhost;\n"
if anchor not in text:
    sys.exit("bench: deploy/nginx.conf has no 'server_name localhost;' line to insert the static location after")
open(path, "w").write(text.replace(anchor, anchor + os.environ["EXTRA"] + "\n", 1))
PY
    fi
    bench_launch_nginx
}

# bench_launch_nginx: runs nginx on $RUNTIME/nginx.conf (already written) and waits until it listens on $PORT.
bench_launch_nginx() {
    local nginx
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
    "$nginx" -p "$RUNTIME/" -e "$RUNTIME/error.log" -c "$RUNTIME/nginx.conf" -g 'daemon off;' \
        >>"$RUNTIME/nginx.out" 2>&1 &
    NGINX_PID=$!
    local i
    for i in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
        kill -0 "$NGINX_PID" 2>/dev/null || { cat "$RUNTIME/error.log" "$RUNTIME/nginx.out" >&2; bench_die "nginx exited"; }
        sleep 0.1
    done
    bench_die "nginx did not listen on 127.0.0.1:$PORT within 10 s"
}

# One line describing the machine and its load right now (the machine is shared: every result carries it).
bench_load() {
    echo "load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
}
