#!/usr/bin/env bash
# Spreadsheet readers nobody on the team wrote, for the test that opens our
# exports back (functions/qr-issue/tests/sheet_readers.rs): openpyxl and
# python-calamine in a project-local virtualenv, and LibreOffice Calc
# (Debian's libreoffice-calc-nogui, headless) to convert a CSV to XLSX the
# way a user's spreadsheet would read it.
#   infra/sheet-readers.sh install   installs what is missing (apt-get as root; pip into the venv)
#   infra/sheet-readers.sh python    installs, then prints the venv's python
set -euo pipefail

OPENPYXL_VERSION=3.1.5
CALAMINE_VERSION=0.9.1
PACKAGES=(libreoffice-calc-nogui)
APT_LOCK=/tmp/qrpay-apt.lock
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=infra/venv.sh
source "$ROOT/infra/venv.sh"
VENV="$ROOT/infra/.venv-sheets"
LOCK="$ROOT/infra/.venv-sheets.lock"   # gitignored
PY="$VENV/bin/python"

log() { echo "sheet-readers: $*" >&2; }

venv_ok() {
    [ -x "$PY" ] && "$PY" - "$OPENPYXL_VERSION" "$CALAMINE_VERSION" >/dev/null 2>&1 <<'PYEOF'
import sys
from importlib.metadata import version
sys.exit(version("openpyxl") != sys.argv[1] or version("python-calamine") != sys.argv[2])
PYEOF
}

missing() {
    local p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -qx 'install ok installed' || echo "$p"
    done
}

install_office() {
    local need
    need="$(missing | tr '\n' ' ')"
    [ -z "$need" ] && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        log "missing: $need— run as root: apt-get install -y --no-install-recommends ${PACKAGES[*]}"
        exit 1
    fi
    log "installing $need(apt-get, --no-install-recommends)"
    (
        flock 9
        local wait=(-o DPkg::Lock::Timeout=600)
        apt-get "${wait[@]}" update -q
        DEBIAN_FRONTEND=noninteractive apt-get "${wait[@]}" install -y -q --no-install-recommends "${PACKAGES[@]}"
    ) 9>"$APT_LOCK"
    command -v soffice >/dev/null || { log "soffice still missing"; exit 1; }
}

install() {
    install_office
    venv_install "$VENV" "$LOCK" venv_ok \
        "openpyxl $OPENPYXL_VERSION, python-calamine $CALAMINE_VERSION" \
        'import openpyxl, python_calamine' \
        "openpyxl==$OPENPYXL_VERSION" "python-calamine==$CALAMINE_VERSION"
}

case "${1:-}" in
    install) install ;;
    python) install; echo "$PY" ;;
    *) echo "usage: $0 install|python" >&2; exit 2 ;;
esac
