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
# Each run removes its files once timed (about 4.5 GiB at 10M), so the next
# one writes into memory the guest has just used, as a machine running the
# job day after day does; their directories are spread over the disk
# (chattr +T, below), so that no run creates its files among the inodes the
# run before freed (creating a file right after many were deleted is slow
# on ext4 without a journal).
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
# ext4's "top directory" flag: each run's directory is placed in a block
# group of its own, away from inodes other work freed in the last minutes
# (which creating a file otherwise skips one by one). A no-op elsewhere.
chattr +T "$WORK" 2>/dev/null || true

# One timed run of ROWS: prints its reconciliation time in seconds.
run() {
    local rows="$1" out
    sync
    sleep "$SETTLE"
    out="$(cd "$WORK" && TMPDIR="$WORK" "$BENCH" --rows "$rows" 2>/dev/null)"
    grep -q '^OK' <<<"$out" || { echo "recon-bench --rows $rows did not end OK" >&2; exit 1; }
    grep -oP 'shops in \K[0-9.]+(?= s$)' <<<"$out" | tail -1
}

best_small="" best_large="" ratios=""
for round in $(seq "$RUNS"); do
    small="$(run "$SMALL")"
    large="$(run "$LARGE")"
    ratio="$(awk -v s="$small" -v l="$large" 'BEGIN { printf "%.2f", l / s }')"
    echo "round $round: $SMALL rows $small s, $LARGE rows $large s, ${ratio}x" \
        "(load $(cut -d' ' -f1-3 /proc/loadavg))"
    best_small="$(printf '%s\n' $best_small "$small" | sort -g | head -1)"
    best_large="$(printf '%s\n' $best_large "$large" | sort -g | head -1)"
    ratios="$ratios $ratio"
done
echo "best of $RUNS: $SMALL rows $best_small s, $LARGE rows $best_large s"
awk -v s="$best_small" -v l="$best_large" -v rs="$SMALL" -v rl="$LARGE" \
    'BEGIN { printf "time ratio %.2fx for %.0fx the rows\n", l / s, rl / rs }'
# Each round's two runs are minutes apart, the bests perhaps not: the
# median of the rounds' own ratios moves less with the host's drift.
printf '%s\n' $ratios | sort -g | awk '{ r[NR] = $1 } END {
    printf "median of the ratios by round %.2fx\n", (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2 }'
