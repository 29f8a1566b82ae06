#!/usr/bin/env python3
"""The share of a profile's samples spent in one part of the server.

    perf script -i perf.data | scripts/perf-share.py [--module ChatStore] [--exclude WORD]… [--top N]

A sample counts when one of its frames belongs to the module (its mangled
name holds the module's length-prefixed name, as `9ChatStore`) and none of
its frames, demangled, holds an excluded word (by default the protobuf
encoding, which the memory server pays too, on its event loops). Prints
`samples N selected M share S`; with --top, the selected samples by their
leaf function and by the functions below the part's entry, demangled
(`swift demangle`).
"""
import argparse
import collections
import subprocess
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--module", default="ChatStore")
parser.add_argument("--exclude", action="append", default=None)
parser.add_argument("--top", type=int, default=0)
options = parser.parse_args()
excluded = options.exclude or ["SwiftProtobuf", "ProtobufEventEncoding", "encoded(as"]
marker = f"{len(options.module)}{options.module}"

# perf script: a header line per sample, then one indented line per frame.
samples, frames = [], None
for line in sys.stdin:
    if not line.strip():
        if frames is not None:
            samples.append(frames)
        frames = None
    elif not line[0].isspace():
        frames = []
    elif frames is not None:
        fields = line.split(None, 1)
        symbol = fields[1].rsplit(" (", 1)[0] if len(fields) > 1 else "?"
        frames.append(symbol.rsplit("+0x", 1)[0])
if frames:
    samples.append(frames)

symbols = sorted({symbol for frames in samples for symbol in frames})
try:
    demangled = subprocess.run(
        ["swift", "demangle", "--simplified", "--compact"], input="\n".join(symbols), capture_output=True, text=True
    ).stdout.split("\n")
    names = dict(zip(symbols, demangled))
except OSError:
    names = {symbol: symbol for symbol in symbols}

selected = [
    frames
    for frames in samples
    if any(marker in symbol for symbol in frames)
    and not any(word in names.get(symbol, symbol) for symbol in frames for word in excluded)
]
share = len(selected) / max(len(samples), 1)
print(f"samples {len(samples)} selected {len(selected)} share {share:.5f}")
if options.top and selected:
    leaves = collections.Counter(names.get(frames[0], frames[0])[:100] for frames in selected)
    below = collections.Counter()
    for frames in selected:
        seen = set()
        for symbol in frames:
            name = names.get(symbol, symbol)[:100]
            if name not in seen:
                below[name] += 1
                seen.add(name)
    print("-- by leaf function (% of selected)")
    for name, count in leaves.most_common(options.top):
        print(f"{count / len(selected) * 100:6.1f}% {name}")
    print("-- by function on the stack (% of selected)")
    for name, count in below.most_common(options.top):
        print(f"{count / len(selected) * 100:6.1f}% {name}")
