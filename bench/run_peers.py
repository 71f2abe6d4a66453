#!/usr/bin/python3
"""Runs mirrorkv_peer_bench with repetitions and prints the medians side by side.

Builds nothing: point --binary at a Release build of mirrorkv_peer_bench (default:
build-bench/bench/mirrorkv_peer_bench under the repository root). Prints a table of median
operations per second per contender for each (keys, threads), the ratio of mirrorkv to
every peer, and the two published targets.

The machine the figures come from is shared and noisy, so:
- medians of N repetitions, never a single run;
- the repetitions of all contenders are interleaved in random order (Google Benchmark's
  --benchmark_enable_random_interleaving), so that a busy phase of the machine hits every
  contender alike instead of the one that happened to run then;
- a repetition whose threads spent much of their time waiting for a CPU (the `rq_wait`
  counter, from /proc/thread-self/schedstat) measured the neighbours more than the code:
  each cell takes the median over the least disturbed --keep fraction of its repetitions
  (default: the better half by rq_wait) and shows the worst rq_wait among those kept;
- beside wall-time throughput, the CPU time per operation of the same repetitions: it
  does not count the time the threads waited for a CPU, so it is the steadier measure of
  what an operation costs, though it also leaves out time spent asleep on a lock.

    /usr/bin/python3 bench/run_peers.py [--repetitions 5] [--binary PATH] [--json-out FILE]
    /usr/bin/python3 bench/run_peers.py --report FILE   # re-read a saved --json-out
"""

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BINARY = os.path.join(REPO, "build-bench", "bench", "mirrorkv_peer_bench")

# Benchmark name suffix -> the contender's name in tables; also the column order.
CONTENDERS = {
    "Mirrorkv": "mirrorkv",
    "Libcuckoo": "libcuckoo",
    "Tbb": "tbb",
    "AbslMutex": "absl+mutex",
    "StdMutex": "std+mutex",
    "AbslNoLock": "absl-nolock",
}
NAME_RE = re.compile(r"^BM_Peer(\w+)/keys:(\d+)/.*threads:(\d+)$")

# (threads, keys, peer, minimum ratio mirrorkv/peer), as stated in docs/benchmarks.md.
TARGETS = [
    (2, 1_000_000, "libcuckoo", 1.2),
    (1, 1_000_000, "absl-nolock", 0.8),
]


def run_benchmark(binary, repetitions, extra_args):
    """Returns the benchmark's parsed JSON report."""
    if not os.access(binary, os.X_OK):
        sys.exit(f"{binary} is not an executable; build the {os.path.basename(binary)} target first")
    command = [binary, f"--benchmark_repetitions={repetitions}",
               "--benchmark_enable_random_interleaving=true",
               "--benchmark_format=json"] + extra_args
    print("running:", " ".join(command), file=sys.stderr, flush=True)
    # Progress and warnings go to stderr (inherited); the report is stdout.
    result = subprocess.run(command, stdout=subprocess.PIPE, check=True)
    return json.loads(result.stdout)


class Cell:
    """The kept repetitions of one contender at one (keys, threads)."""

    def __init__(self, runs, keep):
        # runs: (rq_wait or None, items/s, CPU ns per item) per repetition
        if any(rq_wait is None for rq_wait, _, _ in runs):
            kept = runs  # a report without the counter: nothing to rank by
        else:
            kept = sorted(runs, key=lambda run: run[0])
            kept = kept[:max(1, math.ceil(len(runs) * keep))]
        self.ops = statistics.median(ops for _, ops, _ in kept)
        self.cpu_ns = statistics.median(cpu_ns for _, _, cpu_ns in kept)
        self.rq_wait = max(rq_wait or 0.0 for rq_wait, _, _ in kept)


