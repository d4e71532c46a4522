#!/usr/bin/env bash
# The reconciler against the tool a finance analyst would reach for (issue
# 15): recon-bench reconciles a generated day; DuckDB (pinned, from PyPI,
# in a project-local virtualenv) full-outer-joins the same day, written as
# plain UTF-8 CSVs, classifies every row the same way and writes one CSV per
# shop. Best of R runs each, the two taking turns so both see the same load;
# wall time and peak memory of both, and the ratio.
#   infra/recon-vs-duckdb.sh [--rows N] [--runs R] [--settle S]
#     (default 1000000 rows, 3 runs, dirty pages written out and 30 s of
#     quiet before each)
# Each run's output is removed once timed (DuckDB's last kept until the end,
# to count its outcomes): about 2 GiB free under ${TMPDIR:-/tmp} at 1M rows,
# 20 GiB at 10M; removed however it ends.
set -euo pipefail

DUCKDB_VERSION=2.0.0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=infra/venv.sh
source "$ROOT/infra/venv.sh"
VENV="$ROOT/infra/.venv-duckdb"
LOCK="$ROOT/infra/.venv-duckdb.lock"   # gitignored
PY="$VENV/bin/python"

log() { echo "recon-vs-duckdb: $*" >&2; }

venv_ok() {
    [ -x "$PY" ] && "$PY" - "$DUCKDB_VERSION" >/dev/null 2>&1 <<'PYEOF'
import sys
from importlib.metadata import version
sys.exit(version("duckdb") != sys.argv[1])
PYEOF
}

ROWS=1000000
RUNS=3
SETTLE=30
while [ $# -gt 0 ]; do
    case "$1" in
        --rows) ROWS="${2:?}"; shift 2 ;;
        --runs) RUNS="${2:?}"; shift 2 ;;
        --settle) SETTLE="${2:?}"; shift 2 ;;
        *) echo "usage: $0 [--rows N] [--runs R] [--settle S]" >&2; exit 2 ;;
    esac
done

venv_install "$VENV" "$LOCK" venv_ok "duckdb $DUCKDB_VERSION" 'import duckdb' "duckdb==$DUCKDB_VERSION"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
log "building recon-bench (release)"
(cd "$ROOT" && cargo build -q --release -p qrpay-reconcile --bin recon-bench)
BENCH="$CARGO_TARGET_DIR/release/recon-bench"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/recon-vs-duckdb.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
# ext4's "top directory" flag: each run's directory is placed in a block
# group of its own, away from inodes other work freed in the last minutes
# (which creating a file otherwise skips one by one). A no-op elsewhere.
chattr +T "$WORK" 2>/dev/null || true
"$PY" "$ROOT/infra/recon_vs_duckdb.py" --bench "$BENCH" --rows "$ROWS" --runs "$RUNS" --settle "$SETTLE" \
    --work "$WORK"
