#!/usr/bin/env bash
# The one command that runs all of qrpay's tests on a fresh machine:
#   infra/test.sh
# It installs and starts the moto emulator (DynamoDB + SQS, project-local
# virtualenv), installs the providers' SDKs that the conformance tests compare
# our wire formats with (infra/conformance.sh, another project-local
# virtualenv), installs headless Chromium, chromedriver and a CJK font for the
# browser tests (infra/browser.sh: Debian's packages, when missing), installs
# LibreOffice Calc (headless) and two XLSX readers for the test that opens the
# exports back (infra/sheet-readers.sh), installs
# cargo-lambda for the test that runs a function under `cargo lambda watch`
# (infra/cargo-lambda.sh, another project-local virtualenv), runs every
# test of the workspace against the emulator and the embedded store, fuzzes the
# local stack's HTTP API with Schemathesis (infra/schemathesis.sh), checks that
# no Lambda builds a notice signer, lints template.yaml offline, and stops the
# emulator when done.
# Extra arguments go to `cargo test` (e.g. `infra/test.sh -p qrpay-domain`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# A private emulator for this run, so a developer's own one is left alone.
export QRPAY_EMULATOR_STATE="$ROOT/target/emulator-test-$$"
stop_emulator() { infra/emulator.sh stop 2>/dev/null || true; rm -rf "$QRPAY_EMULATOR_STATE"; }
trap stop_emulator EXIT

echo "test: starting the emulator" >&2
QRPAY_EMULATOR_ENDPOINT="$(infra/emulator.sh start)"
export QRPAY_EMULATOR_ENDPOINT
echo "test: emulator at $QRPAY_EMULATOR_ENDPOINT" >&2

echo "test: installing the providers' SDKs for the conformance tests" >&2
infra/conformance.sh install

echo "test: installing headless Chromium and chromedriver for the browser tests" >&2
infra/browser.sh install

echo "test: installing LibreOffice Calc, openpyxl and python-calamine for the export readers test" >&2
infra/sheet-readers.sh install

echo "test: installing cargo-lambda for the local-invoke test" >&2
infra/cargo-lambda.sh install

cargo test --workspace --locked "$@"

# After the tests, so qrpay-local is already built (debug).
echo "test: Schemathesis against qrpay-local (owner, staff, admin, no token)" >&2
infra/schemathesis.sh run

echo "test: checking that no Lambda builds a notice signer" >&2
infra/lambda-features.sh

echo "test: linting template.yaml" >&2
infra/lint-template.sh
