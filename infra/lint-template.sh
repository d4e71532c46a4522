#!/usr/bin/env bash
# Checks the SAM template, offline once installed:
#   1. cfn-lint (errors and warnings fail; extra args go to cfn-lint), which
#      validates the SAM resources against SAM's schema;
#   2. `sam validate`, which runs the real SAM transform (aws-sam-translator),
#      catching what only the transform rejects;
#   3. `sam validate --lint`, cfn-lint as SAM runs it.
#   infra/lint-template.sh [extra cfn-lint args...]
# Both are pinned in a project-local venv; the first run installs them
# (~1 min, needs PyPI), later runs take a few seconds and need no network.
set -euo pipefail

CFN_LINT_VERSION=1.58.0
SAM_CLI_VERSION=1.170.0   # requires cfn-lint <1.59: bump the two together
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=infra/venv.sh
source "$ROOT/infra/venv.sh"
VENV="$ROOT/infra/.venv-lint"      # gitignored
LOCK="$ROOT/infra/.venv-lint.lock" # gitignored
PY="$VENV/bin/python"

log() { echo "lint-template: $*" >&2; }

# Fast check (metadata only): the pinned versions are installed.
venv_ok() {
    [ -x "$PY" ] && "$PY" - "$CFN_LINT_VERSION" "$SAM_CLI_VERSION" >/dev/null 2>&1 <<'PYEOF'
import sys
from importlib.metadata import version
sys.exit(version("cfn-lint") != sys.argv[1] or version("aws-sam-cli") != sys.argv[2])
PYEOF
}

install() {
    venv_install "$VENV" "$LOCK" venv_ok "cfn-lint $CFN_LINT_VERSION and aws-sam-cli $SAM_CLI_VERSION" "" \
        "cfn-lint==$CFN_LINT_VERSION" "aws-sam-cli==$SAM_CLI_VERSION"
}

install
cd "$ROOT"

status=0
"$VENV/bin/cfn-lint" "$@" -- template.yaml || status=$?

# The transform needs a region and some credentials to build its clients but
# makes no call (no managed policy is referenced by name): dummy credentials,
# never the caller's, so this can neither touch nor depend on a real account.
# `sam validate` runs the real transform; `sam validate --lint` runs cfn-lint
# through SAM, as the deploy guide does. Success lines are quiet; failures print.
sam_check() {
    local out rc=0
    out="$(env -u AWS_PROFILE -u AWS_SESSION_TOKEN \
        AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true \
        SAM_CLI_TELEMETRY=0 \
        "$VENV/bin/sam" validate --template template.yaml --region us-east-1 "$@" 2>&1)" || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "$out" >&2
        status=$rc
    fi
}
sam_check
sam_check --lint

[ "$status" -eq 0 ] && log "template.yaml OK (cfn-lint $CFN_LINT_VERSION; sam validate and sam validate --lint, SAM CLI $SAM_CLI_VERSION)"
exit "$status"
