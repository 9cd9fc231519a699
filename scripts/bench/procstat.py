#!/usr/bin/env python3
"""Samples processes from /proc once a second until stopped (SIGTERM/SIGINT)
or --duration passes, then writes a JSON summary: CPU (% of one core) over
the whole run and over an optional window, peak and final RSS, and CPU per
thread name (what `top -H` shows) for the main PID.

Usage: procstat.py --pid PID [--pid PID2 ...] --out FILE [--window START:END]
       (START/END in seconds after the sampler started)
"""

import argparse
import json
import os
import signal
import time

TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(path):
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TCK


def comm(path):
    with open(path) as f:
        return f.read().strip()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def threads(pid):
    out = {}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                name = comm(f"/proc/{pid}/task/{tid}/comm")
                out[tid] = (name, cpu_s(f"/proc/{pid}/task/{tid}/stat"))
            except OSError:
                pass
    except OSError:
        pass
    return out


def host():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / TCK


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, action="append", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--duration", type=float, default=1e9)
    ap.add_argument("--window", default=None)
    args = ap.parse_args()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    t0 = time.monotonic()
    samples = []  # (t, {pid: (cpu, rss)}, host_busy)
    th0 = threads(args.pid[0])
    while not stop and time.monotonic() - t0 < args.duration:
        row = {}
        for pid in args.pid:
            try:
                row[pid] = (cpu_s(f"/proc/{pid}/stat"), rss_kib(pid))
            except OSError:
                pass
        samples.append((time.monotonic() - t0, row, host()))
        time.sleep(1.0)
    th1 = threads(args.pid[0])
    res = {"samples": len(samples), "seconds": samples[-1][0] if samples else 0, "pids": {}}
    w = None
    if args.window:
        a, b = (float(x) for x in args.window.split(":"))
        w = (a, b)
    for pid in args.pid:
        rows = [(t, r[pid], h) for t, r, h in samples if pid in r]
        if len(rows) < 2:
            continue
        d = {
            "cpu_pct": 100 * (rows[-1][1][0] - rows[0][1][0]) / (rows[-1][0] - rows[0][0]),
            "rss_kib_first": rows[0][1][1],
            "rss_kib_max": max(r[1][1] for r in rows),
            "rss_kib_last": rows[-1][1][1],
            "cpu_pct_max_1s": max(
                100 * (b[1][0] - a[1][0]) / (b[0] - a[0]) for a, b in zip(rows, rows[1:])
            ),
        }
        if w:
            inw = [r for r in rows if w[0] <= r[0] <= w[1]]
            if len(inw) >= 2:
                d["window_cpu_pct"] = 100 * (inw[-1][1][0] - inw[0][1][0]) / (inw[-1][0] - inw[0][0])
                d["window_rss_kib_max"] = max(r[1][1] for r in inw)
        res["pids"][str(pid)] = d
    if len(samples) >= 2:
        res["host_busy_pct"] = 100 * (samples[-1][2] - samples[0][2]) / (samples[-1][0] - samples[0][0])
    by_name = {}
    for tid, (name, c1) in th1.items():
        c0 = th0.get(tid, (name, 0.0))[1]
        by_name.setdefault(name, [0, 0.0])
        by_name[name][0] += 1
        by_name[name][1] += c1 - c0
    span = samples[-1][0] if samples else 1
    res["threads"] = {
        k: {"count": v[0], "cpu_pct": 100 * v[1] / max(span, 1e-9)}
        for k, v in sorted(by_name.items(), key=lambda kv: -kv[1][1])
    }
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
