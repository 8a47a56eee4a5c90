#!/usr/bin/env python3
"""Live-stream benchmark client for RunJournal (bench/stream/run.sh drives it; Python 3.11 stdlib only).

Everything goes through nginx over raw HTTP/1.1 on loopback, as a browser's EventSource would:
GET /v1/runs/<id>/events, nginx answers with chunked transfer encoding, and the client de-chunks and
parses the Server-Sent Events itself.

  streambench.py measure --port P --pid RESPONDER_PID --nginx-pid PID --label inotify --out result.json
  streambench.py report inotify.json poll.json     # Markdown tables for docs/benchmarks.md

`measure` runs, against one responder:
  1. latency  one subscriber; a separate writer process POSTs events (through nginx) at a modest rate, each
              carrying its send time (CLOCK_MONOTONIC, shared by all processes); the subscriber timestamps
              the receipt of the chunk that carries it.
  2. idle     N streams spread over R runs: CPU of the responder over a quiet window with the first
              `--idle-cpu-streams`, then ramped to `--idle-streams` with the responder's RSS, threads and
              descriptors; every stream must stay open and receive only heartbeats.
  3. fan-out  S subscribers on one run, a writer POSTing single events at a fixed rate; every subscriber
              must receive every event exactly once, in order.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import resource
import socket
import statistics
import sys
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
ID_RE = re.compile(rb"^id: (\d+)$", re.M)
SENT_RE = re.compile(rb'"sent_ns":(\d+)')


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def load_average() -> list[float]:
    return [float(x) for x in open("/proc/loadavg").read().split()[:3]]


# ----------------------------------------------------------------------------------------------------------
# /proc readings

def cpu_ticks(pid: int) -> int:
    """utime + stime of the whole process (all threads), in clock ticks."""
    text = open(f"/proc/{pid}/stat").read()
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def proc_status(pid: int) -> dict:
    status = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            status[key] = int(value.split()[0])
    status["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return {"rss_kib": status["VmRSS"], "hwm_kib": status["VmHWM"], "threads": status["Threads"], "fds": status["fds"]}


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(text[text.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry))
    return sorted(found)


class CPUWindow:
    """CPU used by a set of processes between start() and stop(), as a share of one core."""

    def __init__(self, pids: list[int]):
        self.pids = pids

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.ticks0 = {pid: cpu_ticks(pid) for pid in self.pids}

    def stop(self) -> dict:
        seconds = time.monotonic() - self.t0
        used = sum(cpu_ticks(pid) - self.ticks0[pid] for pid in self.pids) / CLK_TCK
        return {"seconds": round(seconds, 2), "cpu_seconds": round(used, 3), "core_percent": round(100 * used / seconds, 3)}


# ----------------------------------------------------------------------------------------------------------
# HTTP helpers (setup only: urllib through nginx)

def http_json(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def create_run(port: int, run_id: str) -> int:
    status, body = http_json(port, "POST", "/v1/runs", {"id": run_id, "metadata": {"bench": "stream"}})
    if status != 201:
        raise SystemExit(f"creating run {run_id} answered {status}: {body}")
    return body["last_seq"]


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def latency_summary(samples_ns: list[int]) -> dict:
    values = sorted(v / 1e6 for v in samples_ns)
    if not values:
        return {"samples": 0}
    return {
        "samples": len(values),
        "p50_ms": round(percentile(values, 50), 3),
        "p90_ms": round(percentile(values, 90), 3),
        "p99_ms": round(percentile(values, 99), 3),
        "max_ms": round(values[-1], 3),
        "mean_ms": round(statistics.fmean(values), 3),
    }


# ----------------------------------------------------------------------------------------------------------
# The SSE subscriber

class StreamError(Exception):
    pass


class SSESubscriber(asyncio.Protocol):
    """One raw HTTP/1.1 SSE connection through nginx.

    De-chunking without a per-chunk Python loop: the SSE payload never contains a CR (the frames are
    `field: value\\n` lines and the data is compact JSON, which escapes control characters), so every CRLF
    in the byte stream belongs to the chunked framing `<hex>CRLF<payload>CRLF`. Splitting on CRLF therefore
    alternates size lines and payloads; each size is checked against its payload all the same.
    """

    def __init__(self, path: str, port: int, sample_latency: bool = False):
        self.request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
                        f"Cache-Control: no-cache\r\n\r\n").encode()
        self.sample_latency = sample_latency
        self.ready = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.head_done = False
        self.raw = b""  # undecoded chunked bytes after the last CRLF
        self.expect_size = True  # the next CRLF-terminated piece is a chunk size line
        self.pending_size = -1
        self.sse = b""  # de-chunked bytes after the last complete frame
        self.got_retry = False
        self.next_id: int | None = None
        self.events = 0
        self.heartbeats = 0
        self.order_errors = 0
        self.first_error: str | None = None
        self.last_id = 0
        self.latencies: list[int] = []
        self.last_receipt_ns = 0
        self.done_at_id: int | None = None
        self.done = None

    def expect_last(self, last_id: int) -> asyncio.Future:
        self.done_at_id = last_id
        self.done = asyncio.get_running_loop().create_future()
        if self.last_id >= last_id:
            self.done.set_result(True)
        return self.done

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def fail(self, message: str) -> None:
        if self.first_error is None:
            self.first_error = message
        if not self.ready.done():
            self.ready.set_exception(StreamError(message))
        if self.transport:
            self.transport.abort()

    def connection_lost(self, exc) -> None:
        message = f"connection closed by the server ({exc})" if exc else "connection closed by the server"
        if not self.ready.done():
            self.ready.set_exception(StreamError(message))
        if not self.closed.done():
            self.closed.set_result(message)
        if self.done is not None and not self.done.done():
            self.done.set_result(False)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        if not self.head_done:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, data = self.head[:end].decode("latin-1"), self.head[end + 4:]
            self.head_done = True
            status = head.split("\r\n", 1)[0]
            lower = head.lower()
            if " 200 " not in status + " ":
                return self.fail(f"status {status!r}")
            if "text/event-stream" not in lower or "transfer-encoding: chunked" not in lower:
                return self.fail(f"unexpected response head: {head!r}")
        self.raw += data
        pieces = self.raw.split(b"\r\n")
        self.raw = pieces.pop()
        payload = []
        for piece in pieces:
            if self.expect_size:
                self.pending_size = int(piece.split(b";", 1)[0], 16)
                if self.pending_size == 0:
                    return self.fail("the stream ended (last chunk)")
            else:
                if len(piece) != self.pending_size:
                    return self.fail(f"chunk of {len(piece)} bytes announced as {self.pending_size}")
                payload.append(piece)
            self.expect_size = not self.expect_size
        if not payload:
            return
        self.sse += b"".join(payload)
        cut = self.sse.rfind(b"\n\n")
        if cut < 0:
            return
        frames, self.sse = self.sse[:cut + 2], self.sse[cut + 2:]
        if not self.got_retry:
            if not frames.startswith(b"retry: "):
                return self.fail(f"first frame is not retry: {frames[:40]!r}")
            self.got_retry = True
            self.ready.set_result(True)
        self.last_receipt_ns = now
        if frames.find(b": heartbeat") >= 0:
            self.heartbeats += frames.count(b": heartbeat\n\n")
        ids = ID_RE.findall(frames)
        if not ids:
            return
        values = list(map(int, ids))
        start = values[0] if self.next_id is None else self.next_id
        if values != list(range(start, start + len(values))):
            self.order_errors += 1
            if self.first_error is None:
                self.first_error = f"expected ids from {start}, got {values[:5]}..."
        self.next_id = values[-1] + 1
        self.last_id = values[-1]
        self.events += len(values)
        if self.sample_latency:
            self.latencies.extend(now - int(sent) for sent in SENT_RE.findall(frames))
        if self.done is not None and self.last_id >= self.done_at_id and not self.done.done():
            self.done.set_result(True)


async def open_streams(port: int, paths: list[str], concurrency: int, into: list[SSESubscriber],
                       sample_every: int = 0, timeout: float = 60.0) -> None:
    """Opens one stream per path (at most `concurrency` connecting at once), appending each to `into` as soon
    as it connects (so the caller can close them all even after a failure), and waits for each one's headers
    and retry frame. Raises the first failure once every attempt has finished."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int, path: str) -> None:
        async with gate:
            sample = sample_every > 0 and index % sample_every == 0
            _, protocol = await loop.create_connection(
                lambda: SSESubscriber(path, port, sample), "127.0.0.1", port)
            into.append(protocol)
            await asyncio.wait_for(protocol.ready, timeout)

    outcomes = await asyncio.gather(*(one(i, p) for i, p in enumerate(paths)), return_exceptions=True)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        raise StreamError(f"{len(failures)} of {len(paths)} streams failed to open; first: "
                          f"{type(failures[0]).__name__}: {failures[0]}")


