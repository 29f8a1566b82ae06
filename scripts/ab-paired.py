#!/usr/bin/env python3
"""Paired differences of an scripts/ab.sh run: B minus A for each run number.

    scripts/ab-paired.py DIR NAME [FIELD …]

FIELD is a dotted path into chat-bench's JSON report (default:
server.cpuMicrosPerDelivery and sendLatency.p99). Prints each side's median,
the median of the paired differences and its distribution-free interval of at
least 95 % (the sign test's order statistics), which is what says whether a
difference smaller than the runs' own spread is there at all. Several DIRs
can be pooled: DIR may be a comma-separated list.
"""
import json
import os
import statistics
import sys


def field(report, path):
    value = report
    for key in path.split("."):
        value = value[key]
    return float(value)


def interval(sorted_values):
    """The widest order statistics (x_k, x_{n-k+1}) with 2·P(Bin(n, ½) < k) ≤ 0.05."""
    n = len(sorted_values)
    probability, below, k = 0.5**n, 0.0, 0
    while True:
        below += probability
        if 2 * below > 0.05:
            break
        k += 1
        probability *= (n - k + 1) / k
    return (sorted_values[k - 1], sorted_values[n - k]) if k >= 1 else None


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    directories, name = sys.argv[1].split(","), sys.argv[2]
    fields = sys.argv[3:] or ["server.cpuMicrosPerDelivery", "sendLatency.p99"]
    for path in fields:
        a_values, b_values, differences = [], [], []
        for directory in directories:
            run = 1
            while True:
                a_file = os.path.join(directory, f"{name}-a-{run}.json")
                b_file = os.path.join(directory, f"{name}-b-{run}.json")
                if not (os.path.exists(a_file) and os.path.exists(b_file)):
                    break
                try:
                    a = field(json.load(open(a_file)), path)
                    b = field(json.load(open(b_file)), path)
                except (KeyError, ValueError, json.JSONDecodeError):
                    run += 1
                    continue
                a_values.append(a)
                b_values.append(b)
                differences.append(b - a)
                run += 1
        if not differences:
            print(f"{path}: no pairs")
            continue
        differences.sort()
        bounds = interval(differences)
        shown = f", 95 % interval [{bounds[0]:+.2f}, {bounds[1]:+.2f}]" if bounds else ""
        print(
            f"{path}: {len(differences)} pairs; A median {statistics.median(a_values):.2f}, "
            f"B median {statistics.median(b_values):.2f}; B − A paired median "
            f"{statistics.median(differences):+.2f}{shown}"
        )


if __name__ == "__main__":
    main()
