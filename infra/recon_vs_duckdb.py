"""Runs recon-bench and DuckDB on the same generated day (infra/recon-vs-duckdb.sh).

Each run is a child process: its wall time, and its peak resident memory
from wait4 (ru_maxrss). recon-bench reports its reconciliation's own time and
peak (reset before the run, so the generator and the row-by-row check are
not counted); its whole process's peak is printed beside it. DuckDB's time is
the query's (connect, read both CSVs, join, classify, sort, write one CSV
per shop); its peak is its whole process's (Python included).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

# The same classification as the reconciler's matcher (shared/reconcile/src/
# matcher.rs), as far as plain CSV allows: movements pair on (provider,
# kind, reference, period), the n-th ledger entry with the n-th statement
# line of a key; an unpaired ledger entry is missing at the provider (a
# balance adjustment, with no provider, is internal), an unpaired statement
# line missing in the ledger unless nothing moved; the second of a key on
# either side is a duplicate; a pair differs by status, then by amount.
# Rows are sorted by time within each shop, as our reports are.
QUERY = """
COPY (
  WITH
  l AS (
    SELECT *, row_number() OVER (
      PARTITION BY provider, kind, reference, period ORDER BY provider_ref) AS n
    FROM read_csv('{csv}/ledger.csv', header = true, columns = {{
      'shop': 'VARCHAR', 'provider': 'VARCHAR', 'kind': 'VARCHAR',
      'reference': 'VARCHAR', 'provider_ref': 'VARCHAR', 'period': 'UTINYINT',
      'plan_periods': 'UTINYINT', 'amount': 'DECIMAL(18,2)', 'at_ms': 'BIGINT',
      'customer': 'VARCHAR'}})
  ),
  s AS (
    SELECT *, row_number() OVER (
      PARTITION BY provider, kind, reference, period ORDER BY line) AS n
    FROM read_csv('{csv}/statement.csv', header = true, columns = {{
      'line': 'BIGINT', 'shop': 'VARCHAR', 'provider': 'VARCHAR',
      'kind': 'VARCHAR', 'reference': 'VARCHAR', 'provider_ref': 'VARCHAR',
      'period': 'UTINYINT', 'amount': 'DECIMAL(18,2)', 'status': 'VARCHAR',
      'at_ms': 'BIGINT', 'payer': 'VARCHAR'}})
  ),
  j AS (
    SELECT
      coalesce(l.shop, s.shop) AS shop,
      coalesce(l.at_ms, s.at_ms) AS at_ms,
      coalesce(l.reference, s.reference) AS order_no,
      coalesce(l.kind, s.kind) AS kind,
      coalesce(l.provider, s.provider) AS provider,
      coalesce(l.provider_ref, s.provider_ref) AS provider_ref,
      coalesce(l.customer, s.payer) AS customer,
      CASE
        WHEN coalesce(l.kind, s.kind) = 'DEDUCTION' THEN
          'period ' || coalesce(l.period, s.period)
          || CASE WHEN l.plan_periods > 0 THEN ' of ' || l.plan_periods ELSE '' END
        WHEN l.kind = 'PAYMENT' AND l.plan_periods > 0 THEN l.plan_periods || ' periods'
      END AS instalment,
      CASE WHEN coalesce(l.kind, s.kind) = 'DEDUCTION' THEN
        CASE coalesce(s.status, 'SUCCESS') WHEN 'SUCCESS' THEN 'DEDUCTED' ELSE s.status END
      END AS deduction_status,
      l.amount AS ledger_amount,
      s.amount AS provider_amount,
      CASE
        WHEN l.n > 1 OR s.n > 1 THEN 'DUPLICATE'
        WHEN s.line IS NULL AND l.provider IS NULL THEN 'INTERNAL'
        WHEN s.line IS NULL THEN 'MISSING_IN_PROVIDER'
        WHEN l.reference IS NULL AND s.status <> 'SUCCESS' THEN 'MATCHED'
        WHEN l.reference IS NULL THEN 'MISSING_IN_LEDGER'
        WHEN s.status <> 'SUCCESS' THEN 'STATUS_MISMATCH'
        WHEN l.amount <> s.amount THEN 'AMOUNT_MISMATCH'
        ELSE 'MATCHED'
      END AS outcome,
      s.line AS statement_line
    FROM l FULL OUTER JOIN s
      ON l.provider = s.provider AND l.kind = s.kind AND l.reference = s.reference
     AND l.period = s.period AND l.n = s.n
  )
  SELECT '{date}' AS date, shop, order_no, kind, provider, provider_ref, customer,
    instalment, deduction_status, ledger_amount, provider_amount,
    CASE WHEN outcome = 'MATCHED' THEN coalesce(ledger_amount, 0) END AS reconciled_amount,
    outcome, statement_line
  FROM j ORDER BY shop, at_ms
) TO '{out}' (FORMAT csv, PARTITION_BY (shop), OVERWRITE_OR_IGNORE true)
"""

DATE = "2026-11-20"


def duckdb_once(csv, out):
    """One timed DuckDB run (in this child process); prints its seconds."""
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(QUERY.format(csv=csv, out=out, date=DATE))
    con.close()
    print(f"{time.perf_counter() - started:.3f}")


def child(argv, env=None):
    """Runs argv; its stdout, wall seconds and peak RSS in MiB."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.stdout.write(out)
        sys.exit(f"{argv[0]} failed ({code})")
    return out, wall, usage.ru_maxrss / 1024.0


