#!/usr/bin/env bash
# Local AWS emulator (moto: DynamoDB, SQS, S3, SNS, Secrets Manager and KMS on one port) for the Rust test suites.
#   infra/emulator.sh install|start|stop|run|python
# Human messages go to stderr; `start` prints only the endpoint URL and
# `python` only the venv's python path on stdout.
set -euo pipefail

MOTO_VERSION=5.2.5
MOTO_EXTRAS=dynamodb,sqs,s3,sns,secretsmanager,kms  # the sns, sqs and kms extras add no packages today
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=infra/venv.sh
source "$ROOT/infra/venv.sh"
VENV="$ROOT/infra/.venv"
LOCK="$ROOT/infra/.venv.lock"   # gitignored
PY="$VENV/bin/python"
LAUNCHER="$ROOT/infra/emulator/launcher.py"
STATE="${QRPAY_EMULATOR_STATE:-$ROOT/target/emulator}"
PORT="${QRPAY_EMULATOR_PORT:-0}"

log() { echo "emulator: $*" >&2; }

# Fast check (metadata only, ~0.1 s): right moto version, flask bits, and every
# package moto declares for our extras (so adding an extra upgrades old venvs).
venv_ok() {
    [ -x "$PY" ] && "$PY" - "$MOTO_VERSION" "$MOTO_EXTRAS" >/dev/null 2>&1 <<'EOF'
import re, sys
from importlib.metadata import requires, version
version("flask"), version("flask-cors")
extras = set(sys.argv[2].split(","))
for req in requires("moto") or []:
    extra = re.search(r';\s*extra == "([\w-]+)"$', req)  # plain markers only
    if extra and extra.group(1) in extras:
        version(re.match(r"[\w.-]+", req).group(0))  # raises if not installed
sys.exit(version("moto") != sys.argv[1])
EOF
}

install() {
    venv_install "$VENV" "$LOCK" venv_ok "moto $MOTO_VERSION" 'import moto, flask, flask_cors' \
        "moto[$MOTO_EXTRAS]==$MOTO_VERSION" flask flask-cors
}

# A zombie (exited, not yet reaped by init) counts as dead.
pid_alive() {
    [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null &&
        ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

start() {
    install
    mkdir -p "$STATE"
    exec 8>"$STATE/lock"; flock 8  # concurrent starts share one launcher
    if pid_alive "$(cat "$STATE/pid" 2>/dev/null)" && [ -s "$STATE/endpoint" ]; then
        cat "$STATE/endpoint"   # already running
        return 0
    fi
    stop 2>/dev/null  # a stale or half-started launcher must not be orphaned
    nohup "$PY" "$LAUNCHER" --port "$PORT" >"$STATE/stdout.log" 2>"$STATE/stderr.log" </dev/null 8>&- &
    local pid=$!
    echo "$pid" >"$STATE/pid"
    local endpoint="" i
    for ((i = 0; i < 300; i++)); do  # 30 s
        # The log may not exist yet: don't let set -e kill us over that.
        endpoint="$(sed -n 's/^QRPAY_EMULATOR_READY //p' "$STATE/stdout.log" 2>/dev/null || true)"
        [ -n "$endpoint" ] && break
        if ! pid_alive "$pid"; then
            log "launcher exited early:"; cat "$STATE/stderr.log" >&2
            rm -f "$STATE/pid"; exit 1
        fi
        sleep 0.1
    done
    if [ -z "$endpoint" ]; then
        log "launcher not ready after 30 s"; kill "$pid" 2>/dev/null || true
        rm -f "$STATE/pid"; exit 1
    fi
    echo "$endpoint" >"$STATE/endpoint"
    echo "$endpoint"
}

stop() {
    local pid
    pid="$(cat "$STATE/pid" 2>/dev/null || true)"
    if pid_alive "$pid"; then
        kill "$pid"
        for ((i = 0; i < 50; i++)); do pid_alive "$pid" || break; sleep 0.1; done
        pid_alive "$pid" && kill -9 "$pid" 2>/dev/null || true
        log "stopped pid $pid"
    fi
    rm -f "$STATE/pid" "$STATE/endpoint" "$STATE/stdout.log" "$STATE/stderr.log"
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    run) install; exec "$PY" "$LAUNCHER" --port "$PORT" ;;
    python) install; echo "$PY" ;;
    *) echo "usage: $0 install|start|stop|run|python" >&2; exit 2 ;;
esac
