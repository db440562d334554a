"""Reads bench.sh's result lines (`SETUP:ROUND p50 p99 rps requests cpu_seconds`, wrk's units) and prints
the Markdown table of docs/benchmarks.md: medians over rounds, and the ratios of one
round's runs, (a)/(b) and admit/Python, as medians of the per-round ratios."""

import re
import statistics
import sys

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    return float(m.group(1)) * UNITS[m.group(2)]


runs = {}
for line in open(sys.argv[1]):
    label, p50, p99, rps, count, cpu = line.split()
    setup, round_ = label.split(":")
    per_cpu = float(count) / float(cpu) if float(cpu) > 0 else 0.0
    runs.setdefault(setup, {})[round_] = (ms(p50), ms(p99), float(rps), per_cpu)

med = lambda setup, i: statistics.median(v[i] for v in runs[setup].values())


def ratio(x, y, i):
    return statistics.median(runs[x][r][i] / runs[y][r][i] for r in runs[x] if r in runs[y])


names = {
    "a": "(a) nginx -> auth_request -> admit serve -> upstream",
    "b": "(b) nginx -> auth_request -> static 200 -> upstream",
    "c": "(c) nginx -> upstream, no auth",
    "decide": "admit serve: POST /v1/decide",
    "python": "Python binding behind uvicorn: POST /v1/decide",
}
print(f"\n{sys.argv[2]}; medians over rounds\n")
print("| setup | p50 (ms) | p99 (ms) | requests/s | requests per server CPU second |")
print("|---|---:|---:|---:|---:|")
for setup, name in names.items():
    if setup in runs:
        per_cpu = f"{med(setup, 3):,.0f}" if med(setup, 3) else ""
        print(f"| {name} | {med(setup, 0):.3f} | {med(setup, 1):.3f} | {med(setup, 2):,.0f} | {per_cpu} |")
print()
print(f"(a)/(b), per-round ratio medians: p50 {ratio('a', 'b', 0):.2f}x, p99 {ratio('a', 'b', 1):.2f}x, "
      f"throughput {ratio('a', 'b', 2):.2f}x (target: latency within 1.3x)")
print(f"(b)/(c): p50 {ratio('b', 'c', 0):.2f}x, p99 {ratio('b', 'c', 1):.2f}x")
print(f"/v1/decide admit/Python: throughput {ratio('decide', 'python', 2):.1f}x, "
      f"per server CPU second {ratio('decide', 'python', 3):.1f}x (target: at least 10x)")
