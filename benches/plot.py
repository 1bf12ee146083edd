"""Draws benches/coldstart.png from coldstart.py's JSON: cold start (to the answer, and to the
last `next`, when Lambda may freeze), warm p50/p99 (answer and billed) and cost per million
requests against the memory size.

Usage: plot.py FIGURES_JSON OUTPUT_PNG [TITLE]   (needs matplotlib; Debian: python3-matplotlib)
"""

import json
import sys

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

figures = json.load(open(sys.argv[1]))
title = sys.argv[3] if len(sys.argv) > 3 else "api-tokens in the Lambda model"
model = figures["model"]
sizes = [int(m) for m in model]
cold = [model[m]["cold"]["api-tokens"]["cold_ms"] for m in model]
busy = [model[m]["cold"]["api-tokens"].get("busy_ms") for m in model]
hello = [model[m]["cold"]["hello"]["cold_ms"] for m in model]
p99 = [model[m]["soak"]["warm_p99_ms"] for m in model]
p50 = [model[m]["soak"]["warm_p50_ms"] for m in model]
billed_p99 = [model[m]["soak"].get("billed_p99_ms") for m in model]
cost = [model[m]["soak"]["cost_per_million"] for m in model]

fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 2]})
top.plot(sizes, cold, "o-", label="cold start, median (exec to first answer)")
if None not in busy:
    top.plot(sizes, busy, "^-.", color="tab:cyan", alpha=0.8,
             label="cold start to the last next (runtime's and extension's), median")
top.plot(sizes, hello, "o--", color="grey", label="hello world cold start, median")
for other in model[next(iter(model))]["cold"]:
    if other == "floor":
        top.plot(sizes, [model[m]["cold"][other]["cold_ms"] for m in model], "o--",
                 color="tab:purple", alpha=0.7, label="floor cold start (the DynamoDB reads alone)")
    elif other not in ("api-tokens", "hello"):
        top.plot(sizes, [model[m]["cold"][other]["cold_ms"] for m in model], "o:",
                 color="tab:blue", alpha=0.5, label=f"{other} cold start, median")
top.plot(sizes, p99, "s-", label="warm p99 (to the answer)")
if None not in billed_p99:
    top.plot(sizes, billed_p99, "s:", color="tab:orange", alpha=0.6,
             label="warm p99, billed (to the last next)")
top.plot(sizes, p50, "s:", color="tab:green", alpha=0.6, label="warm p50 (to the answer)")
top.set_yscale("log")
top.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
top.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
top.set_yticks([1, 2, 3, 5, 10, 20, 30, 50, 100, 200])
# Head room above the lines for the legend.
top.set_ylim(min(hello + p50) * 0.7,
             max(cold + p99 + [b for b in busy + billed_p99 if b is not None]) * 3.2)
top.set_ylabel("ms (log scale)")
top.grid(True, which="both", alpha=0.3)
top.legend(fontsize=7, ncol=2, loc="upper right")
top.set_title(title, fontsize=10)
for x, y in zip(sizes, cold):
    top.annotate(f"{y:.0f}", (x, y), textcoords="offset points", xytext=(0, 6),
                 ha="center", fontsize=7)
for x, y in zip(sizes, p99):
    top.annotate(f"{y:.1f}", (x, y), textcoords="offset points", xytext=(6, -10),
                 ha="left", fontsize=7)

bottom.plot(sizes, cost, "D-", color="tab:red")
for x, y in zip(sizes, cost):
    bottom.annotate(f"${y:.2f}", (x, y), textcoords="offset points", xytext=(0, 6),
                    ha="center", fontsize=7)
bottom.set_ylabel("$ per million requests\n(arm64 prices, billed duration)")
bottom.set_xlabel("memory size, MB (CPU share = memory / 1769 of one vCPU)")
bottom.set_xscale("log", base=2)
bottom.set_xticks(sizes)
bottom.set_xticklabels([str(s) for s in sizes])
bottom.grid(True, alpha=0.3)
bottom.set_ylim(0, max(cost) * 1.25)

fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
print(f"plot: {sys.argv[2]}")
