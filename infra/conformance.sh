#!/usr/bin/env bash
# Providers' own SDKs, for the conformance tests that prove our wire formats
# against implementations nobody on the team wrote (project-local virtualenv).
#   infra/conformance.sh install|python
# Human messages go to stderr; `python` prints only the venv's python path on stdout.
set -euo pipefail

# Pinned: the tests compare byte for byte against these exact versions.
WECHATPAYV3_VERSION=2.0.4
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/infra/.venv-conformance"
LOCK="$ROOT/infra/.venv-conformance.lock"   # gitignored
PY="$VENV/bin/python"

log() { echo "conformance: $*" >&2; }

# Fast check (metadata only): every pinned SDK at its version, importable deps.
venv_ok() {
    [ -x "$PY" ] && "$PY" - "$WECHATPAYV3_VERSION" >/dev/null 2>&1 <<'PYEOF'
import sys
from importlib.metadata import version
version("cryptography")
sys.exit(version("wechatpayv3") != sys.argv[1])
PYEOF
}

install() {
    venv_ok && return 0  # fast path: silent
    # Several test processes may call this at once: one installs, others wait.
    exec 9>"$LOCK"
    flock 9
    if ! venv_ok; then
        log "installing wechatpayv3 $WECHATPAYV3_VERSION into $VENV"
        rm -rf "$VENV"
        python3 -m venv "$VENV"
        "$PY" -m pip install -q --disable-pip-version-check \
            "wechatpayv3==$WECHATPAYV3_VERSION" >&2
        "$PY" -c 'import wechatpayv3.utils, wechatpayv3' && venv_ok ||
            { log "wechatpayv3 import failed after install"; exit 1; }
    fi
    exec 9>&-
}

case "${1:-}" in
    install) install ;;
    python) install; echo "$PY" ;;
    *) echo "usage: $0 install|python" >&2; exit 2 ;;
esac
