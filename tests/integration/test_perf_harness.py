"""The benchmark harness (tests/perf, outside the default run) kept from rotting: its machinery on a very
short run. No figure is judged here, only that every part produces one: wrk with the Lua script against the
bare endpoint and our webhook, the drain wait, the table, the README block and the profile summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.perf import bench_ingest
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
