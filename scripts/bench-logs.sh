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
#   mawk                 count and bytes per path only (one thread), if installed
#   GoAccess             its full report (JSON) of a ~100 MB slice of the log,
#                        next to pagemill on the same slice, if installed
#   wc -l                the scan floor
# and prints the median wall time of each, with throughput and the ratio to
# pagemill, then each program's peak RSS and peak anonymous RSS from one
# more run (with python3). Peers that are not installed are skipped, never installed here
# (see shared PEERS.md for how to install them).
#
# Usage: scripts/bench-logs.sh [ROWS] [RUNS]
#   ROWS  lines to generate (default 5000000, about 1 GB)
#   RUNS  rounds (default 3)
# Environment: BENCH_DIR (default /tmp/pagemill-bench), PAGEMILL (a built
# binary; default: build target/release/pagemill), BENCH_NO_PEERS (set: time
# only pagemill and wc -l).
set -euo pipefail

rows=${1:-5000000}
runs=${2:-3}
dir=${BENCH_DIR:-/tmp/pagemill-bench}
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir"

if [ -z "${PAGEMILL:-}" ]; then
    (cd "$top" && cargo build --release -p pagemill-cli >&2)
    PAGEMILL=$top/target/release/pagemill
fi

log=$dir/access-timed-$rows.log
if [ ! -s "$log" ]; then
    echo "generating $rows timed lines into $log" >&2
    "$PAGEMILL" gen access-log --rows "$rows" --log-format timed --seed 1 -o "$log"
fi
bytes=$(stat -c %s "$log")
cat "$log" > /dev/null # page cache

# The request-line regex every text-based peer uses.
re='^(\S+) \S+ \S+ \[[^\]]+\] "\S+ ([^ ?"]*)[^"]*" (\d{3}) (\d+|-) "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*" ([0-9.]+)$'

declare -A cmd
order=()
add() { order+=("$1"); cmd[$1]=$2; }

add pagemill "\"$PAGEMILL\" logs --log-format timed -g path -m requests,bytes,distinct_ips,latency_p99 --output-format csv \"$log\" > /dev/null"
add pagemill-t1 "\"$PAGEMILL\" logs --log-format timed --threads 1 -g path -m requests,bytes,distinct_ips,latency_p99 --output-format csv \"$log\" > /dev/null"
export BENCH_RE=$re
peers=1
[ -n "${BENCH_NO_PEERS:-}" ] && peers=
if [ -n "$peers" ] && python3 -c 'import polars' 2>/dev/null; then
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
          pl.col("latency").quantile(0.99).alias("latency_p99")))
q.collect(engine="streaming").write_csv(sys.stdout)
EOF
    add polars "python3 \"$dir/polars_summary.py\" \"$log\" > /dev/null"
fi
if [ -n "$peers" ] && python3 -c 'import duckdb' 2>/dev/null; then
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
         count(DISTINCT r.ip) AS distinct_ips, quantile_cont(CAST(r.latency AS DOUBLE), 0.99) AS latency_p99
  FROM m GROUP BY r.path
""").write_csv("/dev/null")
EOF
    add duckdb "python3 \"$dir/duckdb_summary.py\" \"$log\""
fi
if [ -n "$peers" ] && command -v mawk > /dev/null; then
    add mawk "mawk '{ split(\$7, a, \"?\"); c[a[1]]++; b[a[1]] += \$10 } END { for (p in c) print p, c[p], b[p] }' \"$log\" > /dev/null"
fi
if [ -n "$peers" ] && command -v goaccess > /dev/null; then
    # GoAccess builds every panel of its report and is far slower: compare it
    # on a ~100 MB slice (whole lines), with pagemill on the same slice.
    slice=$dir/access-timed-$rows-slice100MB.log
    if [ ! -s "$slice" ]; then
        head -c 100000000 "$log" | head -n -1 > "$slice"
    fi
    add "pagemill@100MB" "\"$PAGEMILL\" logs --log-format timed -g path -m requests,bytes,distinct_ips,latency_p99 --output-format csv \"$slice\" > /dev/null"
    add "goaccess@100MB" "goaccess \"$slice\" --no-global-config --no-progress --log-format='%h %^[%d:%t %^] \"%r\" %s %b \"%R\" \"%u\" %T' --date-format=%d/%b/%Y --time-format=%T -o \"$dir/goaccess.json\" > /dev/null 2>&1"
fi
add "wc -l" "wc -l \"$log\" > /dev/null"

declare -A times
for ((r = 1; r <= runs; r++)); do
    for name in "${order[@]}"; do
        # The clock is bash's own and the command runs in this shell: a
        # `date` and a `bash -c` per run added about 3 ms to every time,
        # 4% of pagemill's on the 100 MB slice and nothing of GoAccess's.
        start=${EPOCHREALTIME//[.,]/}
        eval "${cmd[$name]}"
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
# from /proc. Needs python3; skipped without it.
if command -v python3 > /dev/null; then
    echo
    echo "peak memory (one more run each)"
    printf '%-15s %12s %12s\n' program "peak RSS MB" "peak anon MB"
    for name in "${order[@]}"; do
        if peak=$(python3 "$top/scripts/bench_lib.py" peak bash -c "exec ${cmd[$name]}"); then
            read -r rss anon <<< "$peak"
            printf '%-15s %12d %12d\n' "$name" "$rss" "$anon"
        fi
    done
fi
