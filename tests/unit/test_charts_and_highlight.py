"""Pure helpers: SVG charts escape their labels and scale to their data; search highlighting is safe."""

from __future__ import annotations

import re

from inbox import i18n
from inbox.team.search import START, STOP, fts5_query, highlight_words, marked
from inbox.web.charts import bar_chart, line_chart


def test_line_chart_escapes_and_draws_each_series() -> None:
    svg = str(line_chart("A <b>", ["2026-11-01", "2026-11-02"], {"<script>": [1, 3], "VK": [0, 2]}))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "A &lt;b&gt;" in svg
    assert svg.count("<polyline") == 2
    assert ">5</text>" in svg  # the axis top is the next round number above the maximum (3)
    points = re.search(r'points="([^"]+)"', svg)
    assert points and len(points.group(1).split()) == 2


def test_bar_chart_bars_are_proportional() -> None:
    svg = str(bar_chart("t", [("Анна", [10.0, 20.0]), ("Олег", [5.0, 0.0])], ["median", "p90"]))
    widths = [float(w) for w in re.findall(r'class="bar" x="\d+" y="\d+" width="([\d.]+)"', svg)]
    assert len(widths) == 4 and widths[0] * 2 == widths[1] and widths[2] * 2 == widths[0] and widths[3] == 0
    assert "Анна" in svg and "—" not in svg
    with i18n.use_locale("ru"):
        empty = str(bar_chart("empty", [], ["x"]))
    assert "Нет данных за этот период" in empty and ">x</text>" not in empty  # said in words, no lone legend


def test_bar_chart_leaves_room_for_long_labels() -> None:
    label = "Переданы менеджерам и ещё длиннее"
    svg = str(bar_chart("t", [(label, [1.0])], ["x"]))
    x = int(re.search(r'class="bar" x="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    assert x >= 7 * len(label)  # the label is right-aligned at x - 8: its start stays inside the picture


def test_highlighting_is_escaped_and_word_prefix_only() -> None:
    assert str(highlight_words("Анна <Смирнова>", ["смир"])) == "Анна &lt;<mark>Смир</mark>нова&gt;"
    assert str(highlight_words("Переанна", ["анна"])) == "Переанна"  # inside a word: not a prefix
    assert str(marked(f"a{START}<b>{STOP}")) == "a<mark>&lt;b&gt;</mark>"


def test_fts5_query_quotes_words() -> None:
    assert fts5_query('заказ "123" OR x') == '"заказ"* "123"* "OR"* "x"*'
    assert fts5_query("!!!") == ""