def collect_cells(report, keep):
    """Maps (keys, threads) -> {contender: Cell}."""
    samples = {}
    for run in report["benchmarks"]:
        if run.get("run_type") != "iteration" or run.get("error_occurred"):
            continue
        match = NAME_RE.match(run["run_name"])
        if not match or match.group(1) not in CONTENDERS:
            continue
        key = (int(match.group(2)), int(match.group(3)))
        # cpu_time is the CPU time of all threads per item, in time_unit (ns by default).
        cpu_ns = run["cpu_time"] * {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[run["time_unit"]]
        samples.setdefault(key, {}).setdefault(CONTENDERS[match.group(1)], []).append(
            (run.get("rq_wait"), run["items_per_second"], cpu_ns))
    return {key: {contender: Cell(runs, keep) for contender, runs in by_contender.items()}
            for key, by_contender in samples.items()}


def print_table(title, cells, columns, format_cell):
    print(title)
    print(f"{'keys':>9} {'thr':>3} " + " ".join(f"{c:>13}" for c in columns))
    for (keys, threads) in sorted(cells):
        row = cells[(keys, threads)]
        print(f"{keys:>9} {threads:>3} " + " ".join(
            format_cell(row, contender).rjust(13) if contender in row else f"{'-':>13}"
            for contender in columns))
    print()


def print_tables(cells, keep):
    columns = list(CONTENDERS.values())
    peers = columns[1:]

    def ratio(value):
        return lambda row, peer: f"{value(row, peer):.2f}" if "mirrorkv" in row else "-"

    print_table(
        "Throughput, million ops/s (wall time), median over the least disturbed "
        f"{keep:.0%} of the repetitions; [the worst rq_wait among them]", cells, columns,
        lambda row, c: f"{row[c].ops / 1e6:6.2f} [{row[c].rq_wait:3.0%}]")
    print_table("Ratio of throughputs, mirrorkv / peer (> 1: mirrorkv is faster)", cells, peers,
                ratio(lambda row, peer: row["mirrorkv"].ops / row[peer].ops))
    print_table(
        "CPU time per operation, ns (all threads' CPU time / operations; time spent asleep "
        "on a lock is not counted), same repetitions", cells, columns,
        lambda row, c: f"{row[c].cpu_ns:7.0f}")
    print_table("Ratio of CPU costs, peer / mirrorkv (> 1: mirrorkv is cheaper)", cells, peers,
                ratio(lambda row, peer: row[peer].cpu_ns / row["mirrorkv"].cpu_ns))


def print_targets(cells):
    """Prints one line per target, flagging the missed ones."""
    for threads, keys, peer, minimum in TARGETS:
        row = cells.get((keys, threads), {})
        label = f"{threads} thread{'s' if threads > 1 else ''}, {keys // 1_000_000}M keys"
        if "mirrorkv" not in row or peer not in row:
            print(f"{label}: mirrorkv/{peer} = not measured (target >= {minimum})")
            continue
        ratio = row["mirrorkv"].ops / row[peer].ops
        cpu_ratio = row[peer].cpu_ns / row["mirrorkv"].cpu_ns
        print(f"{label}: mirrorkv/{peer} = {ratio:.2f} (target >= {minimum})"
              f"{'' if ratio >= minimum else '  MISSED'}; by CPU time: {cpu_ratio:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=DEFAULT_BINARY)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--keep", type=float, default=0.5,
                        help="fraction of each cell's repetitions to keep, least disturbed "
                             "first (default 0.5; 1 keeps all)")
    parser.add_argument("--json-out", help="also save the raw Google Benchmark report here")
    parser.add_argument("--report", help="analyse this saved report instead of running")
    parser.add_argument("benchmark_args", nargs="*",
                        help="passed on, e.g. --benchmark_filter=keys:1000000/ "
                             "(put them after --)")
    args = parser.parse_args()
    if args.report:
        with open(args.report) as report_file:
            report = json.load(report_file)
    else:
        report = run_benchmark(args.binary, args.repetitions, args.benchmark_args)
    if args.json_out:
        with open(args.json_out, "w") as out:
            json.dump(report, out, indent=1)
    cells = collect_cells(report, args.keep)
    if not cells:
        sys.exit("the report holds no successful BM_Peer run")
    print_tables(cells, args.keep)
    print_targets(cells)


if __name__ == "__main__":
    main()
