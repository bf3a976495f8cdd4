#!/usr/bin/env bash
# Interoperability check: every format pagemill writes must open in pyarrow,
# polars and duckdb with the same values (tests/interop/check.py says what is
# checked). Creates a virtual environment under target/interop-venv and
# installs the three libraries there when they are missing, builds the
# pagemill binary and the interop_sample example (debug), and runs the checks.
# Ends with "N passed, N failed"; exits non-zero on any failure.
#
# Environment: PYTHON (default python3) creates the venv; CARGO_TARGET_DIR is
# honoured; INTEROP_VENV overrides the venv's folder.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="${INTEROP_VENV:-$target/interop-venv}"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    echo "interop: creating $venv" >&2
    if ! "$python" -m venv "$venv"; then
        echo "interop: error: '$python -m venv' failed (on Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
fi
if ! "$venv/bin/python" -c 'import pyarrow, polars, duckdb' 2>/dev/null; then
    echo "interop: installing pyarrow, polars and duckdb into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
fi

echo "interop: building pagemill and the interop_sample example" >&2
cargo build --quiet -p pagemill-cli --bin pagemill
cargo build --quiet -p pagemill-arrow --example interop_sample

exec "$venv/bin/python" tests/interop/check.py \
    --pagemill "$target/debug/pagemill" \
    --sample "$target/debug/examples/interop_sample"
