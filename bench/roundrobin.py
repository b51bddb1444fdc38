#!/usr/bin/env python3
"""Time several commands in turns, so that they share the machine's moods.

A shared virtual machine drifts by tens of percent over a minute. Timing
one program's runs in a block and then the next one's (as hyperfine does)
turns that drift into a false difference between them; taking turns
(round 1: A B C, round 2: A B C, ...) spreads it over all of them.

Usage: roundrobin.py ROUNDS OUT.json SPEC...
  SPEC is NAME=COMMAND (split like a shell would, no shell features), or
  NAME[:MAX][>FILE]=COMMAND: run in the first MAX rounds only, standard
  output to FILE. Every command runs once before the first round (warm
  cache, not timed). A command that fails stops the measurement.

OUT.json holds, per name, the wall times of its runs in seconds and their
median and mean.
"""
import json
import shlex
import statistics
import subprocess
import sys
import time


def parse(spec):
    head, _, cmd = spec.partition("=")
    out = None
    if ">" in head:
        head, out = head.split(">", 1)
    limit = None
    if ":" in head:
        head, n = head.split(":", 1)
        limit = int(n)
    return {"name": head, "argv": shlex.split(cmd), "limit": limit, "out": out}


def run(c):
    out = open(c["out"], "wb") if c["out"] else subprocess.DEVNULL
    try:
        start = time.perf_counter()
        p = subprocess.run(c["argv"], stdout=out, stderr=subprocess.DEVNULL)
        took = time.perf_counter() - start
    finally:
        if c["out"]:
            out.close()
    if p.returncode != 0:
        sys.exit(f"{c['name']}: {' '.join(c['argv'])} exited with {p.returncode}")
    return took


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    rounds, path = int(sys.argv[1]), sys.argv[2]
    cmds = [parse(s) for s in sys.argv[3:]]
    for c in cmds:
        run(c)
    times = {c["name"]: [] for c in cmds}
    for r in range(rounds):
        for c in cmds:
            if c["limit"] is None or r < c["limit"]:
                times[c["name"]].append(run(c))
        print(f"round {r + 1}/{rounds}: " + ", ".join(
            f"{n} {v[-1] * 1000:.0f} ms" for n, v in times.items() if len(v) == r + 1), file=sys.stderr)
    res = {n: {"runs": v, "median": statistics.median(v), "mean": statistics.mean(v)} for n, v in times.items()}
    with open(path, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
