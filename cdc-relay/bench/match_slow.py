#!/usr/bin/env python3
"""Match the slow seconds of a latency run to broker GC pauses, Postgres checkpoints and slow
fsyncs (Postgres' WAL flushes, the broker's).

Inputs (written by bench/run.sh for one latency run):
  --latency FILE   the bench's latency output: "slow write second <unix> ..." lines
  --jstat FILE     `jstat -gc -t <broker pid> 100` output (Timestamp = JVM uptime in s)
  --uptime FILE    one line "<unix time> <JVM uptime s>" taken with `jcmd <pid> VM.uptime`
  --pg-log FILE    postgres.log ("2026-11-26 10:27:07.743 UTC [pid] LOG:  checkpoint ...")
  --fsync FILE     `perf trace -T -a -e fdatasync,fsync --duration 5` output: every fsync or
                   fdatasync over 5 ms on the machine ("<monotonic ms> (<duration> ms): comm/tid")
  --clock FILE     one line "<unix time> <CLOCK_MONOTONIC s>" taken together, to place them
  --from/--to      the run's window (unix seconds)

For every slow second S (records written in S took over 20 ms to reach the consumer) it lists
the GC pauses (young, full, concurrent-cycle pauses; from the jstat counters, 100 ms resolution)
the checkpoints (start..complete) and the slow fsyncs that overlap [S - 1, S + 1]. A Postgres
commit's timestamp is taken before its WAL flush, and the walsender sends only flushed WAL, so
a stalled fdatasync delays every commit behind it by the stall. The base rate says how
many of ALL seconds of the window have one nearby, so a coincidence can be told from a cause.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re

NEAR = 1.0  # seconds either side of a slow second


def slow_seconds(path: str) -> dict[int, str]:
    out = {}
    pattern = re.compile(r"^slow write second (\d+) \(unix\): (.*)$")
    with open(path) as f:
        for line in f:
            m = pattern.match(line.strip())
            if m:
                out[int(m.group(1))] = m.group(2)
    return out


def gc_pauses(jstat: str, uptime: str) -> list[tuple[float, float, str, float]]:
    """(start, end, kind, pause ms) per interval of samples in which a counter moved."""
    with open(uptime) as f:
        unix, up = (float(x) for x in f.read().split()[:2])
    offset = unix - up
    rows = []
    header = None
    with open(jstat) as f:
        for line in f:
            cols = line.split()
            if not cols:
                continue
            if cols[0] == "Timestamp":
                header = cols
                continue
            if header is None or len(cols) != len(header):
                continue
            try:
                rows.append({k: float(v) for k, v in zip(header, cols)})
            except ValueError:
                continue
    events = []
    for prev, cur in zip(rows, rows[1:]):
        for count, time, kind in (("YGC", "YGCT", "young"), ("FGC", "FGCT", "full"),
                                  ("CGC", "CGCT", "concurrent")):
            if count in cur and cur[count] > prev[count]:
                pause_ms = (cur[time] - prev[time]) * 1000
                events.append((prev["Timestamp"] + offset, cur["Timestamp"] + offset, kind, pause_ms))
    return events


def checkpoints(pg_log: str, start: float, end: float) -> list[tuple[float, float, str]]:
    """(start, complete, reason) of checkpoints overlapping the window."""
    stamp = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) UTC .*checkpoint (starting|complete): ?(.*)$")
    out, open_cp = [], None
    with open(pg_log, errors="replace") as f:
        for line in f:
            m = stamp.match(line)
            if not m:
                continue
            t = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").replace(
                tzinfo=dt.timezone.utc).timestamp()
            if m.group(2) == "starting":
                open_cp = (t, m.group(3))
            elif open_cp:
                total = re.search(r"total=([\d.]+) s", m.group(3))
                wrote = re.search(r"wrote (\d+) buffers", m.group(3))
                reason = f"{open_cp[1]}, wrote {wrote.group(1) if wrote else '?'} buffers, total {total.group(1) if total else '?'} s"
                if t >= start - NEAR and open_cp[0] <= end + NEAR:
                    out.append((open_cp[0], t, reason))
                open_cp = None
    # Still running when the log was read (a spread "time"/"wal" checkpoint takes minutes).
    if open_cp and open_cp[0] <= end + NEAR:
        out.append((open_cp[0], max(end, open_cp[0]), f"{open_cp[1]}, still running"))
    return out


def slow_fsyncs(trace: str, clock: str) -> list[tuple[float, float, str, float]]:
    """(start, end, "fsync by comm", ms) of the traced fsync/fdatasync calls."""
    with open(clock) as f:
        unix, mono = (float(x) for x in f.read().split()[:2])
    offset = unix - mono
    line_re = re.compile(r"^\s*([\d.]+) \(\s*([\d.]+) ms\): ([^/]+)/\d+ (\w+)\(")
    out = []
    with open(trace, errors="replace") as f:
        for line in f:
            m = line_re.match(line)
            if m:
                start = float(m.group(1)) / 1000 + offset
                ms = float(m.group(2))
                out.append((start, start + ms / 1000, f"{m.group(4)} by {m.group(3)}", ms))
    return out


def near(second: int, a: float, b: float) -> bool:
    return a <= second + 1 + NEAR and b >= second - NEAR


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--latency", required=True)
    p.add_argument("--jstat")
    p.add_argument("--uptime")
    p.add_argument("--pg-log")
    p.add_argument("--fsync")
    p.add_argument("--clock")
    p.add_argument("--from", dest="start", type=float, required=True)
    p.add_argument("--to", dest="end", type=float, required=True)
    a = p.parse_args()

    slow = slow_seconds(a.latency)
    gcs = gc_pauses(a.jstat, a.uptime) if a.jstat and a.uptime else []
    gcs = [g for g in gcs if g[1] >= a.start - NEAR and g[0] <= a.end + NEAR]
    cps = checkpoints(a.pg_log, a.start, a.end) if a.pg_log else []
    syncs = slow_fsyncs(a.fsync, a.clock) if a.fsync and a.clock else []
    syncs = [x for x in syncs if x[1] >= a.start - NEAR and x[0] <= a.end + NEAR]
    utc = lambda t: dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%H:%M:%S.%f")[:-3]

    print(f"window {utc(a.start)}..{utc(a.end)} UTC: {len(slow)} slow second(s), "
          f"{len(gcs)} GC interval(s) with a pause, {len(cps)} checkpoint(s), "
          f"{len(syncs)} fsync(s) over 5 ms" + ("" if a.fsync else " (not traced)"))
    for g in gcs:
        print(f"  gc {g[2]:10s} {utc(g[0])}..{utc(g[1])} pause {g[3]:.1f} ms")
    for c in cps:
        print(f"  checkpoint {utc(c[0])}..{utc(c[1])} ({c[2]})")
    for x in syncs:
        print(f"  {x[2]:28s} {utc(x[0])} took {x[3]:.1f} ms")
    with_gc = with_cp = with_sync = neither = 0
    for second, what in sorted(slow.items()):
        g = [f"{x[2]} gc {x[3]:.0f} ms" for x in gcs if near(second, x[0], x[1])]
        c = [f"checkpoint ({x[2]})" for x in cps if near(second, x[0], x[1])]
        y = [f"{x[2]} {x[3]:.0f} ms" for x in syncs if near(second, x[0], x[1]) and x[3] >= 10]
        with_gc += bool(g)
        with_cp += bool(c)
        with_sync += bool(y)
        neither += not g and not c and not y
        print(f"  slow {utc(second)[:8]}: {what}; near: {', '.join(g + c + y) or 'nothing'}")
    seconds = range(int(a.start), int(a.end) + 1)
    base_gc = sum(any(near(s, x[0], x[1]) for x in gcs) for s in seconds)
    base_cp = sum(any(near(s, x[0], x[1]) for x in cps) for s in seconds)
    base_sync = sum(any(near(s, x[0], x[1]) and x[3] >= 10 for x in syncs) for s in seconds)
    print(f"summary: slow seconds {len(slow)}: near a GC pause {with_gc}, near a checkpoint {with_cp}, "
          f"near an fsync over 10 ms {with_sync}, near none {neither}; base rate over all "
          f"{len(seconds)} seconds: GC {base_gc}, checkpoint {base_cp}, fsync over 10 ms {base_sync}")


if __name__ == "__main__":
    main()
