"""The benchmark harness (tests/perf, outside the default run) kept from rotting: its machinery on a very
short run. No figure is judged here, only that every part produces one: wrk with the Lua script against the
bare endpoint and our webhook, the drain wait, the table, the README block and the profile summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.perf import bench_email, bench_ingest, bench_suppgram, bench_team
from tests.perf.profile import summarize
from tests.perf.table import END, START, Row, render_markdown, render_text, write_readme
from tests.perf.wrk import parse


def test_wrk_output_and_the_table(tmp_path: Path) -> None:
    result = parse(
        '{"requests":100,"duration_us":2000000,"connect":0,"read":0,"write":0,"status":3,'
        '"timeout":1,"p50_us":1500,"p99_us":9000,"max_us":12000,"mean_us":2000.5}'
    )
    assert (result.rps, result.errors, result.ok, result.p99_ms) == (50.0, 4, 96, 9.0)
    rows = [
        Row("ingest", "SQLite", "ack rate", 450.0, "req/s", 500.0, "bare", ">= 0.9x"),
        Row("ingest", "SQLite", "ack p99", 30.0, "ms", 10.0, "bare", "<= 2x", higher_is_better=False),
    ]
    assert [r.verdict for r in rows] == ["met", "NOT met"]
    assert "0.90x" in render_text(rows) and "| ingest | SQLite | ack p99 |" in render_markdown(rows)
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n## Benchmarks\n\nold\n", encoding="utf-8")
    write_readme(readme, rows, "first")
    write_readme(readme, rows[:1], "second")  # replaces the block, keeps the rest
    text = readme.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1 and "second" in text and "first" not in text
    assert "old" in text and "ack p99" not in text
    raw = tmp_path / "p.raw"
    raw.write_text("main (a.py:1);work (b.py:2) 3\nmain (a.py:1);idle (c.py:3) 1\n", encoding="utf-8")
    summary = summarize(raw)
    assert "4 samples" in summary and "75.0%  work b.py" in summary


@pytest.mark.slow
def test_a_very_short_ingest_run_on_sqlite(tmp_path: Path) -> None:
    rows = bench_ingest.run(tmp_path, 1, only="sqlite", bots=False)
    figures = {r.metric: r for r in rows if r.database == "SQLite"}
    assert {"ack rate", "ack p99", "processed", "ack p50", "peak RSS"} <= set(figures)
    ack = figures["ack rate"]
    assert ack.figure > 0 and ack.baseline is not None and ack.baseline > 0 and ack.ratio is not None


@pytest.mark.slow
def test_a_tiny_shop_for_the_page_benchmark_on_sqlite(tmp_path: Path) -> None:
    """team_data's bulk loader (search index dropped and rebuilt), the queries beside their raw SQL and the
    pages under wrk."""
    rows = bench_team.run(tmp_path, 1, customers=40, messages=400, runs=3, only="sqlite")
    assert [r.bench.split(" (")[0] for r in rows] == [
        "page: inbox list",
        "page CPU: inbox list",
        "query: inbox list",
        "page: thread page",
        "page CPU: thread page",
        "query: thread page",
        "page: search",
        "page CPU: search",
        "query: search",
        "serve: peak RSS serving the pages",
    ]
    assert all(r.figure > 0 for r in rows)
    assert all(r.baseline and r.verdict in ("met", "NOT met") for r in rows if r.target)
    assert all(r.baseline is None for r in rows if r.bench.startswith("page CPU"))


@pytest.mark.slow
def test_a_few_letters_for_the_email_benchmark(tmp_path: Path) -> None:
    rows = bench_email.run(3, tmp_path, helpdesk_too=False)
    assert rows and all(r.figure > 0 and r.baseline is None for r in rows)
    assert "skipped" in rows[0].baseline_label


@pytest.mark.slow
def test_a_fixed_number_of_updates_for_the_suppgram_comparison(tmp_path: Path) -> None:
    """wrk stops once every update is acknowledged, and every update becomes one stored message; the
    updates queued for suppgram are the ones the Lua script posts."""
    rows = bench_suppgram.run(25, tmp_path, only="sqlite", peer_too=False)
    assert len(rows) == 1 and rows[0].figure > 0 and rows[0].baseline is None
    first = bench_suppgram.update(1)
    assert first["update_id"] == 10000001 and first["message"]["from"]["id"] == 100001
    assert first["message"]["text"] == "Сообщение номер 1: где мой заказ?"
