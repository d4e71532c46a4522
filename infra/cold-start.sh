#!/usr/bin/env bash
# Times every function's cold start beside a hello-world `lambda_runtime`
# binary (README, "Cold start"). Not part of CI: it makes release builds.
#   infra/cold-start.sh [RUNS [KEY=VALUE...]]
#     RUNS: median of RUNS starts each (default 21); KEY=VALUE: extra settings
#     for every function (e.g. RUST_LOG=debug).
#
# Builds the functions the way SAM's `cargo lambda build --release --bin NAME`
# does at the root (the release profile, the default members' features), for
# this machine's architecture, and the baseline (infra/cold-start/hello) with
# the same [profile.release]. Starts the moto emulator with the resources
# the functions name (the table as template.yaml declares it), then starts
# each binary RUNS times against a minimal Runtime API on loopback
# (infra/cold-start/runtime_api.py) with its events/env.json environment,
# and hands it one event from events/. Prints a table: binary size, median
# init (process start -> first GET /invocation/next), median first answer
# (event handed over -> response posted, one store call to the emulator for
# most), and init as a multiple of hello world's.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RUNS="${1:-21}"
shift || true
# A shared 2-core machine: one job unless told otherwise.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" CARGO_INCREMENTAL=0

log() { echo "cold-start: $*" >&2; }

# Each function with the event whose answer is timed.
FUNCTIONS=(
    admin-api:admin-api/put-shop.json
    payment-callback:payment-callback/sandbox-transfer-succeeded.json
    payout-request:payout-request/get-payout.json
    payout-worker:payout-worker/sweep-schedule.json
    qr-issue:qr-issue/get-qr.json
    reconcile:reconcile/get-reconciliation.json
)

log "building the functions (release)"
bins=()
for entry in "${FUNCTIONS[@]}"; do bins+=(--bin "${entry%%:*}"); done
cargo build --release --locked "${bins[@]}"

log "building hello world with the root's [profile.release]"
mapfile -t profile < <(python3 - "$ROOT/Cargo.toml" <<'PYEOF'
import json, sys, tomllib
with open(sys.argv[1], "rb") as f:
    for key, value in tomllib.load(f)["profile"]["release"].items():
        if key != "package":  # overrides name our crates, not hello world's
            print(f"--config=profile.release.{key}={json.dumps(value)}")
PYEOF
)
HELLO_TARGET="$ROOT/target/cold-start-hello"
cargo build --release --locked --manifest-path infra/cold-start/hello/Cargo.toml \
    --target-dir "$HELLO_TARGET" "${profile[@]}"

export QRPAY_EMULATOR_STATE="$ROOT/target/emulator-cold-start-$$"
stop_emulator() { infra/emulator.sh stop 2>/dev/null || true; rm -rf "$QRPAY_EMULATOR_STATE"; }
trap stop_emulator EXIT
endpoint="$(infra/emulator.sh start)"
log "emulator at $endpoint"
overrides=(--override "QRPAY_AWS_ENDPOINT=$endpoint" --override "IOT_DATA_ENDPOINT=$endpoint")
# No stage secret here: the settings come from the environment (never a real key).
overrides+=(--override "QRPAY_SECRET_ID=" --override "QRPAY_QR_TOKEN_SECRET=cold-start-token-secret-not-for-any-stage")
for setting in "$@"; do overrides+=(--override "$setting"); done
while IFS= read -r line; do overrides+=(--override "$line"); done < <(
    "$(infra/emulator.sh python)" infra/cold-start/resources.py template.yaml "$endpoint" "cold-start-$$")

targets=("hello-world=$HELLO_TARGET/release/hello-world-lambda")
for entry in "${FUNCTIONS[@]}"; do
    targets+=("${entry%%:*}=target/release/${entry%%:*}:events/${entry#*:}")
done
python3 infra/cold-start/runtime_api.py --runs "$RUNS" --env-json events/env.json \
    "${overrides[@]}" "${targets[@]}"
