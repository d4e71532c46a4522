#!/usr/bin/env bash
# Headless Chromium, its WebDriver (chromedriver) and a CJK font, for the
# tests that drive the buyer's pages in a real browser
# (infra/local/tests/browser.rs, client in infra/local/src/webdriver.rs).
#   infra/browser.sh install   installs Debian's packages when missing (root, apt-get)
#   infra/browser.sh check     prints the installed versions; non-zero when any is missing
# Human messages go to stderr. `install` is a dpkg query (well under a second)
# when everything is present; on a machine without them it runs `apt-get update`
# and installs 27 packages (~120 MB download) with --no-install-recommends.
set -euo pipefail

# chromium-driver depends on the same chromium version; fonts-wqy-microhei
# (1.6 MB) draws Chinese text in screenshots (fonts-noto-cjk is 57 MB).
PACKAGES=(chromium chromium-driver fonts-wqy-microhei)
# Shared by every checkout on the machine: one apt-get at a time.
LOCK=/tmp/qrpay-apt.lock
CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver

log() { echo "browser: $*" >&2; }

# The packages not installed, one a line (nothing when all are).
missing() {
    local p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -qx 'install ok installed' || echo "$p"
    done
}

apt_install() {
    # Waits for another apt/dpkg run (another checkout, unattended upgrades)
    # instead of failing on its lock.
    local wait=(-o DPkg::Lock::Timeout=600)
    apt-get "${wait[@]}" update -q
    DEBIAN_FRONTEND=noninteractive apt-get "${wait[@]}" install -y -q --no-install-recommends "$@"
}

install() {
    local need
    need="$(missing | tr '\n' ' ')"
    if [ -z "$need" ]; then
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
        log "missing: $need— apt-get is not available here; install Debian's (or your system's)"
        log "chromium, its chromedriver and a CJK font by hand (chromedriver must be $CHROMEDRIVER)"
        exit 1
    fi
    if [ "$(id -u)" != 0 ]; then
        log "missing: $need— installing them needs root; run as root:"
        log "  apt-get update && apt-get install -y --no-install-recommends ${PACKAGES[*]}"
        exit 1
    fi
    log "installing $need(apt-get, --no-install-recommends)"
    local started=$SECONDS
    (
        flock 9
        need="$(missing | tr '\n' ' ')"
        [ -z "$need" ] || apt_install $need
    ) 9>"$LOCK"
    need="$(missing | tr '\n' ' ')"
    if [ -n "$need" ] || [ ! -x "$CHROMIUM" ] || [ ! -x "$CHROMEDRIVER" ]; then
        log "apt-get finished but ${need:-$CHROMIUM or $CHROMEDRIVER} is still missing"
        exit 1
    fi
    log "installed in $((SECONDS - started)) s"
}

check() {
    local need
    need="$(missing | tr '\n' ' ')"
    if [ -n "$need" ]; then
        log "missing: $need(run: infra/browser.sh install)"
        exit 1
    fi
    "$CHROMIUM" --version
    "$CHROMEDRIVER" --version
    dpkg-query -W -f='${Package} ${Version}\n' fonts-wqy-microhei
}

case "${1:-}" in
    install) install ;;
    check) check ;;
    *) echo "usage: $0 install|check" >&2; exit 2 ;;
esac
