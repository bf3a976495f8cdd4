#!/usr/bin/env bash
# End-to-end benchmark of the logs job against its peers, in one run.
#
# Generates a `timed` access log with `pagemill gen access-log` (about 1 GB by
# default), then times, interleaved round by round, the per-path summary
# (requests, bytes, distinct client IPs, p99 latency) in:
#   pagemill logs        the summary, all cores
#   pagemill-t1          the same with --threads 1
#   polars               str.extract_groups + group_by (streaming engine), if importable
#   DuckDB               regexp_extract + GROUP BY, if importable from Python
#                        (both take p99 by nearest rank, as pagemill does)
#   mawk                 count and bytes per path only (one thread), if installed
#   GoAccess             its full report (JSON) of a ~100 MB slice of the log,
#                        next to pagemill on the same slice, if installed
#   wc -l                the scan floor
# Before timing, each peer's answer is compared with pagemill's: the same
# paths with the same request counts and byte sums, and p99 within
# HdrHistogram's 3 significant digits of the peer's exact one, else the run
# stops (the timing would not be of the same query; the check needs Python).
# Then it prints the median wall time of each, with throughput and the ratio to
# pagemill, then each program's peak RSS and peak anonymous RSS from one
# more run (with Python). Peers that are not installed are skipped with a
# `skipped: PEER (WHY)` line on stderr, never installed here
# (see shared PEERS.md for how to install them). Needs bc.
#
# Usage: scripts/bench-logs.sh [ROWS] [RUNS]
#   ROWS  lines to generate (default 5000000, about 1 GB)
#   RUNS  rounds (default 3)
# Environment: BENCH_DIR (default /tmp/pagemill-bench), PAGEMILL (a built
# binary; default: build target/release/pagemill), BENCH_NO_PEERS (set: time
# only pagemill and wc -l), BENCH_PATH_IDS (set: the log's paths end in an id
# drawn per request, `gen access-log --path-ids`, as a REST API logs them:
# about 690,000 distinct paths a million lines instead of 5,000), PYTHON (the interpreter for the polars and DuckDB
# peers, the check and the memory probe; default python3: scripts/bench
# passes the one it installed polars and duckdb for).
set -euo pipefail
command -v bc > /dev/null || { echo "bench-logs.sh: needs bc (apt-get install bc)" >&2; exit 1; }

rows=${1:-5000000}
runs=${2:-3}
dir=${BENCH_DIR:-/tmp/pagemill-bench}
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir"

