"""Check that every format pagemill writes opens in pyarrow, polars and duckdb
with the same values.

Run through scripts/interop.sh, which sets up the virtual environment and
builds the binaries. Two sources of results are checked:

* the jobs, each written in every format (by extension, by flag, compressed
  IPC, and `-o -` to stdout), with the expected values computed here,
  independently: `pagemill count` over a handful of edge-case inputs, and
  `pagemill features --preset 1brc` over generated measurements.
* the `interop_sample` example of pagemill-arrow, which writes one result with
  every column type jobs produce (text, dictionary-encoded text, UInt64 with
  its maximum, Float64 with a null, Timestamp in UTC) in every format.

Prints one line per check and ends with "N passed, N failed"; exits non-zero
on any failure.
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import traceback

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.ipc as pa_ipc
import pyarrow.json as pa_json
import pyarrow.parquet as pq

PASSED = []
FAILED = []


def check(name, fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the run
        FAILED.append(name)
        detail = "".join(traceback.format_exception_only(type(e), e)).strip()
        print(f"FAIL {name}: {detail}", flush=True)
    else:
        PASSED.append(name)
        print(f"ok   {name}", flush=True)


def expect_equal(got, want, what):
    if got != want:
        raise AssertionError(f"{what}:\n  got  {got!r}\n  want {want!r}")


# ---------------------------------------------------------------- normalising

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def norm(value):
    """One value as plain Python, whatever the reader made of it."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return ("ts_ms", (value - EPOCH) // dt.timedelta(milliseconds=1))
    if isinstance(value, str) and len(value) >= 20 and value[4] == "-" and value[10] == "T":
        return norm(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    return value


def rows_of_pylist(records, columns):
    return [tuple(norm(r[c]) for c in columns) for r in records]


def rows_pyarrow(table, columns):
    return rows_of_pylist(table.to_pylist(), columns)


def rows_polars(df, columns):
    exprs = []
    for c in columns:
        dtype = df.schema[c]
        if isinstance(dtype, pl.Datetime):
            exprs.append(pl.col(c).dt.epoch("ms").alias(c))
        elif dtype == pl.Categorical or isinstance(dtype, pl.Enum):
            exprs.append(pl.col(c).cast(pl.Utf8).alias(c))
        else:
            exprs.append(pl.col(c))
    out = df.select(exprs)
    rows = []
    for r in out.iter_rows(named=True):
        rows.append(
            tuple(("ts_ms", r[c]) if isinstance(df.schema[c], pl.Datetime) else norm(r[c]) for c in columns)
        )
    return rows


def rows_duckdb(relation_sql, columns, timestamps=(), arrow_table=None):
    """Rows of a duckdb relation; `arrow_table`, if given, is registered as
    the view `arrow_table` (duckdb reads it through the Arrow C interface)."""
    select = ", ".join(f"epoch_ms({c})" if c in timestamps else f"{c}::VARCHAR" if c == "host" else c for c in columns)
    con = duckdb.connect()
    if arrow_table is not None:
        con.register("arrow_table", arrow_table)
    result = con.sql(f"SELECT {select} FROM {relation_sql}").fetchall()
    return [tuple(("ts_ms", v) if c in timestamps else norm(v) for c, v in zip(columns, r)) for r in result]


def sql_str(path):
    return "'" + path.replace("'", "''") + "'"


# ---------------------------------------------------------------- count

COUNT_COLUMNS = ["file", "records"]


def count_inputs(folder):
    """Edge-case inputs and their record counts, counted here."""
    files = {
        "a.txt": b"1\n2\n3\n",
        "no-newline.txt": b"x\ny",
        "empty.txt": b"",
        'we,ird "name".txt': b"q\n",
        "crlf.txt": b"a\r\nb\r\n",
        "big.txt": b"".join(b"line %d\n" % i for i in range(100_000)),
    }
    expected = []
    for name, data in files.items():
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(data)
        n = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
        expected.append((path, n))
    return expected


def check_count(pagemill, folder):
    expected = count_inputs(folder)
    paths = [p for p, _ in expected]
    check_job(pagemill, folder, ["count"], paths, COUNT_COLUMNS, expected, "count", "records=lines")


FEATURE_COLUMNS = ["station", "rows", "temperature_min", "temperature_mean", "temperature_max"]


def brc_expected(path):
    """The 1BRC table of a measurements file, computed here in integer tenths:
    stations in UTF-8 byte order, the mean rounded half up."""
    stats = {}
    with open(path, "rb") as f:
        for line in f:
            name, _, value = line.rstrip(b"\n").partition(b";")
            tenths = int(value.replace(b".", b""))
            lo, hi, total, n = stats.get(name, (tenths, tenths, 0, 0))
            stats[name] = (min(lo, tenths), max(hi, tenths), total + tenths, n + 1)
    rows = []
    for name in sorted(stats):
        lo, hi, total, n = stats[name]
        mean = (2 * total + n) // (2 * n)
        rows.append((name.decode(), n, lo / 10, mean / 10, hi / 10))
    return rows


def check_features(pagemill, folder):
    path = os.path.join(folder, "measurements.txt")
    subprocess.run([pagemill, "gen", "measurements", "--rows", "20000", "--seed", "7", "-o", path], check=True)
    expected = brc_expected(path)
    check_job(
        pagemill, folder, ["features", "--preset", "1brc"], [path], FEATURE_COLUMNS, expected, "features", "preset=1brc"
    )


BRC_PARTIAL_COLUMNS = ["station", "rows", "min_tenths", "max_tenths", "sum_tenths"]


def check_partials(pagemill, folder):
    """Partial results (`--partial`) are ordinary Arrow IPC and Parquet files:
    each tool reads their state columns (the 1BRC partial's integer tenths, the
    general path's binary sketches) and the pagemill.partial metadata, and
    `pagemill merge` of two partials equals one run over both inputs."""
    halves = []
    for seed in (3, 4):
        path = os.path.join(folder, f"m{seed}.txt")
        subprocess.run([pagemill, "gen", "measurements", "--rows", "8000", "--seed", str(seed), "-o", path], check=True)
        halves.append(path)
    expected = []
    for path in halves:
        for name, n, lo, _mean, hi in brc_expected(path):
            expected.append((name, n, round(lo * 10), round(hi * 10)))
    partials = []
    for i, path in enumerate(halves):
        out = os.path.join(folder, f"p{i}.{'arrow' if i == 0 else 'parquet'}")
        subprocess.run([pagemill, "features", "--preset", "1brc", "--partial", "-o", out, path], check=True)
        partials.append(out)

    def tenths(rows):
        return sorted((r[0], r[1], r[2], r[3]) for r in rows)

    arrow, parquet = partials
    cols = BRC_PARTIAL_COLUMNS
    want_first = tenths(r for r in expected[: len(brc_expected(halves[0]))])
    check("partial arrow: pyarrow.memory_map", lambda: expect_equal(
        tenths(rows_pyarrow(pa_ipc.open_file(pa.memory_map(arrow)).read_all(), cols)), want_first, "rows"))
    check("partial arrow: metadata in pyarrow", lambda: expect_equal(
        pa_ipc.open_file(pa.memory_map(arrow)).schema.metadata[b"pagemill.partial"], b"features-1brc/1", "kind"))
    check("partial arrow: polars.scan_ipc", lambda: expect_equal(
        tenths(rows_polars(pl.scan_ipc(arrow).collect(), cols)), want_first, "rows"))
    want_second = tenths(expected[len(brc_expected(halves[0])):])
    check("partial parquet: duckdb read_parquet", lambda: expect_equal(
        tenths(rows_duckdb(f"read_parquet({sql_str(parquet)})", cols)), want_second, "rows"))

    merged = os.path.join(folder, "merged.arrow")
    whole = os.path.join(folder, "whole.arrow")
    subprocess.run([pagemill, "merge", "-o", merged, *partials], check=True)
    subprocess.run([pagemill, "features", "--preset", "1brc", "-o", whole, *halves], check=True)
    check("merge of partials equals one run (pyarrow)", lambda: expect_equal(
        pa_ipc.open_file(merged).read_all().to_pylist(), pa_ipc.open_file(whole).read_all().to_pylist(), "rows"))

    csv = os.path.join(folder, "flights.csv")
    subprocess.run([pagemill, "gen", "csv", "--rows", "5000", "--seed", "5", "-o", csv], check=True)
    general = os.path.join(folder, "general.arrow")
    subprocess.run([pagemill, "features", "--key", "carrier", "--value", "dep_delay", "--distinct", "dest",
                    "--partial", "-o", general, csv], check=True)

    def binary_state():
        table = pa_ipc.open_file(pa.memory_map(general)).read_all()
        expect_equal(table.schema.field("dep_delay_state").type, pa.binary(), "state type")
        expect_equal(sum(table.column("rows").to_pylist()), 5000, "rows")
        expect_equal({len(v) for v in table.column("dep_delay_state").to_pylist()}, {122}, "state bytes (version 2)")
    check("general partial: binary state columns in pyarrow", binary_state)
    check("general partial: polars reads one binary key per row", lambda: expect_equal(
        pl.read_ipc(general).select(pl.col("_key").n_unique()).item(), len(pl.read_ipc(general)), "keys"))


def check_job(pagemill, folder, job_args, paths, columns, expected, job, options):
    """Run `pagemill JOB_ARGS... PATHS` writing every format, and check that
    each reader finds `expected` (rows of `columns`) and the run metadata."""
    label = job
    out = os.path.join(folder, "out")
    os.makedirs(out)

    def run(*args, **kw):
        return subprocess.run([pagemill, *job_args, *args, *paths], check=True, capture_output=True, **kw)

    written = {}
    for ext in ["arrow", "feather", "arrows", "parquet", "csv", "tsv", "ndjson", "jsonl", "json"]:
        target = os.path.join(out, f"{job}.{ext}")
        run("-o", target)
        written[ext] = target
    for codec in ["lz4", "zstd"]:
        target = os.path.join(out, f"{job}-{codec}.bin")
        run("--output-format", "arrow", "--ipc-compression", codec, "-o", target)
        written[f"arrow-{codec}"] = target
    stdout_stream = run("-o", "-").stdout

    def want(rows):
        expect_equal(rows, expected, "rows")

    def ipc_file(key):
        path = written[key]

        def pyarrow_memory_map():
            with pa.memory_map(path) as source:
                before = pa.total_allocated_bytes()
                reader = pa_ipc.open_file(source)
                table = reader.read_all()
                want(rows_pyarrow(table, columns))
                if key in ("arrow", "feather"):
                    # Uncompressed IPC is read in place: nothing allocated.
                    expect_equal(pa.total_allocated_bytes() - before, 0, "bytes allocated reading a mapped file")
                meta = table.schema.metadata
                expect_equal(meta[b"pagemill.job"], job.encode(), "pagemill.job")
                expect_equal(meta[b"pagemill.options"], options.encode(), "pagemill.options")
                inputs = json.loads(meta[b"pagemill.inputs"])
                expect_equal([(i["path"], i["size"]) for i in inputs], [(p, os.path.getsize(p)) for p in paths], "inputs")
                expect_equal(json.loads(meta[b"pagemill.malformed"])["total"], 0, "malformed")

        check(f"{label} {key}: pyarrow.memory_map + ipc.open_file", pyarrow_memory_map)
        check(f"{label} {key}: polars.scan_ipc", lambda: want(rows_polars(pl.scan_ipc(path).collect(), columns)))
        check(f"{label} {key}: polars.read_ipc", lambda: want(rows_polars(pl.read_ipc(path), columns)))

        def duck():
            table = pa_ipc.open_file(path).read_all()
            want(rows_duckdb("arrow_table", columns, arrow_table=table))

        check(f"{label} {key}: duckdb over the Arrow table", duck)

    for key in ["arrow", "feather", "arrow-lz4", "arrow-zstd"]:
        ipc_file(key)

    def stream_checks(what, data):
        check(f"{label} {what}: pyarrow ipc.open_stream", lambda: want(rows_pyarrow(pa_ipc.open_stream(data).read_all(), columns)))
        check(f"{label} {what}: polars.read_ipc_stream", lambda: want(rows_polars(pl.read_ipc_stream(data), columns)))

    with open(written["arrows"], "rb") as f:
        stream_checks("arrows", f.read())
    stream_checks("-o - (stdout)", stdout_stream)

    parquet = written["parquet"]

    def pyarrow_parquet():
        want(rows_pyarrow(pq.read_table(parquet), columns))
        meta = pq.ParquetFile(parquet).metadata
        for i in range(meta.num_columns):
            column = meta.row_group(0).column(i)
            expect_equal(column.compression, "ZSTD", f"compression of column {i}")
            if column.statistics is None or not column.statistics.has_min_max:
                raise AssertionError(f"column {i} has no min/max statistics")
        expect_equal(pq.read_schema(parquet).metadata[b"pagemill.job"], job.encode(), "pagemill.job")

    check(f"{label} parquet: pyarrow.parquet", pyarrow_parquet)
    check(f"{label} parquet: polars.read_parquet", lambda: want(rows_polars(pl.read_parquet(parquet), columns)))
    check(f"{label} parquet: polars.scan_parquet", lambda: want(rows_polars(pl.scan_parquet(parquet).collect(), columns)))
    check(f"{label} parquet: duckdb read_parquet", lambda: want(rows_duckdb(f"read_parquet({sql_str(parquet)})", columns)))

    for key, sep in [("csv", ","), ("tsv", "\t")]:
        path = written[key]
        check(
            f"{label} {key}: pyarrow.csv",
            lambda path=path, sep=sep: want(
                rows_pyarrow(pa_csv.read_csv(path, parse_options=pa_csv.ParseOptions(delimiter=sep)), columns)
            ),
        )
        check(
            f"{label} {key}: polars.read_csv",
            lambda path=path, sep=sep: want(rows_polars(pl.read_csv(path, separator=sep), columns)),
        )
        delim = "\\t" if sep == "\t" else ","
        check(
            f"{label} {key}: duckdb read_csv",
            lambda path=path, delim=delim: want(
                rows_duckdb(f"read_csv({sql_str(path)}, header=true, delim=E'{delim}', quote='\"')", columns)
            ),
        )
    for key in ["ndjson", "jsonl", "json"]:
        path = written[key]
        check(f"{label} {key}: pyarrow.json", lambda path=path: want(rows_pyarrow(pa_json.read_json(path), columns)))
        check(f"{label} {key}: polars.read_ndjson", lambda path=path: want(rows_polars(pl.read_ndjson(path), columns)))
        check(
            f"{label} {key}: duckdb read_json",
            lambda path=path: want(rows_duckdb(f"read_json({sql_str(path)}, format='newline_delimited')", columns)),
        )


# ---------------------------------------------------------------- sample

SAMPLE_COLUMNS = ["key", "host", "count", "mean", "bucket"]
SAMPLE = [
    ("plain", "web1", 0, 1.5, ("ts_ms", 1_700_000_000_000)),
    ('a,b "quoted"', "web2", 7, None, ("ts_ms", 1_700_000_060_000)),
    ("Zürich ☃", "web1", 2**64 - 1, -0.000123, ("ts_ms", 0)),
    ("tab\there", "web2", 42, 1e300, ("ts_ms", 1_700_000_120_000)),
    ("last", "web3", 1, 22.25, ("ts_ms", -86_400_000)),
]
SAMPLE_PA_TYPES = {"count": pa.uint64(), "mean": pa.float64(), "bucket": pa.timestamp("ms", tz="UTC")}
SAMPLE_DUCK_TYPES = "{'key': 'VARCHAR', 'host': 'VARCHAR', 'count': 'UBIGINT', 'mean': 'DOUBLE', 'bucket': 'TIMESTAMPTZ'}"


def check_sample(example, folder):
    subprocess.run([example, folder], check=True)

    def path(name):
        return os.path.join(folder, name)

    def want(rows):
        expect_equal(rows, SAMPLE, "rows")

    for name in ["sample.arrow", "sample-lz4.arrow", "sample-zstd.arrow"]:
        p = path(name)

        def pyarrow_mapped(p=p):
            with pa.memory_map(p) as source:
                table = pa_ipc.open_file(source).read_all()
            expect_equal(str(table.schema.field("host").type), "dictionary<values=string, indices=int32, ordered=0>", "host type")
            expect_equal(str(table.schema.field("bucket").type), "timestamp[ms, tz=UTC]", "bucket type")
            expect_equal(table.schema.metadata[b"pagemill.job"], b"interop-sample", "pagemill.job")
            want(rows_pyarrow(table, SAMPLE_COLUMNS))

        check(f"sample {name}: pyarrow.memory_map + ipc.open_file", pyarrow_mapped)
        check(f"sample {name}: polars.scan_ipc", lambda p=p: want(rows_polars(pl.scan_ipc(p).collect(), SAMPLE_COLUMNS)))

        def duck(p=p):
            table = pa_ipc.open_file(p).read_all()
            want(rows_duckdb("arrow_table", SAMPLE_COLUMNS, timestamps=("bucket",), arrow_table=table))

        check(f"sample {name}: duckdb over the Arrow table", duck)

    for codec in ["lz4", "zstd"]:
        p = path(f"big-{codec}.arrow")

        def big_pyarrow(p=p):
            table = pa_ipc.open_file(pa.memory_map(p)).read_all()
            expect_equal(table.num_rows, 10_000, "rows")
            expect_equal(pa.compute.sum(table["n"]).as_py(), sum(range(10_000)), "sum of n")
            expect_equal(table["key"][1234].as_py(), "key-4", "key 1234")

        def big_polars(p=p):
            df = pl.scan_ipc(p).collect()
            expect_equal((df.height, df["n"].sum(), df["key"][1234]), (10_000, sum(range(10_000)), "key-4"), "rows, sum, key")

        check(f"big {codec}-compressed IPC: pyarrow", big_pyarrow)
        check(f"big {codec}-compressed IPC: polars.scan_ipc", big_polars)

    p = path("sample.arrows")
    check("sample arrows: pyarrow ipc.open_stream", lambda: want(rows_pyarrow(pa_ipc.open_stream(p).read_all(), SAMPLE_COLUMNS)))
    check("sample arrows: polars.read_ipc_stream", lambda: want(rows_polars(pl.read_ipc_stream(p), SAMPLE_COLUMNS)))

    p = path("sample.parquet")

    def pyarrow_parquet():
        table = pq.read_table(p)
        expect_equal(str(table.schema.field("bucket").type), "timestamp[ms, tz=UTC]", "bucket type")
        expect_equal(table.schema.metadata[b"pagemill.job"], b"interop-sample", "pagemill.job")
        want(rows_pyarrow(table, SAMPLE_COLUMNS))

    check("sample parquet: pyarrow.parquet", pyarrow_parquet)
    check("sample parquet: polars.read_parquet", lambda: want(rows_polars(pl.read_parquet(p), SAMPLE_COLUMNS)))
    check(
        "sample parquet: duckdb read_parquet",
        lambda: want(rows_duckdb(f"read_parquet({sql_str(p)})", SAMPLE_COLUMNS, timestamps=("bucket",))),
    )

    for name, sep in [("sample.csv", ","), ("sample.tsv", "\t")]:
        p = path(name)
        check(
            f"sample {name}: pyarrow.csv",
            lambda p=p, sep=sep: want(
                rows_pyarrow(
                    pa_csv.read_csv(
                        p,
                        parse_options=pa_csv.ParseOptions(delimiter=sep),
                        convert_options=pa_csv.ConvertOptions(column_types=SAMPLE_PA_TYPES),
                    ),
                    SAMPLE_COLUMNS,
                )
            ),
        )
        check(
            f"sample {name}: polars.read_csv",
            lambda p=p, sep=sep: want(
                rows_polars(
                    pl.read_csv(p, separator=sep, schema_overrides={"count": pl.UInt64, "mean": pl.Float64}),
                    SAMPLE_COLUMNS,
                )
            ),
        )
        delim = "\\t" if sep == "\t" else ","
        check(
            f"sample {name}: duckdb read_csv",
            lambda p=p, delim=delim: want(
                rows_duckdb(
                    f"read_csv({sql_str(p)}, header=true, delim=E'{delim}', quote='\"', columns={SAMPLE_DUCK_TYPES})",
                    SAMPLE_COLUMNS,
                    timestamps=("bucket",),
                )
            ),
        )

    p = path("sample.ndjson")
    json_schema = pa.schema([("key", pa.string()), ("host", pa.string()), *SAMPLE_PA_TYPES.items()])
    check(
        "sample ndjson: pyarrow.json",
        lambda: want(
            rows_pyarrow(pa_json.read_json(p, parse_options=pa_json.ParseOptions(explicit_schema=json_schema)), SAMPLE_COLUMNS)
        ),
    )
    check(
        "sample ndjson: polars.read_ndjson",
        lambda: want(
            rows_polars(
                pl.read_ndjson(
                    p, schema={"key": pl.Utf8, "host": pl.Utf8, "count": pl.UInt64, "mean": pl.Float64, "bucket": pl.Utf8}
                ),
                SAMPLE_COLUMNS,
            )
        ),
    )
    check(
        "sample ndjson: duckdb read_json",
        lambda: want(
            rows_duckdb(
                f"read_json({sql_str(p)}, format='newline_delimited', columns={SAMPLE_DUCK_TYPES})",
                SAMPLE_COLUMNS,
                timestamps=("bucket",),
            )
        ),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pagemill", required=True, help="the pagemill binary")
    parser.add_argument("--sample", required=True, help="the interop_sample example binary")
    args = parser.parse_args()
    print(f"pyarrow {pa.__version__}, polars {pl.__version__}, duckdb {duckdb.__version__}", flush=True)
    with tempfile.TemporaryDirectory(prefix="pagemill-interop-") as folder:
        for name, job in [("count", check_count), ("features", check_features), ("partials", check_partials)]:
            job_dir = os.path.join(folder, name)
            os.makedirs(job_dir)
            job(args.pagemill, job_dir)
        check_sample(args.sample, os.path.join(folder, "sample"))
    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED or not PASSED else 0


if __name__ == "__main__":
    sys.exit(main())
