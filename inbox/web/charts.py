"""Server-rendered SVG charts (no scripts, no CDN): lines over days and horizontal bars."""

from __future__ import annotations

from markupsafe import Markup, escape

from inbox import i18n

PALETTE = ["#2f6fed", "#e0623a", "#2e9d5b", "#9c4dcc", "#d4a017", "#00838f", "#c2185b", "#5d4037"]
W, H, PAD_L, PAD_B, PAD_T, PAD_R = 680, 240, 44, 28, 16, 150


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 1.0
    while step * 10 < value:
        step *= 10
    for mult in (1, 2, 5, 10):
        if step * mult >= value:
            return step * mult
    return value


def line_chart(title: str, labels: list[str], series: dict[str, list[float]]) -> Markup:
    """One line per series over the labels (days). Series are drawn in a stable colour order."""
    top = _nice_max(max((v for values in series.values() for v in values), default=0))
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    n = max(len(labels) - 1, 1)

    def xy(i: int, v: float) -> str:
        return f"{PAD_L + plot_w * i / n:.1f},{PAD_T + plot_h * (1 - v / top):.1f}"

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<line x1="{PAD_L}" y1="{PAD_T + plot_h}" x2="{PAD_L + plot_w}" y2="{PAD_T + plot_h}" '
        'stroke="#999"/>',
        f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{PAD_T + plot_h}" stroke="#999"/>',
        f'<text x="{PAD_L - 6}" y="{PAD_T + 4}" text-anchor="end" font-size="11">{top:g}</text>',
        f'<text x="{PAD_L - 6}" y="{PAD_T + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    if labels:
        parts.append(
            f'<text x="{PAD_L}" y="{H - 8}" font-size="11">{escape(labels[0])}</text>'
            f'<text x="{PAD_L + plot_w}" y="{H - 8}" font-size="11" text-anchor="end">'
            f"{escape(labels[-1])}</text>"
        )
    for k, (name, values) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        points = " ".join(xy(i, v) for i, v in enumerate(values))
        parts.append(
            f'<polyline class="series" data-series="{escape(name)}" fill="none" stroke="{color}" '
            f'stroke-width="2" points="{points}"/>'
        )
        ly = PAD_T + 14 * k + 6
        parts.append(
            f'<rect x="{W - PAD_R + 12}" y="{ly - 8}" width="10" height="10" fill="{color}"/>'
            f'<text x="{W - PAD_R + 28}" y="{ly + 1}" font-size="11">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(title: str, rows: list[tuple[str, list[float]]], legend: list[str]) -> Markup:
    """Horizontal bars: one group per row label, one bar per value (e.g. median and p90)."""
    if not rows:
        rows = []
    per = len(legend)
    bar_h, gap = 12, 10
    height = max(PAD_T + len(rows) * (per * bar_h + gap) + PAD_B, 80)
    top = _nice_max(max((v for _, values in rows for v in values), default=0))
    # room for the longest row label (about 7 px a character at 12 px), so "Переданы менеджерам" is not cut
    left = min(max(150, 16 + 7 * max((len(label) for label, _ in rows), default=0)), 320)
    plot_w = W - left - 80
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {W} {height}" width="{W}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for k, name in enumerate(legend if rows else []):
        parts.append(
            f'<rect x="{left + 110 * k}" y="2" width="10" height="10" fill="{PALETTE[k % len(PALETTE)]}"/>'
            f'<text x="{left + 110 * k + 14}" y="11" font-size="11">{escape(name)}</text>'
        )
    y = PAD_T + 4
    for label, values in rows:
        parts.append(
            f'<text x="{left - 8}" y="{y + bar_h}" text-anchor="end" font-size="12">{escape(label)}</text>'
        )
        for k, v in enumerate(values):
            w = plot_w * v / top
            parts.append(
                f'<rect class="bar" x="{left}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                f'fill="{PALETTE[k % len(PALETTE)]}"/>'
                f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 3}" font-size="11">{v:g}</text>'
            )
            y += bar_h
        y += gap
    if not rows:
        empty = escape(i18n._("No data for this period"))
        parts.append(f'<text x="{W / 2}" y="{height / 2}" text-anchor="middle" fill="#888">{empty}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
