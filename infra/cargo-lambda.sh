#!/usr/bin/env bash
# cargo-lambda (with its zig), from the Python package index, in a
# project-local virtualenv: `cargo lambda watch` and `cargo lambda invoke`
# run a function without Docker (README, "Local invoke").
#   infra/cargo-lambda.sh install|path
# Human messages go to stderr; `path` prints only the cargo-lambda binary's
# path on stdout (run it as `cargo-lambda lambda watch ...`, or put its
# directory first on PATH and run `cargo lambda ...`).
set -euo pipefail

# Pinned: the test drives its command line.
CARGO_LAMBDA_VERSION=1.9.2
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=infra/venv.sh
source "$ROOT/infra/venv.sh"
VENV="$ROOT/infra/.venv-cargo-lambda"
LOCK="$ROOT/infra/.venv-cargo-lambda.lock"   # gitignored
PY="$VENV/bin/python"
BIN="$VENV/bin/cargo-lambda"

log() { echo "cargo-lambda: $*" >&2; }

# Fast check (metadata only): the pinned version and its binary.
venv_ok() {
    [ -x "$PY" ] && [ -x "$BIN" ] && "$PY" - "$CARGO_LAMBDA_VERSION" >/dev/null 2>&1 <<'PYEOF'
import sys
from importlib.metadata import version
sys.exit(version("cargo-lambda") != sys.argv[1])
PYEOF
}

install() {
    venv_install "$VENV" "$LOCK" venv_ok "cargo-lambda $CARGO_LAMBDA_VERSION" '' \
        "cargo-lambda==$CARGO_LAMBDA_VERSION"
}

case "${1:-}" in
    install) install ;;
    path) install; echo "$BIN" ;;
    *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
