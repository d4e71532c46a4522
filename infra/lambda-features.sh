#!/usr/bin/env bash
# No deployed Lambda compiles a notice signer (they are simulation code, for
# tests and qrpay-local): every function's normal build has qrpay-provider
# without its `signers` feature, the way `cargo lambda build` at the root
# builds it (the workspace's default-members leave qrpay-local and the test
# suites out), and the provider crate builds without the feature.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

status=0
for function in functions/*/; do
    name="$(basename "$function")"
    features="$(cargo tree --locked -p "$name" -e normal,features -i qrpay-provider 2>/dev/null || true)"
    if grep -q 'feature "signers"' <<<"$features"; then
        echo "lambda-features: $name builds qrpay-provider with the signers feature" >&2
        status=1
    fi
done
root="$(cargo build --locked --bin payment-callback --message-format=json 2>/dev/null \
    | grep '"name":"qrpay_provider"' | grep -o '"features":\[[^]]*\]' | head -n 1)"
if [ "$root" != '"features":[]' ]; then
    echo "lambda-features: a root build (as SAM runs it) gives qrpay-provider $root" >&2
    status=1
fi
cargo check --locked -q -p qrpay-provider --lib
[ "$status" -eq 0 ] && echo "lambda-features: no Lambda builds a notice signer" >&2
exit "$status"
