#!/usr/bin/python3
"""Runs mirrorkv_replication_bench's SET throughput with repetitions; prints medians and
the ratios to no log.

Builds nothing: point --binary at a Release build of mirrorkv_replication_bench (default:
build-bench/bench/mirrorkv_replication_bench under the repository root). For each number
of writer threads it prints, per mode (no log, command log only, log + 1 and + 2
in-process replicas), the median throughput, the median CPU time per SET of the writer
threads, the worst share of time the writers waited for a CPU, and the ratio of each to
no log. The repetitions of all modes run interleaved in random order, so that a busy
phase of the shared machine hits every mode alike (see run_peers.py).

Every repetition is kept (--keep 1.0 by default), unlike run_peers.py: the replicas'
threads competing with the writer for the cores are part of what a replica costs, and
dropping the repetitions where the writer waited for a CPU would hide it.

    /usr/bin/python3 bench/run_replication.py [--repetitions 9] [--binary PATH]
"""

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_peers import Cell, run_benchmark  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BINARY = os.path.join(REPO, "build-bench", "bench", "mirrorkv_replication_bench")
MODES = ["no log", "log only", "log + 1 replica", "log + 2 replicas"]
NAME_RE = re.compile(r"^BM_ReplicatedSet/(\d)/real_time/threads:(\d+)$")
TARGET = ("log + 1 replica", 0.8)  # docs/benchmarks.md: >= 0.8 of no log


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=9)
    parser.add_argument("--binary", default=DEFAULT_BINARY)
    parser.add_argument("--keep", type=float, default=1.0,
                        help="fraction of repetitions to keep, least disturbed first")
    parser.add_argument("extra", nargs="*", help="more Google Benchmark flags")
    args = parser.parse_args()
    report = run_benchmark(args.binary, args.repetitions,
                           ["--benchmark_filter=BM_ReplicatedSet",
                            "--benchmark_min_time=0.2"] + args.extra)
    samples = {}
    for run in report["benchmarks"]:
        if run.get("run_type") != "iteration" or run.get("error_occurred"):
            continue
        match = NAME_RE.match(run["run_name"])
        if not match:
            continue
        mode, threads = MODES[int(match.group(1))], int(match.group(2))
        cpu_ns = run["cpu_time"] * {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[run["time_unit"]]
        samples.setdefault(threads, {}).setdefault(mode, []).append(
            (run.get("rq_wait"), run["items_per_second"], cpu_ns))
    for threads, by_mode in sorted(samples.items()):
        cells = {mode: Cell(runs, args.keep) for mode, runs in by_mode.items()}
        base = cells["no log"]
        print(f"\n{threads} writer thread(s), medians of {args.repetitions} repetitions")
        print(f"{'mode':18} {'M SET/s':>8} {'CPU ns/SET':>11} {'rq_wait':>8} "
              f"{'ratio':>6} {'ratio by CPU':>13}")
        for mode in MODES:
            if mode not in cells:
                continue
            c = cells[mode]
            print(f"{mode:18} {c.ops / 1e6:8.2f} {c.cpu_ns:11.0f} {c.rq_wait:8.0%} "
                  f"{c.ops / base.ops:6.2f} {base.cpu_ns / c.cpu_ns:13.2f}")
        mode, minimum = TARGET
        if mode in cells:
            ratio = cells[mode].ops / base.ops
            verdict = "met" if ratio >= minimum else "missed"
            print(f"target: {mode} >= {minimum} of no log: {ratio:.2f}, {verdict}")


if __name__ == "__main__":
    main()
