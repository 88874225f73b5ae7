#!/usr/bin/env python3
"""Sums an ncu CSV (--csv --metrics gpu__time_duration.sum,dram__bytes_read.sum) per kernel name.

Used by tests/gpu/device-session.sh profile: prints, per kernel, the launches, total and mean time, the
share of the profiled window, and the DRAM read bandwidth its launches reached."""
import csv
import re
import sys
from collections import defaultdict

rows = [r for r in csv.reader(open(sys.argv[1])) if r]
header = next(i for i, r in enumerate(rows) if "Kernel Name" in r and "Metric Name" in r)
names = rows[header]
col = {n: names.index(n) for n in ("ID", "Kernel Name", "Metric Name", "Metric Value", "Metric Unit")}
per_launch = defaultdict(dict)
for r in rows[header + 1:]:
    if len(r) < len(names):
        continue
    kernel = re.sub(r"\(.*", "", r[col["Kernel Name"]]).replace("void ", "")
    kernel = re.sub(r"lathe::kernels::(\(anonymous namespace\)::)?", "", kernel)
    value = float(r[col["Metric Value"]].replace(",", ""))
    unit = r[col["Metric Unit"]]
    scale = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3,
             "byte": 1, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9}
    per_launch[(r[col["ID"]], kernel)][r[col["Metric Name"]]] = value * scale.get(unit, 1.0)
totals = defaultdict(lambda: [0, 0.0, 0.0])
for (_, kernel), metrics in per_launch.items():
    t = totals[kernel]
    t[0] += 1
    t[1] += metrics.get("gpu__time_duration.sum", 0.0)
    t[2] += metrics.get("dram__bytes_read.sum", 0.0)
window = sum(t[1] for t in totals.values())
print(f"{'kernel':<58} {'launches':>8} {'total us':>10} {'mean us':>8} {'share':>6} {'GB/s':>7}")
for kernel, (n, us, read) in sorted(totals.items(), key=lambda kv: -kv[1][1]):
    print(f"{kernel[:58]:<58} {n:>8} {us:>10.1f} {us / n:>8.2f} {100 * us / window:>5.1f}% {read / us / 1e3 if us else 0:>7.0f}")
print(f"{'window':<58} {sum(t[0] for t in totals.values()):>8} {window:>10.1f}")
