#!/usr/bin/env bash
# How the reconciler's time grows with the day (issue 15: 10M movements in
# at most 11x the time of 1M). recon-bench runs the two sizes in turn, R
# rounds, so both see the same machine: this host's speed drifts by tens of
# percent within an hour, and a 1M best taken at another time than the 10M
# best moves the ratio by as much. Prints each run, the best of each size
# and their ratio.
#   infra/recon-scaling.sh [--small N] [--large N] [--runs R] [--settle S]
#     (default 1000000 and 10000000 rows, 3 rounds, dirty pages written out
#     and 30 s of quiet before each run)
# Every run's files stay until the last run ends (creating files right after
# many were deleted is slow on ext4): about 22 GiB free under
# ${TMPDIR:-/tmp} per round at the default sizes; removed however it ends.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SMALL=1000000
LARGE=10000000
RUNS=3
SETTLE=30
while [ $# -gt 0 ]; do
    case "$1" in
        --small) SMALL="${2:?}"; shift 2 ;;
        --large) LARGE="${2:?}"; shift 2 ;;
        --runs) RUNS="${2:?}"; shift 2 ;;
        --settle) SETTLE="${2:?}"; shift 2 ;;
        *) echo "usage: $0 [--small N] [--large N] [--runs R] [--settle S]" >&2; exit 2 ;;
    esac
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
echo "recon-scaling: building recon-bench (release)" >&2
(cd "$ROOT" && cargo build -q --release -p qrpay-reconcile --bin recon-bench)
BENCH="$CARGO_TARGET_DIR/release/recon-bench"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/recon-scaling.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# One timed run of ROWS: prints its reconciliation time in seconds.
run() {
    local rows="$1" out
    sync
    sleep "$SETTLE"
    out="$(cd "$WORK" && TMPDIR="$WORK" "$BENCH" --rows "$rows" --keep 2>/dev/null)"
    grep -q '^OK' <<<"$out" || { echo "recon-bench --rows $rows did not end OK" >&2; exit 1; }
    grep -oP 'shops in \K[0-9.]+(?= s$)' <<<"$out" | tail -1
}

best_small="" best_large=""
for round in $(seq "$RUNS"); do
    small="$(run "$SMALL")"
    large="$(run "$LARGE")"
    echo "round $round: $SMALL rows $small s, $LARGE rows $large s" \
        "(load $(cut -d' ' -f1-3 /proc/loadavg))"
    best_small="$(printf '%s\n' $best_small "$small" | sort -g | head -1)"
    best_large="$(printf '%s\n' $best_large "$large" | sort -g | head -1)"
done
echo "best of $RUNS: $SMALL rows $best_small s, $LARGE rows $best_large s"
awk -v s="$best_small" -v l="$best_large" -v rs="$SMALL" -v rl="$LARGE" \
    'BEGIN { printf "time ratio %.2fx for %.0fx the rows\n", l / s, rl / rs }'
