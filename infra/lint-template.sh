#!/usr/bin/env bash
# Checks the SAM template, offline once installed:
#   1. cfn-lint with its informational checks (informational, warnings and
#      errors all fail; extra args go to cfn-lint), which validates the SAM
#      resources against SAM's schema. A finding wrong for qrpay is ignored
#      on its resource (Metadata: cfn-lint: config: ignore_checks) with the
#      reason beside it;
#   2. `sam validate`, which runs the real SAM transform (aws-sam-translator),
#      catching what only the transform rejects;
#   3. `sam validate --lint`, cfn-lint as SAM runs it;
#   4. checkov's CloudFormation checks (which cover the SAM resources; its
#      `serverless` framework is the Serverless Framework's, not SAM): any
#      failed check fails. A finding wrong for qrpay is skipped on its
#      resource (Metadata: checkov: skip) with a one-line comment;
#      tests/tests/deployed_shape.rs refuses a skip without one.
#   infra/lint-template.sh [extra cfn-lint args...]
# All are pinned in project-local venvs (checkov in its own: its
# dependencies conflict with SAM CLI's); the first run installs them
# (a few minutes, needs PyPI), later runs take about a minute and need no
# network.
set -euo pipefail

CFN_LINT_VERSION=1.58.0
SAM_CLI_VERSION=1.170.0   # requires cfn-lint <1.59: bump the two together
CHECKOV_VERSION=3.3.30
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=infra/venv.sh
source "$ROOT/infra/venv.sh"
VENV="$ROOT/infra/.venv-lint"      # gitignored
LOCK="$ROOT/infra/.venv-lint.lock" # gitignored
PY="$VENV/bin/python"
CHECKOV_VENV="$ROOT/infra/.venv-checkov"      # gitignored
CHECKOV_LOCK="$ROOT/infra/.venv-checkov.lock" # gitignored

log() { echo "lint-template: $*" >&2; }

# Fast check (metadata only): the pinned versions are installed.
venv_ok() {
    [ -x "$PY" ] && "$PY" - "$CFN_LINT_VERSION" "$SAM_CLI_VERSION" >/dev/null 2>&1 <<'PYEOF'
import sys
from importlib.metadata import version
sys.exit(version("cfn-lint") != sys.argv[1] or version("aws-sam-cli") != sys.argv[2])
PYEOF
}

checkov_ok() {
    [ -x "$CHECKOV_VENV/bin/python" ] && "$CHECKOV_VENV/bin/python" - "$CHECKOV_VERSION" >/dev/null 2>&1 <<'PYEOF'
import sys
from importlib.metadata import version
sys.exit(version("checkov") != sys.argv[1])
PYEOF
}

install() {
    venv_install "$VENV" "$LOCK" venv_ok "cfn-lint $CFN_LINT_VERSION and aws-sam-cli $SAM_CLI_VERSION" "" \
        "cfn-lint==$CFN_LINT_VERSION" "aws-sam-cli==$SAM_CLI_VERSION"
    venv_install "$CHECKOV_VENV" "$CHECKOV_LOCK" checkov_ok "checkov $CHECKOV_VERSION" "" \
        "checkov==$CHECKOV_VERSION"
}

install
cd "$ROOT"

status=0
"$VENV/bin/cfn-lint" --include-checks I --non-zero-exit-code informational "$@" -- template.yaml || status=$?

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

# --skip-download: no call to the vendor's platform (guidelines, policies);
# the checks are the ones installed. Passed checks are not listed.
checkov_out="$("$CHECKOV_VENV/bin/checkov" --file template.yaml \
    --framework cloudformation --skip-download --compact --quiet 2>&1)" || {
    echo "$checkov_out" >&2
    status=1
}

[ "$status" -eq 0 ] && log "template.yaml OK (cfn-lint $CFN_LINT_VERSION with informational checks; sam validate and sam validate --lint, SAM CLI $SAM_CLI_VERSION; checkov $CHECKOV_VERSION)"
exit "$status"
