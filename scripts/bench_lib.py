"""Shared helpers for pagemill's end-to-end benchmark scripts: run commands
interleaved, measure wall time, CPU time, peak RSS and peak anonymous RSS per
process, and write results as JSON and Markdown under benches/results/."""

import json
import os
import platform
import socket
import statistics
import subprocess
import threading
import time
from datetime import datetime, timezone


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _poll_anon(pid, peak, stop):
    path = f"/proc/{pid}/status"
    while not stop.is_set():
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        peak[0] = max(peak[0], int(line.split()[1]))
                        break
        except OSError:
            return
        time.sleep(0.005)


def measure_rusage(cmd, env=None):
    """Run cmd once with wait4 for exact CPU time and peak RSS; returns dict."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak, stop = [0], threading.Event()
    poller = threading.Thread(target=_poll_anon, args=(proc.pid, peak, stop), daemon=True)
    poller.start()
    chunks = []
    while True:
        data = proc.stdout.read(1 << 16)
        if not data:
            break
        chunks.append(data)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stop.set()
    poller.join()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({code}): {err.decode(errors='replace')[-500:]}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "anon_mb": peak[0] / 1024,
        "out": b"".join(chunks),
    }


PAGE_CACHE_NOTE = "evicted, then read back once (a file read from the disk)"


def settle_page_cache(path):
    """Put `path` in the page cache in the state of a file read from the disk,
    whatever its history: flush it, evict it (posix_fadvise DONTNEED), read it
    back once. Returns the state, for the results (PAGE_CACHE_NOTE), or what
    was done instead where eviction is not available.

    Why not just read it (cat): a file written moments ago (a generated input)
    sits in the page cache in the pieces its writes made; read back from the
    disk it arrives in readahead's pieces, on Linux 6.x folios of up to 2 MiB
    that a memory map maps 2 MiB at a time. pagemill maps its inputs, so its
    times depend on which (about 10% on a JSON summary of 620 MB here); the
    peers read them. Every program of a run sees the same state, and a rerun
    the state of the first."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if not hasattr(os, "posix_fadvise"):
            state = "read once (no posix_fadvise here to evict it first)"
        else:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            state = PAGE_CACHE_NOTE
        while os.read(fd, 1 << 20):
            pass
    finally:
        os.close(fd)
    return state


def interleaved(programs, runs):
    """programs: list of (name, cmd). Returns {name: [sample dicts]}; each round
    runs every program once, in order, so drift hits all alike."""
    samples = {name: [] for name, _ in programs}
    for _ in range(runs):
        for name, cmd in programs:
            samples[name].append(measure_rusage(cmd))
    return samples


def summarize(samples):
    rows = {}
    for name, runs in samples.items():
        rows[name] = {
            "runs": len(runs),
            "wall_median": statistics.median(r["wall"] for r in runs),
            "wall_all": [round(r["wall"], 4) for r in runs],
            "cpu_median": statistics.median(r["cpu"] for r in runs),
            "rss_mb_max": max(r["rss_mb"] for r in runs),
            "anon_mb_max": max(r["anon_mb"] for r in runs),
        }
    return rows


def write_results(out_dir, tag, meta, workloads):
    """workloads: {workload: {"bytes": n, "rows": {program: summary}, "ref": program}}"""
    os.makedirs(out_dir, exist_ok=True)
    now = datetime.now(timezone.utc)
    host = socket.gethostname().split(".")[0]
    base = f"{out_dir}/{now:%Y-%m-%d}-{host}-{tag}"
    # A second run on the same day gets its own files (-2, -3, ...): the
    # first day's files often carry notes written by hand after the run.
    n = 1
    while any(os.path.exists(f"{base}{'' if n == 1 else f'-{n}'}{ext}") for ext in (".json", ".md")):
        n += 1
    if n > 1:
        base = f"{base}-{n}"
    doc = {
        "date": now.isoformat(timespec="seconds"),
        "host": host,
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "commit": git_commit(),
        **meta,
        "workloads": workloads,
    }
    with open(base + ".json", "w") as f:
        json.dump(doc, f, indent=2)
    lines = [
        f"# {tag} benchmark, {doc['date']}",
        "",
        f"Host `{host}`, {doc['cpu']}, {doc['cores']} cores, pagemill commit `{doc['commit']}`.",
        "",
    ]
    for key, value in meta.items():
        lines.append(f"- {key}: {value}")
    for name, w in workloads.items():
        lines += ["", f"## {name}", "", f"Input: {w['bytes'] / 1e9:.2f} GB. Medians of {next(iter(w['rows'].values()))['runs']} interleaved runs.", ""]
        # The ratio column reads against the workload's reference program.
        lines.append(
            f"| program | wall s (median) | CPU s | GB/s | peak RSS MB | peak anon MB | {w['ref']} is x faster |"
        )
        lines.append("|---|---|---|---|---|---|---|")
        ref = w["rows"][w["ref"]]["wall_median"]
        for prog, r in w["rows"].items():
            gbps = w["bytes"] / r["wall_median"] / 1e9
            ratio = r["wall_median"] / ref
            lines.append(
                f"| {prog} | {r['wall_median']:.3f} | {r['cpu_median']:.2f} | {gbps:.2f} | {r['rss_mb_max']:.0f} | {r['anon_mb_max']:.0f} | {ratio:.2f} |"
            )
    with open(base + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwrote {base}.json and {base}.md")


if __name__ == "__main__":
    # For the shell scripts. `bench_lib.py peak CMD...`: run CMD once, print
    # its peak RSS and peak anonymous RSS in MB (its output is discarded).
    # `bench_lib.py settle FILE`: settle_page_cache(FILE), and print the state.
    import sys

    if len(sys.argv) >= 3 and sys.argv[1] == "peak":
        r = measure_rusage(sys.argv[2:])
        print(f"{r['rss_mb']:.0f} {r['anon_mb']:.0f}")
    elif len(sys.argv) == 3 and sys.argv[1] == "settle":
        print(settle_page_cache(sys.argv[2]))
    else:
        sys.exit("usage: bench_lib.py peak CMD... | bench_lib.py settle FILE")
