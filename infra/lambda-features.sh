#!/usr/bin/env bash
# No deployed Lambda compiles a notice signer or the sandbox provider (they
# are simulation code, for tests and qrpay-local; SPEC §9: the sandbox never
# leaves the local stack): every function's normal build has qrpay-provider
# without its `signers` and `sandbox` features, the way `cargo lambda build`
# at the root builds it (the workspace's default-members leave qrpay-local and
# the test suites out), the provider crate builds without them, and the built
# binaries carry none of the sandbox's own strings.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

status=0
for function in functions/*/; do
    name="$(basename "$function")"
    features="$(cargo tree --locked -p "$name" -e normal,features -i qrpay-provider 2>/dev/null || true)"
    for feature in signers sandbox; do
        if grep -q "feature \"$feature\"" <<<"$features"; then
            echo "lambda-features: $name builds qrpay-provider with the $feature feature" >&2
            status=1
        fi
    done
done
root="$(cargo build --locked --bin payment-callback --message-format=json 2>/dev/null \
    | grep '"name":"qrpay_provider"' | grep -o '"features":\[[^]]*\]' | head -n 1)"
if [ "$root" != '"features":[]' ]; then
    echo "lambda-features: a root build (as SAM runs it) gives qrpay-provider $root" >&2
    status=1
fi
cargo check --locked -q -p qrpay-provider --lib
# The binaries as a root build makes them: no sandbox verifier (its secret's
# name), transfer provider (its fault reason) or notice format (its events).
cargo build --locked -q --bin payment-callback --bin payout-worker --bin payout-request
for binary in payment-callback payout-worker payout-request; do
    for marker in QRPAY_SANDBOX_SECRET "payee account frozen" TRANSFER.SUCCEEDED; do
        if grep -aqF "$marker" "target/debug/$binary"; then
            echo "lambda-features: $binary contains the sandbox ($marker)" >&2
            status=1
        fi
    done
done
[ "$status" -eq 0 ] && echo "lambda-features: no Lambda builds a notice signer or the sandbox" >&2
exit "$status"
