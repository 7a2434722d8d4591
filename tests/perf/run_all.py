"""`make bench`: every benchmark of this directory in one run, one table (figure, baseline measured in the
same run, ratio, target). `--readme README.md` rewrites the README's generated benchmark block from it.

    python -m tests.perf.run_all [--seconds 15] [--quick] [--only NAME] [--readme README.md] [--profile DIR]

Figures on a shared machine are noisy; the ratios against a baseline measured minutes apart in the same
run are what to read. The full run uses the issue's sizes (pages on 100k customers and 1M messages per
database, 2,000 letters against django-helpdesk, 10,000 updates against suppgram); `--quick` sizes every
benchmark down for a smoke run. django-helpdesk and suppgram are installed on first use into virtualenvs of
their own under ~/.cache/inbox-bench (see bench_email, bench_suppgram).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.perf import (
    bench_broadcast_send,
    bench_catalog,
    bench_email,
    bench_ingest,
    bench_live,
    bench_pacing,
    bench_suppgram,
    bench_team,
)
from tests.perf.table import Row, render_text, write_readme


def suites(
    seconds: float, quick: bool, profile: Path | None, rows: list[Row]
) -> list[tuple[str, Callable[[Path], list[Row]]]]:
    def live_rate(database: str) -> float:
        """Half the sustained ingest rate measured above on that database (100/s when ingest did not run)."""
        sustained = [r.figure for r in rows if r.bench == "ingest sustained" and r.database == database]
        return max(sustained[0] / 2, 25.0) if sustained else 100.0

    return [
        ("ingest", lambda w: bench_ingest.run(w, seconds, bots=not quick, profile=profile)),
        (
            "live",
            lambda w: bench_live.run(live_rate("SQLite"), seconds, w, live_rate("PostgreSQL"), profile),
        ),
        ("pacing", lambda w: bench_pacing.run(60 if quick else 300, w)),
        ("broadcast", lambda w: bench_broadcast_send.run(90 if quick else 1000, w)),
        ("catalog", lambda w: bench_catalog.run(5_000 if quick else 100_000, w)),
        (
            "pages",
            lambda w: bench_team.run(
                w,
                min(seconds, 10),
                customers=2_000 if quick else 100_000,
                messages=20_000 if quick else 1_000_000,
            ),
        ),
        ("email", lambda w: bench_email.run(200 if quick else 2_000, w)),
        ("suppgram", lambda w: bench_suppgram.run(500 if quick else 10_000, w)),
    ]


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{os.cpu_count()} cores, {python}, load average {load:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15, help="wrk duration of each loaded run")
    parser.add_argument("--quick", action="store_true", help="short runs, no bot-on ingest (for a smoke run)")
    parser.add_argument(
        "--only",
        action="append",
        help="ingest, live, pacing, broadcast, catalog, pages, email or suppgram (repeatable)",
    )
    parser.add_argument("--readme", type=Path, help="rewrite this README's benchmark block")
    parser.add_argument("--profile", type=Path, help="py-spy raw profiles of the loaded servers go here")
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    before = machine()
    rows: list[Row] = []

    def preamble(done: list[str], pending: list[str]) -> str:
        text = (
            f"Measured by `make bench` ({started}; {before}; `wrk` -c32 for {args.seconds:.0f} s per loaded "
            "run). Every figure stands beside its baseline measured in the same run on the same server "
            "settings and database; on a shared 2-core machine the absolute figures move from run to run, "
            "the ratios are what to read."
        )
        if pending:  # written after each benchmark, so that a run cut short still leaves what it measured
            text += f" Partial run: {', '.join(done) or 'nothing'} done; {', '.join(pending)} not run."
        return text

    chosen = [
        (name, suite)
        for name, suite in suites(args.seconds, args.quick, args.profile, rows)
        if not args.only or name in args.only
    ]
    done: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for name, suite in chosen:
            work = Path(tmp) / name
            work.mkdir()
            print(f"running {name} ...", flush=True)
            rows += suite(work)
            done.append(name)
            if args.readme:
                write_readme(args.readme, rows, preamble(done, [n for n, _ in chosen if n not in done]))
    print()
    print(f"benchmarks of {started} ({before}); wrk -t1, -c32 for {args.seconds:.0f} s per loaded run")
    print(render_text(rows))
    if args.readme:
        write_readme(args.readme, rows, preamble(done, []))
        print(f"\n{args.readme}: benchmark block rewritten")


if __name__ == "__main__":
    main()
