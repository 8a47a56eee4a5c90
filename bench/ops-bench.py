#!/usr/bin/env python3
"""Benchmarks of the runjournal CLI ops tools (docs/benchmarks.md, "CLI ops tools").

  replay  `runjournal replay J.jsonl --format sse > /dev/null` of a 1,000,000-event journal (target >= 1 GB/s)
  ls      `runjournal ls` over 100,000 runs, cold (no run index) and warm (target <= 1 s warm)
  tail    `runjournal tail -f` latency from append to stdout (target p50 <= 1 ms): a long-lived
          `runjournal append RUN - --each` gets one event per ping on stdin, stamped with the harness's
          CLOCK_MONOTONIC; the harness reads `tail -f`'s stdout and takes the time when the line arrives.

Build first: swift build -c release --scratch-path .build-ops-release
Usage: bench/ops-bench.py [--bin PATH] [--work DIR] [--only replay,ls,tail] [--events N] [--runs N] [--pings N]
Only the Python standard library; the generated journals follow docs/journal-format.md exactly.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BASE_MILLIS = 1_795_000_000_000  # 2026-11-18, an arbitrary fixed start


def ts(millis):
    seconds, ms = divmod(millis, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%03dZ" % ms


def line(seq, millis, type_, data):
    return '{"seq":%d,"ts":"%s","type":"%s","data":%s}\n' % (seq, ts(millis), type_, data)


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command, repeat, stdout=subprocess.DEVNULL, env=None):
    """(wall-clock seconds, CPU seconds of the child: user + system) of each of `repeat` runs of `command`.

    The machine is shared: wall time includes waiting for a core while other work runs, the child's CPU
    time does not, so it is the steadier measure of what the command costs."""
    runs = []
    for _ in range(repeat):
        cpu = children_cpu()
        start = time.perf_counter()
        subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, check=True, env=env)
        runs.append((time.perf_counter() - start, children_cpu() - cpu))
    return runs


def summary(runs):
    walls = [wall for wall, _ in runs]
    cpus = [cpu for _, cpu in runs]
    return min(walls), statistics.median(walls), statistics.median(cpus)


def make_replay_journal(path, events):
    # Agent-like events of about 250 bytes per line: tool calls and messages with some text.
    payloads = [
        ("tool.started", '{"name":"search","args":{"query":"inotify close_write semantics on overlayfs","limit":10}}'),
        ("tool.finished", '{"name":"search","ms":412,"results":[{"title":"inotify(7)","score":0.93},{"title":"overlayfs","score":0.71}]}'),
        ("message", '{"role":"assistant","text":"The watch must be added before the second read, otherwise a write in between is lost."}'),
        ("token.usage", '{"prompt":1832,"completion":211,"model":"m-large","cache_hit":true,"latency_ms":873}'),
    ]
    with open(path, "w") as f:
        f.write(line(1, BASE_MILLIS, "run.created", '{"metadata":{"bench":"replay"}}'))
        chunk = []
        for seq in range(2, events):
            type_, data = payloads[seq % len(payloads)]
            chunk.append(line(seq, BASE_MILLIS + seq, type_, data))
            if len(chunk) == 10000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))
        f.write(line(events, BASE_MILLIS + events, "run.completed", "{}"))


def bench_replay(binary, work, events):
    path = os.path.join(work, "bench-replay.jsonl")
    if not os.path.exists(path) or sum(1 for _ in open(path)) != events:
        print(f"generating a {events:,}-event journal ...", file=sys.stderr)
        make_replay_journal(path, events)
    size = os.path.getsize(path)
    subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)  # page cache warm
    results = {}
    for fmt in ["sse", "jsonl", "text"]:
        with open(os.devnull, "w") as null:
            best, median, cpu = summary(timed([binary, "replay", path, "--format", fmt], 9, stdout=null))
        out = len(subprocess.run([binary, "replay", path, "--format", fmt], stdout=subprocess.PIPE, check=True).stdout)
        results[fmt] = (best, median, cpu, out)
        print(f"replay --format {fmt:5}: {events:,} events, journal {size/1e6:.1f} MB, output {out/1e6:.1f} MB; "
              f"wall best {best*1000:.0f} ms ({size/best/1e9:.2f} GB/s in, {out/best/1e9:.2f} GB/s out), "
              f"median {median*1000:.0f} ms ({size/median/1e9:.2f} GB/s in); "
              f"CPU median {cpu*1000:.0f} ms ({size/cpu/1e9:.2f} GB/s in per CPU-second)")
    return results


def make_runs(directory, runs):
    os.makedirs(directory, exist_ok=True)
    outcomes = ["run.completed", "run.failed", "run.stopped", None, "run.completed"]
    for index in range(runs):
        created = BASE_MILLIS + index * 1000
        rid = "bench-%06d" % index
        lines = [
            line(1, created, "run.created", '{"metadata":{"agent":"bench","n":%d}}' % index),
            line(2, created + 5, "run.started", "{}"),
            line(3, created + 50, "tool.started", '{"name":"search"}'),
        ]
        outcome = outcomes[index % len(outcomes)]
        if outcome == "run.failed":
            lines.append(line(4, created + 900, outcome, '{"reason":"tool timeout"}'))
        elif outcome:
            lines.append(line(4, created + 900, outcome, "{}"))
        with open(os.path.join(directory, rid + ".jsonl"), "w") as f:
            f.write("".join(lines))


def bench_ls(binary, work, runs):
    directory = os.path.join(work, "ls-journal")
    existing = len([n for n in os.listdir(directory) if n.endswith(".jsonl")]) if os.path.isdir(directory) else 0
    if existing != runs:
        shutil.rmtree(directory, ignore_errors=True)
        print(f"generating {runs:,} runs ...", file=sys.stderr)
        make_runs(directory, runs)
    index = os.path.join(directory, ".runs.index")
    environment = dict(os.environ, RUNJOURNAL_NOW="2026-12-01T00:00:00Z")
    results = {}

    def run(arguments, repeat):
        return timed([binary] + arguments + ["--journal", directory], repeat, env=environment)

    colds = []
    for _ in range(3):
        if os.path.exists(index):
            os.unlink(index)
        colds += run(["ls"], 1)
    results["cold ls (no index)"] = colds
    for label, arguments in [
        ("warm ls", ["ls"]),
        ("warm ls --json", ["ls", "--json"]),
        ("warm ls --limit 20", ["ls", "--limit", "20"]),
        ("warm ls --status failed", ["ls", "--status", "failed"]),
        ("warm stats", ["stats"]),
        ("warm prune --older-than 1d --dry-run", ["prune", "--older-than", "1d", "--dry-run"]),
    ]:
        results[label] = run(arguments, 7)
    for label, times in results.items():
        best, median, cpu = summary(times)
        print(f"{label:40}: {runs:,} runs, wall best {best*1000:.0f} ms, median {median*1000:.0f} ms; CPU median {cpu*1000:.0f} ms")
    return results


def bench_tail(binary, work, pings):
    directory = tempfile.mkdtemp(prefix="tail-", dir=work)
    subprocess.run([binary, "create", "--journal", directory, "--id", "latency"], stdout=subprocess.DEVNULL, check=True)
    tail = subprocess.Popen([binary, "tail", "-f", "--journal", directory, "--format", "jsonl", "latency"],
                            stdout=subprocess.PIPE, bufsize=0)
    append = subprocess.Popen([binary, "append", "--journal", directory, "--fsync", "never", "latency", "-", "--each"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, bufsize=0)
    reader = tail.stdout

    pending = b""

    def read_line():
        nonlocal pending
        while b"\n" not in pending:
            chunk = os.read(reader.fileno(), 65536)
            if not chunk:
                raise RuntimeError("tail -f ended early")
            pending += chunk
        text, pending = pending.split(b"\n", 1)
        return text

    read_line()  # run.created: tail is replaying and then following
    latencies = []
    for index in range(pings + 50):
        sent = time.monotonic_ns()
        append.stdin.write(b'{"type":"ping","data":{"i":%d,"sent_ns":%d}}\n' % (index, sent))
        received_line = read_line()
        received = time.monotonic_ns()
        data = json.loads(received_line)["data"]
        assert data["i"] == index, (data, index)
        if index >= 50:  # the first few warm up caches and the tailer
            latencies.append((received - data["sent_ns"]) / 1e6)
        time.sleep(0.002)  # events arrive one at a time, as from a producer
    append.stdin.write(b'{"type":"run.completed","data":{}}\n')
    append.stdin.close()
    append.wait(timeout=10)
    tail.wait(timeout=10)
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))]

    print(f"tail -f latency, append stdin -> tail stdout, {len(latencies)} events: p50 {pct(0.5):.3f} ms, "
          f"p90 {pct(0.9):.3f} ms, p99 {pct(0.99):.3f} ms, max {latencies[-1]:.3f} ms; tail exit {tail.returncode}")
    shutil.rmtree(directory, ignore_errors=True)
    return latencies


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--bin", default=os.path.join(root, ".build-ops-release", "release", "runjournal"))
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "runjournal-ops-bench"))
    parser.add_argument("--only", default="replay,ls,tail")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--pings", type=int, default=2000)
    args = parser.parse_args()
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"{args.bin} is not built: swift build -c release --scratch-path .build-ops-release")
    os.makedirs(args.work, exist_ok=True)
    only = args.only.split(",")
    print(f"binary {args.bin}; {os.cpu_count()} cores; work dir {args.work}")
    if "replay" in only:
        bench_replay(args.bin, args.work, args.events)
    if "ls" in only:
        bench_ls(args.bin, args.work, args.runs)
    if "tail" in only:
        bench_tail(args.bin, args.work, args.pings)


if __name__ == "__main__":
    main()
