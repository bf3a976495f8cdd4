#!/usr/bin/env python3
"""Plots of a scripts/bench results JSON, as small PNGs beside it:

* <base>-throughput.png: GB/s per tool per workload (grouped bars; medians);
* <base>-scaling.png: throughput against thread count for each workload the
  run scaled, with the linear line (one-thread throughput times threads);
* <base>-accuracy.png: the distribution (CDF) of pagemill's relative
  percentile error against exact values, per quantile, for the features and
  logs jobs, with the documented bound (3 significant digits: 0.1 %).

    scripts/bench_plots.py RESULTS.json [--out-dir DIR]

scripts/bench calls it at the end of a run; it needs matplotlib (scripts/bench
installs it with pip when missing)."""

import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DPI = 80


def tools_of(w):
    """{tool: seconds} of one workload, pagemill first, then the floor and peers."""
    tools = {"pagemill": w["pagemill"]}
    if w.get("pagemill --threads 1"):
        tools["pagemill 1 thread"] = w["pagemill --threads 1"]
    tools["wc -l"] = w["wc -l"]
    tools.update(w.get("peers", {}))
    return tools


def throughput(doc, path):
    workloads = doc["workloads"]
    names = list(workloads)
    tools = []
    for w in workloads.values():
        for t in tools_of(w):
            if t not in tools:
                tools.append(t)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / len(tools)
    for i, tool in enumerate(tools):
        xs, ys = [], []
        for j, w in enumerate(workloads.values()):
            t = tools_of(w).get(tool)
            if t:
                xs.append(j + (i - (len(tools) - 1) / 2) * width)
                ys.append(w["bytes"] / t / 1e9)
        ax.bar(xs, ys, width, label=tool)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("GB/s (median)")
    ax.set_title(f"Throughput per tool, {doc['host']} ({doc.get('cores', '?')} cores), commit {doc['commit']}")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def scaling(doc, path):
    curves = doc["scaling"]["workloads"]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    top = 1
    for name, c in curves.items():
        threads = [p["threads"] for p in c["points"]]
        gbps = [c["bytes"] / p["seconds"] / 1e9 for p in c["points"]]
        line = ax.plot(threads, gbps, marker="o", label=f"{name} (measured)")[0]
        ax.plot(threads, [gbps[0] * t for t in threads], linestyle="--", color=line.get_color(), alpha=0.6,
                label=f"{name} (linear)")
        top = max(top, max(threads))
    ax.set_xticks(range(1, top + 1))
    ax.set_xlabel("threads")
    ax.set_ylabel("GB/s (median)")
    ax.set_title(f"Scaling, {doc['host']} ({doc.get('cores', '?')} cores)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def accuracy(doc, path):
    acc = doc["accuracy"]
    jobs = [j for j in ("features", "logs") if j in acc]
    fig, axes = plt.subplots(1, len(jobs), figsize=(4 * len(jobs), 3.4), sharey=True, squeeze=False)
    for ax, job in zip(axes[0], jobs):
        for q, errors in acc[job]["errors"].items():
            xs = sorted(max(x, 1e-7) for x in errors)  # exact answers drawn at the left edge
            ys = [(i + 1) / len(xs) for i in range(len(xs))]
            ax.step(xs, ys, where="post", label=f"{q} (n={len(xs)})")
        ax.axvline(acc["bound"], color="red", linestyle="--", label="bound 0.1 %")
        ax.set_xscale("log")
        ax.set_xlim(1e-7, 1e-2)
        ax.set_xlabel("relative error (exact = left edge)")
        ax.set_title(f"{job} quantiles vs exact", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("fraction of groups")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--out-dir", help="folder for the PNGs (default: beside the results)")
    args = ap.parse_args()
    with open(args.results) as f:
        doc = json.load(f)
    base = os.path.splitext(os.path.basename(args.results))[0]
    out = args.out_dir or os.path.dirname(os.path.abspath(args.results))
    written = []
    for kind, fn, present in (("throughput", throughput, bool(doc.get("workloads"))),
                              ("scaling", scaling, bool(doc.get("scaling"))),
                              ("accuracy", accuracy, bool(doc.get("accuracy")))):
        if present:
            path = os.path.join(out, f"{base}-{kind}.png")
            fn(doc, path)
            written.append(path)
    for p in written:
        print(f"wrote {p} ({os.path.getsize(p) // 1024} KB)")


if __name__ == "__main__":
    main()