if [ -z "${PAGEMILL:-}" ]; then
    (cd "$top" && cargo build --release -p pagemill-cli >&2)
    target=${CARGO_TARGET_DIR:-target}
    case $target in /*) ;; *) target=$top/$target ;; esac
    PAGEMILL=$target/release/pagemill
fi
py=${PYTHON:-python3}

ids=()
suffix=
if [ -n "${BENCH_PATH_IDS:-}" ]; then
    ids=(--path-ids)
    suffix=-path-ids
fi
log=$dir/access-timed-$rows$suffix.log
if [ ! -s "$log" ]; then
    echo "generating $rows timed lines into $log" >&2
    # pagemill writes -o whole or not at all: no truncated log is reused.
    "$PAGEMILL" gen access-log --rows "$rows" --log-format timed --seed 1 "${ids[@]}" -o "$log"
fi
bytes=$(stat -c %s "$log")
# The page cache state of a file read from the disk, for every program and
# run (see settle_page_cache in bench_lib.py); without Python, read once.
settle() {
    if command -v "$py" > /dev/null; then
        echo "page cache of $(basename "$1"): $("$py" "$top/scripts/bench_lib.py" settle "$1")" >&2
    else
        cat "$1" > /dev/null
        echo "page cache of $(basename "$1"): read once (no $py to evict it first)" >&2
    fi
}
settle "$log"

# The request-line regex every text-based peer uses.
re='^(\S+) \S+ \S+ \[[^\]]+\] "\S+ ([^ ?"]*)[^"]*" (\d{3}) (\d+|-) "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*" ([0-9.]+)$'

declare -A cmd
order=()
add() { order+=("$1"); cmd[$1]=$2; }
# The peers' answers for the agreement check: NAME FORMAT COMMAND, writing
# to stdout (csv: the summary's columns with a header; mawk: path count bytes).
declare -A check fmt
checked=()
check() { checked+=("$1"); fmt[$1]=$2; check[$1]=$3; }
# The table lists only what ran: say on stderr what did not, and why.
skip() { echo "skipped: $1 ($2)" >&2; }
# Why Python module $1 cannot be imported with $py; nothing if it can.
py_missing() {
    if ! command -v "$py" > /dev/null; then
        echo "no $py; set PYTHON to an interpreter with $1"
    elif ! "$py" -c "import $1" 2> /dev/null; then
        echo "$py cannot import $1; pip install $1"
    fi
}

add pagemill "\"$PAGEMILL\" logs --log-format timed -g path -m requests,bytes,distinct_ips,latency_p99 --output-format csv \"$log\" > /dev/null"
add pagemill-t1 "\"$PAGEMILL\" logs --log-format timed --threads 1 -g path -m requests,bytes,distinct_ips,latency_p99 --output-format csv \"$log\" > /dev/null"
export BENCH_RE=$re
peers=1
[ -n "${BENCH_NO_PEERS:-}" ] && peers=
why=
[ -n "$peers" ] && why=$(py_missing polars)
if [ -n "$why" ]; then
    skip polars "$why"
elif [ -n "$peers" ]; then
    # interpolation="equiprobable" is the nearest-rank quantile (the value
    # at rank ceil(q * n)) that pagemill's p99 estimates; the default
    # ("nearest") and "higher" round (n - 1) * q: other values in small groups.
    cat > "$dir/polars_summary.py" <<'EOF'
import os, sys, polars as pl
q = (pl.scan_csv(sys.argv[1], has_header=False, separator="\x01", quote_char=None, new_columns=["line"],
                 schema_overrides={"line": pl.Utf8})
     .select(pl.col("line").str.extract_groups(os.environ["BENCH_RE"]).alias("m"))
     .unnest("m")
     .rename({"1": "ip", "2": "path", "3": "status", "4": "bytes", "5": "latency"})
     .with_columns(pl.col("bytes").replace("-", "0").cast(pl.UInt64), pl.col("latency").cast(pl.Float64))
     .group_by("path")
     .agg(pl.len().alias("requests"), pl.col("bytes").sum(), pl.col("ip").n_unique().alias("distinct_ips"),
          pl.col("latency").quantile(0.99, interpolation="equiprobable").alias("latency_p99")))
q.collect(engine="streaming").write_csv(sys.stdout)
EOF
    add polars "\"$py\" \"$dir/polars_summary.py\" \"$log\" > /dev/null"
    check polars csv "\"$py\" \"$dir/polars_summary.py\" \"$log\""
fi
why=
[ -n "$peers" ] && why=$(py_missing duckdb)
if [ -n "$why" ]; then
    skip duckdb "$why"
elif [ -n "$peers" ]; then
    # quantile_disc is the nearest-rank quantile; quantile_cont interpolates.
    # The timed run writes its CSV to /dev/null, the check's to stdout.
    cat > "$dir/duckdb_summary.py" <<'EOF'
import os, sys, duckdb
quote = lambda s: "'" + s.replace("'", "''") + "'"
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute(f"""
  CREATE TEMP VIEW m AS
  SELECT regexp_extract(line, {quote(os.environ["BENCH_RE"])}, ['ip', 'path', 'status', 'bytes', 'latency']) AS r
  FROM read_csv({quote(sys.argv[1])}, columns = {{'line': 'VARCHAR'}}, delim = '\x01', quote = '', escape = '', header = false)
""")
con.sql("""
  SELECT r.path, count(*) AS requests,
         sum(CASE WHEN r.bytes = '-' THEN 0 ELSE CAST(r.bytes AS UBIGINT) END) AS bytes,
         count(DISTINCT r.ip) AS distinct_ips, quantile_disc(CAST(r.latency AS DOUBLE), 0.99) AS latency_p99
  FROM m GROUP BY r.path
""").write_csv(sys.argv[2] if len(sys.argv) > 2 else "/dev/null")
EOF
    add duckdb "\"$py\" \"$dir/duckdb_summary.py\" \"$log\""
    # Into a file of its own: DuckDB replaces an existing target by
    # renaming a temporary file over it, which /dev/stdout must not see.
    check duckdb csv "\"$py\" \"$dir/duckdb_summary.py\" \"$log\" \"$dir/check-$$-duckdb.csv\" && cat \"$dir/check-$$-duckdb.csv\""
fi
if [ -n "$peers" ] && ! command -v mawk > /dev/null; then
    skip mawk "not installed"
elif [ -n "$peers" ]; then
    # printf: mawk's print writes a sum past 2^31 as 4e+09.
    mawk="mawk '{ split(\$7, a, \"?\"); c[a[1]]++; b[a[1]] += \$10 } END { for (p in c) printf \"%s %d %.0f\\n\", p, c[p], b[p] }' \"$log\""
    add mawk "$mawk > /dev/null"
    check mawk mawk "$mawk"
fi
if [ -n "$peers" ] && ! command -v goaccess > /dev/null; then
    skip goaccess "not installed"
elif [ -n "$peers" ]; then
    # GoAccess builds every panel of its report and is far slower: compare it
    # on a ~100 MB slice (whole lines), with pagemill on the same slice.
    slice=$dir/access-timed-$rows$suffix-slice100MB.log
    if [ ! -s "$slice" ]; then
        # Under a name of its own until complete (another run may be
        # cutting the same slice).
        tmp="$slice.$$.tmp"
        head -c 100000000 "$log" | head -n -1 > "$tmp" || { rm -f "$tmp"; exit 1; }
        mv -f "$tmp" "$slice"
    fi
    settle "$slice"
    add "pagemill@100MB" "\"$PAGEMILL\" logs --log-format timed -g path -m requests,bytes,distinct_ips,latency_p99 --output-format csv \"$slice\" > /dev/null"
    add "goaccess@100MB" "goaccess \"$slice\" --no-global-config --no-progress --log-format='%h %^[%d:%t %^] \"%r\" %s %b \"%R\" \"%u\" %T' --date-format=%d/%b/%Y --time-format=%T -o \"$dir/goaccess.json\" > /dev/null 2>&1"
fi
add "wc -l" "wc -l \"$log\" > /dev/null"

# The agreement check (GoAccess's report is not this summary: not checked).
if [ ${#checked[@]} -gt 0 ]; then
    if ! command -v "$py" > /dev/null; then
        skip "agreement check" "no $py; set PYTHON"
    else
        "$PAGEMILL" logs --log-format timed -g path -m requests,bytes,distinct_ips,latency_p99 --output-format csv \
            "$log" > "$dir/check-$$-pagemill.csv"
        for name in "${checked[@]}"; do
            eval "${check[$name]}" > "$dir/check-$$-$name.out" || { echo "bench-logs.sh: $name failed" >&2; exit 1; }
        done
        args=()
        for name in "${checked[@]}"; do args+=("$name" "${fmt[$name]}" "$dir/check-$$-$name.out"); done
        "$py" - "$dir/check-$$-pagemill.csv" "${args[@]}" <<'EOF'
import csv, sys

def summary(fmt, path):
    """{path: (requests, bytes, p99 or None)} from a program's output."""
    with open(path, newline="") as f:
        if fmt == "mawk":  # path count bytes; no p99
            return {p: (int(c), int(float(b)), None) for p, c, b in (line.rsplit(" ", 2) for line in f.read().splitlines())}
        rows = list(csv.DictReader(f))
    return {r["path"]: (int(r["requests"]), int(float(r["bytes"])), float(r["latency_p99"])) for r in rows}

ref = summary("csv", sys.argv[1])
failed = False
for name, fmt, path in zip(*[iter(sys.argv[2:])] * 3):
    got = summary(fmt, path)
    counts = sorted({p for p in ref.keys() | got.keys() if ref.get(p, (None,) * 2)[:2] != got.get(p, (None,) * 2)[:2]})
    # pagemill's p99 is an HdrHistogram value of 3 significant digits:
    # within 1e-3 of the exact nearest-rank p99, relatively (and a float's
    # rounding beside).
    p99 = sorted(p for p, (_, _, q) in got.items()
                 if q is not None and p in ref and abs(ref[p][2] - q) > 1e-3 * abs(q) + 1e-9)
    if counts:
        failed = True
        print(f"bench-logs.sh: {name} disagrees with pagemill on requests or bytes of {len(counts)} paths, e.g. "
              + "; ".join(f"{p}: pagemill {ref.get(p, ('-', '-'))[:2]}, {name} {got.get(p, ('-', '-'))[:2]}"
                          for p in counts[:3]), file=sys.stderr)
    if p99:
        failed = True
        print(f"bench-logs.sh: {name}'s p99 differs from pagemill's by more than 3 significant digits on "
              f"{len(p99)} paths, e.g. " + "; ".join(f"{p}: pagemill {ref[p][2]}, {name} {got[p][2]}" for p in p99[:3]),
              file=sys.stderr)
if failed:
    sys.exit(1)
print(f"agreement with pagemill: {', '.join(sys.argv[2::3])}: the same requests and bytes for all {len(ref)} paths "
      "(and p99, where computed)", file=sys.stderr)
EOF
        rm -f "$dir"/check-$$-*  # kept for a look when they disagree
    fi
fi

declare -A times
for ((r = 1; r <= runs; r++)); do
    for name in "${order[@]}"; do
        # The clock is bash's own and the command runs in this shell: a
        # `date` and a `bash -c` per run added about 3 ms to every time,
        # 4% of pagemill's on the 100 MB slice and nothing of GoAccess's.
        start=${EPOCHREALTIME//[.,]/}
        eval "${cmd[$name]}" || { echo "bench-logs.sh: $name failed (exit $?)" >&2; exit 1; }
        end=${EPOCHREALTIME//[.,]/}
        t=$(( (end - start) / 1000 ))
        times[$name]="${times[$name]:-} $t"
        echo "round $r: $name ${t} ms" >&2
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

base=$(echo "${times[pagemill]}" | median)
echo
echo "per-path summary of $log ($((bytes / 1000000)) MB, $rows lines), $(nproc) cores, median of $runs, $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-15s %10s %12s %14s\n' program "wall ms" "MB/s" "x pagemill"
for name in "${order[@]}"; do
    m=$(echo "${times[$name]}" | median)
    size=$bytes
    ref=$base
    if [[ $name == *@100MB ]]; then
        # Slice rows compare with pagemill on the same slice.
        size=$(stat -c %s "$slice")
        ref=$(echo "${times[pagemill@100MB]}" | median)
    fi
    printf '%-15s %10d %12.0f %14.2f\n' "$name" "$m" "$(echo "$size / 1000 / $m" | bc -l)" "$(echo "$m / $ref" | bc -l)"
done

# Peak memory: each program once more, its process (the shell execs it)
# watched by bench_lib.py: peak RSS from wait4, peak anonymous RSS polled
# from /proc. Needs Python; skipped without it.
if command -v "$py" > /dev/null; then
    echo
    echo "peak memory (one more run each)"
    printf '%-15s %12s %12s\n' program "peak RSS MB" "peak anon MB"
    for name in "${order[@]}"; do
        if peak=$("$py" "$top/scripts/bench_lib.py" peak bash -c "exec ${cmd[$name]}"); then
            read -r rss anon <<< "$peak"
            printf '%-15s %12d %12d\n' "$name" "$rss" "$anon"
        fi
    done
fi