def uptime():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def bench_once(bench, rows, work):
    """One recon-bench run: its reconciliation's seconds and peak, its whole
    process's peak and the outcomes it found. It removes its files once
    timed (under `work`, which the script removes however it ends)."""
    env = dict(os.environ, TMPDIR=work)
    out, wall, peak = child([bench, "--rows", str(rows)], env)
    if "OK: exactly the injected discrepancies were found" not in out:
        sys.stdout.write(out)
        sys.exit("recon-bench did not verify")
    secs = float(re.search(r"report rows in \d+ shops in ([\d.]+) s", out).group(1))
    own = float(re.search(r"peak memory \([^)]*\): ([\d.]+) MiB", out).group(1))
    outcomes = re.search(r"outcomes: (.*)", out).group(1)
    print(f"  recon-bench: {secs:.2f} s, peak {own:.0f} MiB"
          f" (whole process {peak:.0f} MiB, {wall:.1f} s with generating and checking)"
          f"  [load {uptime()}]", flush=True)
    return secs, own, outcomes


def duckdb_once_timed(csv, out_dir):
    """One DuckDB run in a child process: its seconds and peak."""
    out, _, peak = child([sys.executable, __file__, "--duckdb-once", csv, out_dir])
    secs = float(out.strip().splitlines()[-1])
    print(f"  duckdb:      {secs:.2f} s, peak {peak:.0f} MiB  [load {uptime()}]", flush=True)
    return secs, peak


def settle(seconds):
    """Lets the filesystem settle before a timed run: the dirty pages of the
    run before written out."""
    if seconds > 0:
        subprocess.run(["sync"], check=False)
        time.sleep(seconds)


def best_of(bench, rows, csv, work, runs, settle_s):
    """Runs the two tools in turn (so both see the same load), `runs` times
    each; the fastest run of each.

    Each run's output is removed once timed (DuckDB's last kept, to count
    its outcomes), so the next run writes into memory the guest has just
    used, as a machine running the job day after day does: pages it has not
    touched lately cost more to fill on this virtual machine. `work` carries
    ext4's top-directory flag (the shell script sets it), so each run's
    directory lands in a block group of its own: on ext4 without a journal
    (this machine's), creating a file skips every inode freed in the last
    few minutes, one by one (0.3-0.6 ms a file within minutes of deleting a
    few thousand, 0.04 ms otherwise), and both tools create thousands."""
    ours, theirs = [], []
    for r in range(runs):
        print(f"round {r + 1} of {runs}:", flush=True)
        settle(settle_s)
        ours.append(bench_once(bench, rows, work))
        out_dir = os.path.join(work, f"duckdb-out-{r + 1}")
        settle(settle_s)
        theirs.append(duckdb_once_timed(csv, out_dir))
        if r + 1 < runs:
            shutil.rmtree(out_dir, ignore_errors=True)
    return min(ours), min(theirs), out_dir


def duckdb_outcomes(out_dir):
    """DuckDB's outcome counts, read back from the files it wrote (untimed)."""
    import duckdb

    con = duckdb.connect()
    rows = con.execute(
        f"SELECT outcome, count(*) FROM read_csv('{out_dir}/*/*.csv', header = true, "
        "hive_partitioning = true) GROUP BY outcome ORDER BY outcome").fetchall()
    files = con.execute(f"SELECT count(*) FROM glob('{out_dir}/*/*.csv')").fetchone()[0]
    return dict(rows), files


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--duckdb-once":
        duckdb_once(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, choices=range(1, 100), metavar="R")
    parser.add_argument("--work", required=True)
    parser.add_argument("--settle", type=int, default=30,
                        help="seconds to let the filesystem settle before each timed run")
    args = parser.parse_args()

    csv = os.path.join(args.work, "csv")
    print(f"writing the day of {args.rows} movements as plain CSV", flush=True)
    subprocess.run([args.bench, "--rows", str(args.rows), "--write-csv", csv], check=True)
    sizes = {f: os.path.getsize(os.path.join(csv, f)) for f in sorted(os.listdir(csv))}
    print("  " + ", ".join(f"{f} {s / 2**20:.0f} MiB" for f, s in sizes.items()))

    ours, theirs, out_dir = best_of(
        args.bench, args.rows, csv, args.work, args.runs, args.settle)
    counts, files = duckdb_outcomes(out_dir)
    print(f"  duckdb wrote {files} files; outcomes {counts}")
    print(f"  recon-bench outcomes (settlement batches included) {ours[2]}")

    print()
    print(f"rows: {args.rows}  load now: {uptime()}  settled {args.settle} s before each run")
    print(f"recon-bench, best of {args.runs}: {ours[0]:.2f} s, peak {ours[1]:.0f} MiB")
    print(f"duckdb (2 threads), best of {args.runs}: {theirs[0]:.2f} s, peak {theirs[1]:.0f} MiB")
    print(f"speed ratio (duckdb time / recon-bench time): {theirs[0] / ours[0]:.2f}x")


if __name__ == "__main__":
    main()
