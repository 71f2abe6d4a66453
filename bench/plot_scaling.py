#!/usr/bin/python3
"""Plots time per operation against table size from mirrorkv_engine_bench's JSON report.

Writes an SVG by hand (no matplotlib needed): one line per single-threaded benchmark
family, table size on a logarithmic x axis, nanoseconds per operation on a linear y axis
from zero, each point the median over the least disturbed half of its repetitions. The
time is CPU time by default: on a shared machine a run's wall time grows with the
neighbours' load (the time spent waiting for a CPU), its CPU time much less; --time real
plots wall time. A flat line is what the O(1) claim predicts; the rise that remains
comes from cache and TLB misses as the table outgrows the caches.

    mirrorkv_engine_bench --mirrorkv_max_keys=10000000 --benchmark_repetitions=5 \\
        --benchmark_min_time=0.2 --benchmark_out=engine.json --benchmark_out_format=json
    /usr/bin/python3 bench/plot_scaling.py engine.json [-o docs/img/engine_scaling.svg]
"""

import argparse
import json
import math
import os
import re
import statistics
from xml.sax.saxutils import escape

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUTPUT = os.path.join(REPO, "docs", "img", "engine_scaling.svg")
NAME_RE = re.compile(r"^(BM_\w+)/keys:(\d+)(/|$)")
# Colour-blind-safe palette (Okabe-Ito), one per family in first-seen order.
COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
TIME_UNIT_NS = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}
WIDTH, HEIGHT = 760, 460
LEFT, RIGHT, TOP, BOTTOM = 70, 210, 40, 60  # margins around the plot area


def load_series(path, keep, time_field):
    """Returns {family: {keys: median ns per op}} for the single-threaded runs.

    time_field is "cpu_time" or "real_time": the report's time per iteration.

    Each point is the median over the `keep` fraction of its repetitions whose thread
    waited least for a CPU (the `rq_wait` counter; see bench/run_queue_probe.h).
    """
    with open(path) as report_file:
        report = json.load(report_file)
    samples = {}
    for run in report["benchmarks"]:
        if run.get("run_type") != "iteration" or run.get("error_occurred"):
            continue
        if run.get("threads", 1) != 1:
            continue
        match = NAME_RE.match(run["run_name"])
        if not match:
            continue
        family, keys = match.group(1), int(match.group(2))
        ns = run[time_field] * TIME_UNIT_NS[run["time_unit"]]
        samples.setdefault(family, {}).setdefault(keys, []).append(
            (run.get("rq_wait", 0.0), ns))

    def median_ns(runs):
        kept = sorted(runs, key=lambda run: run[0])[:max(1, math.ceil(len(runs) * keep))]
        return statistics.median(ns for _, ns in kept)

    return {family: {keys: median_ns(runs) for keys, runs in by_keys.items()}
            for family, by_keys in samples.items()}


def nice_step(span, target_ticks=6):
    """A 1, 2 or 5 times a power of ten step giving about target_ticks ticks."""
    raw = span / target_ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def size_label(keys):
    for divisor, suffix in ((1_000_000, "M"), (1_000, "K")):
        if keys >= divisor and keys % divisor == 0:
            return f"{keys // divisor}{suffix}"
    return str(keys)


def render(series, title, y_label):
    all_keys = sorted({keys for points in series.values() for keys in points})
    y_max_data = max(ns for points in series.values() for ns in points.values())
    step = nice_step(y_max_data)
    y_max = step * math.ceil(y_max_data * 1.05 / step)
    log_lo, log_hi = math.log10(all_keys[0]), math.log10(all_keys[-1])
    if log_hi == log_lo:
        log_lo, log_hi = log_lo - 0.5, log_hi + 0.5
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(keys):
        return LEFT + (math.log10(keys) - log_lo) / (log_hi - log_lo) * plot_w

    def y_of(ns):
        return TOP + plot_h - ns / y_max * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{LEFT + plot_w / 2}" y="22" text-anchor="middle" font-size="14">'
           f'{escape(title)}</text>']
    tick = 0.0
    while tick <= y_max + step / 2:
        y = y_of(tick)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" '
                   f'stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
        tick += step
    for keys in all_keys:
        x = x_of(keys)
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" '
                   f'stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">'
                   f'{size_label(keys)}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
               f'stroke="#333"/>')
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 18}" text-anchor="middle">'
               f'keys in the table (log scale)</text>')
    out.append(f'<text transform="translate(18 {TOP + plot_h / 2}) rotate(-90)" '
               f'text-anchor="middle">{escape(y_label)}</text>')
    for index, (family, points) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        coords = [(x_of(keys), y_of(points[keys])) for keys in sorted(points)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                   f'stroke-width="2"/>')
        out.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>'
                   for x, y in coords)
        legend_y = TOP + 10 + index * 20
        out.append(f'<line x1="{WIDTH - RIGHT + 15}" y1="{legend_y}" '
                   f'x2="{WIDTH - RIGHT + 35}" y2="{legend_y}" stroke="{colour}" '
                   f'stroke-width="2"/>')
        out.append(f'<text x="{WIDTH - RIGHT + 40}" y="{legend_y + 4}">'
                   f'{escape(family.removeprefix("BM_"))}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="JSON written by mirrorkv_engine_bench")
    parser.add_argument("-o", "--output", default=DEFAULT_OUTPUT)
    parser.add_argument("--keep", type=float, default=0.5,
                        help="fraction of each point's repetitions to keep, least disturbed "
                             "first (default 0.5; 1 keeps all)")
    parser.add_argument("--time", choices=("cpu", "real"), default="cpu",
                        help="plot CPU time (default) or wall time per operation")
    parser.add_argument("--title", default="mirrorkv Store: time per operation vs table size")
    args = parser.parse_args()
    series = load_series(args.report, args.keep, f"{args.time}_time")
    if not series:
        raise SystemExit(f"{args.report} holds no single-threaded BM_*/keys:N run")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as svg:
        y_label = f"{'CPU' if args.time == 'cpu' else 'wall'} ns per operation (1 thread)"
        svg.write(render(series, args.title, y_label))
    for family, points in series.items():
        cells = ", ".join(f"{size_label(k)}: {ns:.0f} ns" for k, ns in sorted(points.items()))
        print(f"{family}: {cells}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
