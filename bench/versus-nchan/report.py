#!/usr/bin/env python3
"""The table and plots of bench/versus-nchan/run.sh, from the JSON the load client wrote (stdlib only).

  report.py --results DIR [--plots DIR] [--configs "always never poll nchan"]

Prints a Markdown table (rows = metrics, one column per configuration and one with the ratio of RunJournal
(--fsync always / --fsync never) to nchan), and writes into the results directory summary.csv and the data
files of the plots; the plots (bench-versus-nchan-latency-cdf.png, bench-versus-nchan-memory.png) go to --plots, made with gnuplot.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys

LABELS = {"always": "RunJournal `--fsync always`", "never": "RunJournal `--fsync never`",
          "poll": "RunJournal `--tailer poll`", "nchan": "nchan"}


def load(results: str, label: str, phase: str) -> dict | None:
    path = os.path.join(results, f"{label}-{phase}.json")
    try:
        with open(path) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


def nginx_sum(procs: dict, key: str) -> int:
    return sum(p[key] for p in procs["nginx"])


def memory_series(idle: dict) -> list[dict]:
    """Per step: streams held and the growth over the baseline of responder and nginx (PSS, KiB)."""
    base = idle["baseline"]
    series = []
    for step in idle["steps"]:
        procs = step["procs"]
        responder = (procs["responder"]["pss_kib"] - base["responder"]["pss_kib"]) if procs["responder"] else 0
        nginx = nginx_sum(procs, "pss_kib") - nginx_sum(base, "pss_kib")
        responder_fds = (procs["responder"]["fds"] - base["responder"]["fds"]) if procs["responder"] else 0
        series.append({"target": step["target"], "held": step["held"], "responder_kib": responder,
                       "nginx_kib": nginx, "responder_fds": responder_fds,
                       "nginx_fds": nginx_sum(procs, "fds") - nginx_sum(base, "fds"),
                       "threads": procs["responder"]["threads"] if procs["responder"] else None,
                       "workers": [w["fds"] for w in procs["nginx"] if not w["master"]]})
    return series


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", required=True)
    parser.add_argument("--plots")
    parser.add_argument("--configs", default="always never poll nchan")
    args = parser.parse_args()
    configs = args.configs.split()
    plots = args.plots or args.results
    os.makedirs(plots, exist_ok=True)

    rows: list[tuple[str, dict[str, float | str | None], bool]] = []  # name, values, ratio wanted

    def add(name: str, values: dict, ratio: bool = True) -> None:
        rows.append((name, values, ratio))

    lat = {c: load(args.results, c, "latency") for c in configs}
    res = {c: load(args.results, c, "resume") for c in configs}
    fan = {c: load(args.results, c, "fanout") for c in configs}
    idle = {c: load(args.results, c, "idle") for c in configs}
    mem = {c: memory_series(idle[c]) if idle[c] else None for c in configs}

    def pick(source: dict, fn) -> dict:
        out = {}
        for c in configs:
            try:
                out[c] = fn(source[c]) if source[c] else None
            except (KeyError, TypeError, ZeroDivisionError, IndexError):
                out[c] = None
        return out

    n = next((v["events"] for v in lat.values() if v), 0)
    add(f"append → client p50, ms ({n:,} events 5 ms apart, 1 subscriber)", pick(lat, lambda r: r["latency_ms"]["p50"]))
    add("append → client p99, ms", pick(lat, lambda r: r["latency_ms"]["p99"]))
    add("append → client max, ms", pick(lat, lambda r: r["latency_ms"]["max"]))
    add("latency run: events delivered", pick(lat, lambda r: f"{r['delivered']:,}/{r['expected']:,}"), False)

    top = pick(mem, lambda m: m[-1])
    add("idle streams held (target: last step)", pick(mem, lambda m: f"{m[-1]['held']:,}/{m[-1]['target']:,}"), False)
    add("memory per idle stream, responder (PSS KiB, at the last step)",
        pick(top, lambda s: s["responder_kib"] / s["held"] if s["responder_kib"] else None))
    add("memory per idle stream, nginx (all processes)", pick(top, lambda s: s["nginx_kib"] / s["held"]))
    add("memory per idle stream, total", pick(top, lambda s: (s["responder_kib"] + s["nginx_kib"]) / s["held"]))
    add("descriptors per idle stream, responder + nginx",
        pick(top, lambda s: f"{s['responder_fds'] / s['held']:.2f} + {s['nginx_fds'] / s['held']:.2f}"), False)
    add("nginx worker descriptors at the last step", pick(top, lambda s: " / ".join(f"{w:,}" for w in s["workers"])), False)
    add("responder threads at the last step", pick(top, lambda s: s["threads"]), False)

    def cpu(r: dict) -> dict:
        return next(s["cpu"] for s in r["steps"] if "cpu" in s)
    secs = pick(idle, lambda r: cpu(r)["seconds"])
    secs_text = next((f"{v:.0f} s" for v in secs.values() if v), "")
    streams = pick(idle, lambda r: next(s["target"] for s in r["steps"] if "cpu" in s))
    streams_text = next((f"{v:,}" for v in streams.values() if v), "")
    add(f"CPU of {streams_text} idle streams, % of a core (responder + nginx, {secs_text})",
        pick(idle, lambda r: 100 * cpu(r)["server_cpu_s"] / cpu(r)["seconds"]))
    add("… of which responder / nginx, %", pick(idle, lambda r: f"{100 * cpu(r)['responder_cpu_s'] / cpu(r)['seconds']:.3f}"
                                                           f" / {100 * cpu(r)['nginx_cpu_s'] / cpu(r)['seconds']:.3f}"), False)

    f0 = next((v for v in fan.values() if v), None)
    if f0:
        add(f"fan-out {f0['subs']:,} subscribers × {f0['rate']:.0f} events/s × {f0['events']:,}: delivered fraction",
            pick(fan, lambda r: r["delivered_fraction"]))
    add("fan-out: subscribers with every event once, in order", pick(fan, lambda r: f"{r['subs_every_event_once_in_order']:,}/{r['subs']:,}"), False)
    add("fan-out: duplicates / out of order", pick(fan, lambda r: f"{r['duplicates']:,} / {r['out_of_order']:,}"), False)
    add("fan-out p50, ms", pick(fan, lambda r: r["latency_ms"]["p50"]))
    add("fan-out p99, ms", pick(fan, lambda r: r["latency_ms"]["p99"]))
    add("fan-out max, ms", pick(fan, lambda r: r["latency_ms"]["max"]))
    add("fan-out server CPU per delivery, µs (responder + nginx)", pick(fan, lambda r: r["server_cpu_us_per_delivery"]))
    add("fan-out: publisher achieved events/s", pick(fan, lambda r: r["publisher"]["sent"] / r["publisher"]["elapsed_s"]))
    add("fan-out: client CPU, s (subscribers / publisher)", pick(fan, lambda r: f"{r['client_cpu_s']:.1f} / {r['publisher']['cpu_s']:.1f}"), False)
    add("resume (100 subscribers × 2,000 events, one reconnect each): missed", pick(res, lambda r: r["missed"]), False)
    add("resume: duplicated", pick(res, lambda r: r["duplicates"]), False)
    add("resume: reconnected / out of order", pick(res, lambda r: f"{r['reconnected']} / {r['out_of_order']}"), False)

    def fmt(v) -> str:
        if v is None:
            return "—"
        if isinstance(v, str):
            return v
        if isinstance(v, int):
            return f"{v:,}"
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"

    def ratio(values: dict) -> str:
        base = values.get("nchan")
        if not isinstance(base, (int, float)) or not base:
            return "—"
        parts = []
        for c in ("always", "never"):
            v = values.get(c)
            parts.append(f"{v / base:.2f}" if isinstance(v, (int, float)) else "—")
        return " / ".join(parts)

    header = ["metric"] + [LABELS.get(c, c) for c in configs] + ["ratio to nchan (always / never)"]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for name, values, want in rows:
        print("| " + " | ".join([name] + [fmt(values.get(c)) for c in configs] + [ratio(values) if want else ""]) + " |")

    with open(os.path.join(args.results, "summary.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["metric"] + configs)
        for name, values, _ in rows:
            w.writerow([name] + ["" if values.get(c) is None else values.get(c) for c in configs])

    # Plot data and the plots.
    cdf_series = [(c, os.path.join(args.results, f"{c}-latency-cdf.dat")) for c in configs
                  if os.path.exists(os.path.join(args.results, f"{c}-latency-cdf.dat"))]
    mem_series = []
    for c in configs:
        if not mem[c]:
            continue
        path = os.path.join(args.results, f"{c}-memory.dat")
        with open(path, "w") as f:
            f.write("# streams held, responder+nginx MiB, responder MiB, nginx MiB (PSS growth over the baseline)\n")
            f.write("0 0 0 0\n")
            for s in mem[c]:
                f.write(f"{s['held']} {(s['responder_kib'] + s['nginx_kib']) / 1024:.2f} {s['responder_kib'] / 1024:.2f} "
                        f"{s['nginx_kib'] / 1024:.2f}\n")
        mem_series.append((c, path))
    env = ""
    try:
        env = open(os.path.join(args.results, "environment.txt")).readline().strip()
    except OSError:
        pass
    script = [
        "set terminal pngcairo size 900,560 font ',10'",
        f"set output '{os.path.join(plots, 'bench-versus-nchan-latency-cdf.png')}'",
        f"set title 'append → client latency, 1 subscriber, events 5 ms apart ({env})'",
        "set logscale x", "set xlabel 'latency (ms, log scale)'", "set ylabel 'fraction of events'",
        "set key bottom right", "set grid",
        "plot " + ", ".join(f"'{p}' using 1:2 with lines lw 2 title '{LABELS[c].replace('`', '')}'" for c, p in cdf_series),
        "unset logscale x",
        f"set output '{os.path.join(plots, 'bench-versus-nchan-memory.png')}'",
        "set title 'memory of idle streams (PSS growth over the baseline)'",
        "set xlabel 'idle streams'", "set ylabel 'MiB'", "set key top left",
        "plot " + ", ".join(
            [f"'{p}' using 1:2 with linespoints lw 2 title '{LABELS[c].replace('`', '')}: responder + nginx'" for c, p in mem_series if c != "nchan"]
            + [f"'{p}' using 1:3 with linespoints dt 2 title '{LABELS[c].replace('`', '')}: responder only'" for c, p in mem_series if c == "always"]
            + [f"'{p}' using 1:4 with linespoints lw 2 title 'nchan: nginx'" for c, p in mem_series if c == "nchan"]),
    ]
    if cdf_series and mem_series:
        try:
            subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True, check=True)
            print(f"\nplots: {os.path.join(plots, 'bench-versus-nchan-latency-cdf.png')}, {os.path.join(plots, 'bench-versus-nchan-memory.png')}", file=sys.stderr)
        except (OSError, subprocess.CalledProcessError) as error:
            print(f"report: gnuplot failed: {error}", file=sys.stderr)


if __name__ == "__main__":
    main()