# ----------------------------------------------------------------------------------------------------------
# The writer (its own process, so the subscribers' parsing never delays a send)

async def write_events(port: int, run_id: str, count: int, rate: float, connections: int) -> dict:
    """POSTs `count` single events at `rate`/s over `connections` keep-alive connections to nginx. Event i is
    due at start + i/rate; a connection that is behind sends at once. Each body carries the send time."""
    next_index = 0
    statuses: dict[int, int] = {}
    post_latency: list[int] = []
    late = 0
    start = time.monotonic_ns() + 50_000_000
    interval = 1e9 / rate

    async def connection() -> None:
        nonlocal next_index, late
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while next_index < count:
                index = next_index
                next_index += 1
                due = start + int(index * interval)
                wait = (due - time.monotonic_ns()) / 1e9
                if wait > 0:
                    await asyncio.sleep(wait)
                elif wait < -0.005:
                    late += 1
                sent = time.monotonic_ns()
                body = b'{"type":"bench.tick","data":{"i":%d,"sent_ns":%d}}' % (index, sent)
                writer.write(b"POST /v1/runs/%s/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (run_id.encode(), len(body), body))
                head = await reader.readuntil(b"\r\n\r\n")
                post_latency.append(time.monotonic_ns() - sent)
                status = int(head.split(b" ", 2)[1])
                statuses[status] = statuses.get(status, 0) + 1
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                if b"\r\nconnection: close" in head.lower():
                    # nginx ends a keep-alive connection after keepalive_requests (1000): open another.
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
        finally:
            writer.close()

    t0 = time.monotonic_ns()
    await asyncio.gather(*(connection() for _ in range(connections)))
    seconds = (time.monotonic_ns() - t0) / 1e9
    return {"events": count, "seconds": round(seconds, 3), "rate": round(count / seconds, 1), "statuses": statuses,
            "late_sends": late, "post_round_trip": latency_summary(post_latency)}


def writer_process(conn, port: int, run_id: str, count: int, rate: float, connections: int) -> None:
    conn.recv()  # go
    conn.send(asyncio.run(write_events(port, run_id, count, rate, connections)))


# ----------------------------------------------------------------------------------------------------------
# Fan-out (and latency, which is fan-out to one subscriber at a modest rate)

def subscriber_process(conn, port: int, run_id: str, count: int, sample_every: int, timeout: float) -> None:
    """Holds `count` subscribers of one run; reports per-subscriber completeness, order and latencies."""
    raise_fd_limit()

    async def main() -> dict:
        paths = [f"/v1/runs/{run_id}/events"] * count
        subscribers: list[SSESubscriber] = []
        await open_streams(port, paths, 100, subscribers, sample_every)
        conn.send("ready")
        last_id = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        cpu0 = os.times()
        waits = [s.expect_last(last_id) for s in subscribers]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)
        except asyncio.TimeoutError:
            pass
        cpu1 = os.times()
        result = {
            "subscribers": len(subscribers),
            "complete": sum(1 for s in subscribers if s.last_id >= last_id),
            "events": sum(s.events for s in subscribers),
            "order_errors": sum(s.order_errors for s in subscribers),
            "errors": [s.first_error for s in subscribers if s.first_error][:3],
            "last_receipt_ns": max(s.last_receipt_ns for s in subscribers),
            "latencies": [v for s in subscribers for v in s.latencies],
            "client_cpu_seconds": round(cpu1.user + cpu1.system - cpu0.user - cpu0.system, 2),
        }
        for s in subscribers:
            s.transport.abort()
        return result

    try:
        conn.send(asyncio.run(main()))
    except Exception as error:  # reported to the parent, which fails the benchmark with it
        conn.send({"fatal": f"{type(error).__name__}: {error}"})


