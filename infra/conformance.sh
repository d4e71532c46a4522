#!/usr/bin/env bash
# Providers' own SDKs, for the conformance tests that prove our wire formats
# against implementations nobody on the team wrote (project-local virtualenv).
#   infra/conformance.sh install|python
# Human messages go to stderr; `python` prints only the venv's python path on stdout.
set -euo pipefail

# Pinned: the tests compare byte for byte against these exact versions.
WECHATPAYV3_VERSION=2.0.4
PYTHON_ALIPAY_SDK_VERSION=3.4.0
# The embedded-metric lines are compared with what AWS Lambda Powertools writes.
POWERTOOLS_VERSION=3.37.0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=infra/venv.sh
source "$ROOT/infra/venv.sh"
VENV="$ROOT/infra/.venv-conformance"
LOCK="$ROOT/infra/.venv-conformance.lock"   # gitignored
PY="$VENV/bin/python"

log() { echo "conformance: $*" >&2; }

# Fast check (metadata only): every pinned SDK at its version, importable deps.
venv_ok() {
    [ -x "$PY" ] && "$PY" - "$WECHATPAYV3_VERSION" "$PYTHON_ALIPAY_SDK_VERSION" "$POWERTOOLS_VERSION" >/dev/null 2>&1 <<'PYEOF'
import sys
from importlib.metadata import version
version("cryptography")
version("pycryptodomex")
version("pyOpenSSL")
sys.exit(version("wechatpayv3") != sys.argv[1] or version("python-alipay-sdk") != sys.argv[2]
         or version("aws-lambda-powertools") != sys.argv[3])
PYEOF
}

install() {
    venv_install "$VENV" "$LOCK" venv_ok \
        "wechatpayv3 $WECHATPAYV3_VERSION, python-alipay-sdk $PYTHON_ALIPAY_SDK_VERSION, aws-lambda-powertools $POWERTOOLS_VERSION" \
        'import wechatpayv3.utils, wechatpayv3, alipay, alipay.utils, aws_lambda_powertools.metrics' \
        "wechatpayv3==$WECHATPAYV3_VERSION" "python-alipay-sdk==$PYTHON_ALIPAY_SDK_VERSION" \
        "aws-lambda-powertools==$POWERTOOLS_VERSION"
}

case "${1:-}" in
    install) install ;;
    python) install; echo "$PY" ;;
    *) echo "usage: $0 install|python" >&2; exit 2 ;;
esac
