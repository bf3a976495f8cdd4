"""Measured percentile error of pagemill against exact values on the same data.

pagemill's quantiles come from HdrHistogram sketches with 3 significant
digits: a reported value is documented to be within |v| * 10^-3 of the exact
nearest-rank value v (the value at rank ceil(q * n) of the sorted values).
This module computes those exact values with polars and numpy
(`np.quantile(..., method="inverted_cdf")` is the nearest-rank definition) and
returns pagemill's relative error per group and quantile:

* features: p50, p90, p99, p99.9 of the flights CSV's arr_delay and
  dep_delay per dest (`pagemill features --quantiles`);
* logs: latency_p50, p90, p99, p999 per path of the JSON-lines access log
  (`pagemill logs --log-format json`), request_time in seconds.

    python3 scripts/bench_accuracy.py PAGEMILL FLIGHTS_CSV ACCESS_JSONL

prints the summary; scripts/bench stores the result in its results JSON.
"""

import io
import json
import statistics
import subprocess
import sys

BOUND = 1e-3  # 3 significant digits
QUANTILES = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)]


def _errors(pm_values, exact_values):
    """Relative errors; an exact 0 must be reported exactly (counted as 0 or inf)."""
    out = []
    for got, want in zip(pm_values, exact_values):
        if want == 0:
            out.append(0.0 if got == 0 else float("inf"))
        else:
            out.append(abs(got - want) / abs(want))
    return out


def features_errors(pm, csv_path):
    import numpy as np
    import polars as pl

    cmd = [pm, "features", csv_path, "--progress", "never", "--key", "dest", "--value", "arr_delay",
           "--value", "dep_delay", "--agg", "count", "--quantiles", ",".join(q for q, _ in QUANTILES),
           "--output-format", "csv"]
    got = pl.read_csv(io.BytesIO(subprocess.run(cmd, check=True, capture_output=True).stdout))
    data = pl.read_csv(csv_path, columns=["dest", "arr_delay", "dep_delay"], null_values=["", "NA"],
                       schema_overrides={"arr_delay": pl.Float64, "dep_delay": pl.Float64})
    errors = {q: [] for q, _ in QUANTILES}
    for (dest,), part in data.group_by("dest"):
        row = got.filter(pl.col("dest") == dest)
        for col in ("arr_delay", "dep_delay"):
            values = part[col].drop_nulls().to_numpy()
            if len(values) == 0:
                continue
            if row[f"{col}_count"][0] != len(values):
                raise SystemExit(f"features: {dest} {col}: pagemill counted {row[f'{col}_count'][0]}, "
                                 f"exact {len(values)}")
            for name, q in QUANTILES:
                exact = float(np.quantile(values, q, method="inverted_cdf"))
                errors[name] += _errors([row[f"{col}_{name}"][0]], [exact])
    return errors


def logs_errors(pm, jsonl_path):
    import numpy as np
    import polars as pl

    metrics = ["requests"] + [f"latency_{q.replace('.', '')}" for q, _ in QUANTILES]
    cmd = [pm, "logs", "--log-format", "json", "--progress", "never", "-g", "path", "-m", ",".join(metrics),
           "--output-format", "csv", jsonl_path]
    got = pl.read_csv(io.BytesIO(subprocess.run(cmd, check=True, capture_output=True).stdout))
    data = (pl.read_ndjson(jsonl_path, schema={"request": pl.String, "request_time": pl.Float64})
            .select(pl.col("request").str.extract(r"^\S+ ([^ ?]*)", 1).alias("path"), "request_time"))
    errors = {q: [] for q, _ in QUANTILES}
    for (path,), part in data.group_by("path"):
        row = got.filter(pl.col("path") == path)
        values = part["request_time"].drop_nulls().to_numpy()
        if row["requests"][0] != len(values):
            raise SystemExit(f"logs: {path}: pagemill counted {row['requests'][0]}, exact {len(values)}")
        for (name, q), metric in zip(QUANTILES, metrics[1:]):
            exact = float(np.quantile(values, q, method="inverted_cdf"))
            errors[name] += _errors([row[metric][0]], [exact])
    return errors


def summary(errors):
    """{quantile: {n, median, max, over_bound}} of relative errors."""
    return {q: {"n": len(e), "median": statistics.median(e), "max": max(e),
                "over_bound": sum(1 for x in e if x > BOUND)} for q, e in errors.items() if e}


def measure(pm, csv_path, jsonl_path):
    """The accuracy section of scripts/bench's results JSON."""
    out = {"bound": BOUND, "definition": "relative error |pagemill - exact| / |exact|, exact = nearest rank"}
    for name, errors in (("features", features_errors(pm, csv_path)), ("logs", logs_errors(pm, jsonl_path))):
        out[name] = {"errors": {q: [float(f"{x:.3g}") for x in e] for q, e in errors.items()},
                     "summary": summary(errors)}
    return out


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    result = measure(*sys.argv[1:])
    print(json.dumps({k: v["summary"] for k, v in result.items() if isinstance(v, dict)}, indent=2))