def fan_out(args, label: str, run_id: str, subscribers: int, events: int, rate: float,
            processes: int, sample_every: int, writer_connections: int) -> dict:
    base_seq = create_run(args.port, run_id)
    last_id = base_seq + events
    context = multiprocessing.get_context("fork")
    subs = []
    per_process = [subscribers // processes + (1 if i < subscribers % processes else 0) for i in range(processes)]
    for share in per_process:
        parent, child = context.Pipe()
        process = context.Process(target=subscriber_process,
                                  args=(child, args.port, run_id, share, sample_every, events / rate + 60))
        process.start()
        subs.append((parent, process))
    for parent, _ in subs:
        if not parent.poll(120):
            raise SystemExit(f"{label}: subscribers did not connect within 120 s")
        message = parent.recv()
        if message != "ready":
            raise SystemExit(f"{label}: a subscriber process failed: {message}")
    writer_parent, writer_child = context.Pipe()
    writer = context.Process(target=writer_process,
                             args=(writer_child, args.port, run_id, events, rate, writer_connections))
    writer.start()
    time.sleep(1)  # let the streams settle into their live phase
    cpu = CPUWindow([args.pid])
    nginx_cpu = CPUWindow(children(args.nginx_pid))
    load = load_average()
    cpu.start()
    nginx_cpu.start()
    start_ns = time.monotonic_ns()
    writer_parent.send("go")
    for parent, _ in subs:
        parent.send(last_id)
    written = writer_parent.recv()
    results = [parent.recv() for parent, _ in subs]
    responder = cpu.stop()
    nginx = nginx_cpu.stop()
    writer.join()
    for _, process in subs:
        process.join()
    fatal = [r["fatal"] for r in results if "fatal" in r]
    if fatal:
        raise SystemExit(f"{label}: {fatal[0]}")
    delivered = sum(r["events"] for r in results)
    bench_events = delivered - subscribers * base_seq  # every subscriber also replays what preceded the writer
    window = (max(r["last_receipt_ns"] for r in results) - start_ns) / 1e9
    latencies = [v for r in results for v in r["latencies"]]
    return {
        "subscribers": subscribers,
        "events": events,
        "target_rate": rate,
        "writer": written,
        "complete_subscribers": sum(r["complete"] for r in results),
        "order_errors": sum(r["order_errors"] for r in results),
        "errors": [e for r in results for e in r["errors"]][:3],
        "expected_deliveries": subscribers * events,
        "deliveries": bench_events,
        "window_seconds": round(window, 3),
        "delivered_per_second": round(bench_events / window, 1),
        "latency": latency_summary(latencies),
        "latency_sampled_subscribers": len(range(0, subscribers, sample_every)) if sample_every else 0,
        "responder_cpu": responder,
        "nginx_cpu": nginx,
        "client_cpu_seconds": round(sum(r["client_cpu_seconds"] for r in results), 2),
        "load_before": load,
        "load_after": load_average(),
    }


# ----------------------------------------------------------------------------------------------------------
# Idle streams

async def idle_phase(args, label: str) -> dict:
    runs = [f"idle-{label}-{i:03d}" for i in range(args.idle_runs)]
    for run in runs:
        create_run(args.port, run)
    baseline = proc_status(args.pid)
    result: dict = {"runs": len(runs), "baseline": baseline}
    paths = [f"/v1/runs/{runs[i % len(runs)]}/events" for i in range(args.idle_streams)]
    first = args.idle_cpu_streams

    t0 = time.monotonic()
    streams: list[SSESubscriber] = []
    await open_streams(args.port, paths[:first], args.connect_concurrency, streams)
    result["cpu_streams"] = first
    result["open_seconds_first"] = round(time.monotonic() - t0, 2)
    log(f"{label}: {first} idle streams open; settling 2 s, then measuring CPU for {args.idle_seconds} s")
    await asyncio.sleep(2)
    heartbeats0 = sum(s.heartbeats for s in streams)
    cpu = CPUWindow([args.pid])
    nginx_cpu = CPUWindow(children(args.nginx_pid))
    result["load_before_cpu"] = load_average()
    cpu.start()
    nginx_cpu.start()
    await asyncio.sleep(args.idle_seconds)
    result["cpu"] = cpu.stop()
    result["nginx_cpu"] = nginx_cpu.stop()
    result["load_after_cpu"] = load_average()
    result["heartbeats_in_window"] = sum(s.heartbeats for s in streams) - heartbeats0
    result["status_at_cpu"] = proc_status(args.pid)

    log(f"{label}: ramping to {args.idle_streams} idle streams")
    t1 = time.monotonic()
    try:
        await open_streams(args.port, paths[first:], args.connect_concurrency, streams, timeout=args.open_timeout)
    except (StreamError, OSError, asyncio.TimeoutError) as error:
        alive = [s for s in streams if s.got_retry and not s.closed.done()]
        result["ramp_failure"] = f"{type(error).__name__}: {error} (with {len(alive)} streams open)"
        log(f"{label}: ramp failed: {result['ramp_failure']}")
    result["open_seconds_rest"] = round(time.monotonic() - t1, 2)
    await asyncio.sleep(3)
    result["status_at_max"] = proc_status(args.pid)
    workers = children(args.nginx_pid)
    result["nginx_workers"] = [{"pid": w, **proc_status(w)} for w in workers]
    cpu_max = CPUWindow([args.pid])
    cpu_max.start()
    await asyncio.sleep(args.max_cpu_seconds)
    result["cpu_at_max"] = cpu_max.stop()
    alive = [s for s in streams if s.got_retry and not s.closed.done()]
    result["streams_open"] = len(alive)
    result["streams_closed_early"] = [s.first_error or s.closed.result() for s in streams
                                      if s.closed.done()][:3]
    result["events_on_idle_streams"] = sum(s.events for s in streams) - len(streams)  # each replays run.created
    result["load_at_max"] = load_average()
    log(f"{label}: {len(alive)} streams open, responder {result['status_at_max']}; closing them")

    for s in streams:
        if s.transport:
            s.transport.abort()
    # The responder notices each hang-up at once (epoll) and its worker threads fall back to the spare limit:
    # wait until the thread count stops falling (at most 30 s).
    started = time.monotonic()
    previous = -1
    while time.monotonic() < started + 30:
        await asyncio.sleep(1)
        threads = proc_status(args.pid)["threads"]
        if threads == previous:
            break
        previous = threads
    result["status_after_close"] = proc_status(args.pid)
    result["seconds_to_release"] = round(time.monotonic() - started, 1)
    return result


# ----------------------------------------------------------------------------------------------------------

def measure(args) -> None:
    fd_limit = raise_fd_limit()
    label = args.label
    log(f"{label}: responder pid {args.pid}, nginx pid {args.nginx_pid}, client fd limit {fd_limit}")
    out: dict = {"label": label, "load_start": load_average(), "cores": os.cpu_count(), "settings": vars(args).copy()}
    out["settings"].pop("func", None)

    phases = set(args.phases.split(","))
    unknown = phases - {"latency", "idle", "fanout"}
    if unknown:
        raise SystemExit(f"unknown phase(s) {', '.join(sorted(unknown))} (latency, idle, fanout)")
    if "latency" in phases:
        log(f"{label}: latency, 1 subscriber, {args.latency_samples} events at {args.latency_rate}/s")
        out["latency"] = fan_out(args, label, f"lat-{label}", 1, args.latency_samples, args.latency_rate, 1, 1, 1)
        log(f"{label}: latency {out['latency']['latency']}")
    if "idle" in phases:
        out["idle"] = asyncio.run(idle_phase(args, label))
    if "fanout" in phases:
        out["fanout"] = []
        for count in (int(c) for c in args.fanout_subscribers.split(",")):
            log(f"{label}: fan-out, {count} subscribers, {args.fanout_events} events at {args.fanout_rate}/s")
            result = fan_out(args, label, f"fan-{label}-{count}", count, args.fanout_events, args.fanout_rate,
                             args.subscriber_processes, max(1, count // 100), args.writer_connections)
            log(f"{label}: fan-out {result['delivered_per_second']} deliveries/s, latency {result['latency']}")
            out["fanout"].append(result)
    out["responder_end"] = proc_status(args.pid)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


def report(args) -> None:
    runs = [json.load(open(path)) for path in args.files]
    labels = [r["label"] for r in runs]

    def row(name: str, values: list[str]) -> None:
        print(f"| {name} | " + " | ".join(values) + " |")

    def header(title: str) -> None:
        print(f"\n**{title}**\n")
        print("| | " + " | ".join(labels) + " |")
        print("|---" * (len(labels) + 1) + "|")

    mib = lambda kib: f"{kib / 1024:.0f} MiB"
    if all("latency" in r for r in runs):
        latency_table(runs, header, row)
    if all("idle" in r for r in runs):
        idle_table(runs, header, row, mib)
    for index, f0 in enumerate(runs[0].get("fanout", [])):
        fans = [r["fanout"][index] for r in runs]
        header(f"fan-out: {f0['subscribers']:,} subscribers of one run, {f0['events']:,} single POSTs at {f0['target_rate']:.0f}/s")
        row("writer achieved", [f"{f['writer']['rate']:.0f} events/s, statuses {f['writer']['statuses']}" for f in fans])
        row("subscribers with every event", [f"{f['complete_subscribers']:,} / {f['subscribers']:,}" for f in fans])
        row("deliveries (expected)", [f"{f['deliveries']:,} ({f['expected_deliveries']:,})" for f in fans])
        row("order errors", [f"{f['order_errors']}" for f in fans])
        row("delivered events/s", [f"{f['delivered_per_second']:,.0f} (last one {f['window_seconds']:.1f} s after the first send)"
                                   for f in fans])
        row("latency p50 / p99", [f"{f['latency']['p50_ms']:.1f} / {f['latency']['p99_ms']:.1f} ms" for f in fans])
        row("latency max", [f"{f['latency']['max_ms']:.1f} ms ({f['latency']['samples']:,} samples at "
                            f"{f['latency_sampled_subscribers']} subscribers)" for f in fans])
        row("responder CPU", [f"{f['responder_cpu']['core_percent']:.0f} % of a core, "
                              f"{1e6 * f['responder_cpu']['cpu_seconds'] / max(1, f['deliveries']):.2f} µs per delivery (appends included)"
                              for f in fans])
        row("nginx workers CPU", [f"{f['nginx_cpu']['core_percent']:.0f} % of a core" for f in fans])
        row("client CPU (subscribers)", [f"{f['client_cpu_seconds']:.1f} s" for f in fans])
        row("load avg (1 min)", [f"{f['load_before'][0]:.1f} → {f['load_after'][0]:.1f}" for f in fans])


def latency_table(runs, header, row) -> None:
    header("append → subscriber latency (1 subscriber, POST through nginx)")
    for key, name in (("p50_ms", "p50"), ("p90_ms", "p90"), ("p99_ms", "p99"), ("max_ms", "max")):
        row(name, [f"{r['latency']['latency'][key]:.2f} ms" for r in runs])
    row("samples", [f"{r['latency']['latency']['samples']} at {r['latency']['target_rate']:.0f}/s" for r in runs])
    row("POST round trip p50 / p99", [f"{r['latency']['writer']['post_round_trip']['p50_ms']:.2f} / "
                                      f"{r['latency']['writer']['post_round_trip']['p99_ms']:.2f} ms" for r in runs])
    row("load avg (1 min)", [f"{r['latency']['load_before'][0]:.1f}" for r in runs])


def idle_table(runs, header, row, mib) -> None:
    header("idle streams (heartbeat 15 s)")
    row("streams for the CPU window", [f"{r['idle']['cpu_streams']:,} over {r['idle']['runs']} runs" for r in runs])
    row("responder CPU", [f"{r['idle']['cpu']['core_percent']:.3f} % of a core ({r['idle']['cpu']['cpu_seconds']} s in "
                          f"{r['idle']['cpu']['seconds']:.0f} s)" for r in runs])
    row("nginx workers CPU", [f"{r['idle']['nginx_cpu']['core_percent']:.3f} %" for r in runs])
    row("heartbeats received in the window", [f"{r['idle']['heartbeats_in_window']:,}" for r in runs])
    row("load avg (1 min)", [f"{r['idle']['load_before_cpu'][0]:.1f} → {r['idle']['load_after_cpu'][0]:.1f}" for r in runs])
    row("streams held open", [f"{r['idle']['streams_open']:,}" + (" (ramp failed)" if "ramp_failure" in r['idle'] else "")
                              for r in runs])
    row("time to open them", [f"{r['idle']['open_seconds_first'] + r['idle']['open_seconds_rest']:.1f} s" for r in runs])
    row("responder RSS (VmRSS)", [f"{mib(r['idle']['baseline']['rss_kib'])} → {mib(r['idle']['status_at_max']['rss_kib'])}"
                                  for r in runs])
    row("RSS per stream", [f"{(r['idle']['status_at_max']['rss_kib'] - r['idle']['baseline']['rss_kib']) / max(1, r['idle']['streams_open']):.1f} KiB"
                           for r in runs])
    row("responder threads", [f"{r['idle']['baseline']['threads']} → {r['idle']['status_at_max']['threads']:,}" for r in runs])
    row("responder descriptors", [f"{r['idle']['status_at_max']['fds']:,} "
                                  f"({(r['idle']['status_at_cpu']['fds'] - r['idle']['baseline']['fds']) / r['idle']['cpu_streams']:.2f}"
                                  f" per stream at {r['idle']['cpu_streams']:,})" for r in runs])
    row("responder CPU with all of them", [f"{r['idle']['cpu_at_max']['core_percent']:.2f} % over {r['idle']['cpu_at_max']['seconds']:.0f} s"
                                           for r in runs])
    row("nginx workers (RSS, fds)", [", ".join(f"{mib(w['rss_kib'])}/{w['fds']:,}" for w in r['idle']['nginx_workers']) for r in runs])
    row("after closing: threads, RSS", [f"{r['idle']['status_after_close']['threads']}, {mib(r['idle']['status_after_close']['rss_kib'])}"
                                        for r in runs])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(required=True)
    m = commands.add_parser("measure", help="run the phases against one responder")
    m.add_argument("--port", type=int, required=True, help="nginx's loopback port")
    m.add_argument("--pid", type=int, required=True, help="the responder's pid (for /proc)")
    m.add_argument("--nginx-pid", type=int, required=True, help="nginx master pid (its workers are measured)")
    m.add_argument("--label", required=True, help="names this configuration and its runs")
    m.add_argument("--out", required=True)
    m.add_argument("--phases", default="latency,idle,fanout", help="comma-separated subset to run")
    m.add_argument("--latency-samples", type=int, default=300)
    m.add_argument("--latency-rate", type=float, default=50)
    m.add_argument("--idle-streams", type=int, default=10_000)
    m.add_argument("--idle-cpu-streams", type=int, default=1_000)
    m.add_argument("--idle-runs", type=int, default=100)
    m.add_argument("--idle-seconds", type=float, default=60)
    m.add_argument("--max-cpu-seconds", type=float, default=10)
    m.add_argument("--connect-concurrency", type=int, default=200)
    m.add_argument("--open-timeout", type=float, default=5,
                   help="seconds a ramp stream may take to answer before it counts as refused")
    m.add_argument("--fanout-subscribers", default="1000,100",
                   help="comma-separated subscriber counts, one fan-out each (latency is sampled at 100 of them)")
    m.add_argument("--fanout-events", type=int, default=10_000)
    m.add_argument("--fanout-rate", type=float, default=1_000)
    m.add_argument("--subscriber-processes", type=int, default=2)
    m.add_argument("--writer-connections", type=int, default=8)
    m.set_defaults(func=measure)
    r = commands.add_parser("report", help="Markdown tables from measure outputs, side by side")
    r.add_argument("files", nargs="+")
    r.set_defaults(func=report)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
