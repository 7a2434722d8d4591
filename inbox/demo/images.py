"""Product pictures for the demo catalog, drawn at seed time as small SVG files (no network, no image
library): a tinted card with a simple shape for the category and the product's initials."""

from __future__ import annotations

import hashlib
from pathlib import Path
from xml.sax.saxutils import escape

# category -> (background, accent, shape)
PALETTE: dict[str, tuple[str, str, str]] = {
    "Обувь": ("#e0f2fe", "#0369a1", "shoe"),
    "Одежда": ("#fce7f3", "#be185d", "shirt"),
    "Аксессуары": ("#fef3c7", "#b45309", "bag"),
    "Дом": ("#dcfce7", "#15803d", "cup"),
}
SHAPES: dict[str, str] = {
    "shoe": '<path d="M40 120 L40 80 L80 80 L100 100 L160 108 Q172 112 170 124 L40 124 Z" fill="{c}"/>',
    "shirt": '<path d="M70 50 L90 40 Q100 52 110 40 L130 50 L150 75 L135 85 L130 78 L130 150 L70 150 '
    'L70 78 L65 85 L50 75 Z" fill="{c}"/>',
    "bag": '<rect x="55" y="70" width="90" height="75" rx="10" fill="{c}"/>'
    '<path d="M80 70 Q80 45 100 45 Q120 45 120 70" stroke="{c}" stroke-width="8" fill="none"/>',
    "cup": '<path d="M60 60 L130 60 L122 145 L68 145 Z" fill="{c}"/>'
    '<path d="M130 80 Q155 85 128 115" stroke="{c}" stroke-width="8" fill="none"/>',
}


def svg(sku: str, name: str, category: str) -> str:
    """The picture of one product; the same product always gets the same picture."""
    bg, accent, shape = PALETTE.get(category, ("#f3f4f6", "#374151", "bag"))
    hue = int(hashlib.sha256(sku.encode()).hexdigest()[:2], 16)
    initials = "".join(w[0] for w in name.split()[:2]).upper()
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200" viewBox="0 0 200 200" '
        f'role="img" aria-label="{escape(name, {chr(34): "&quot;"})}">'
        f'<rect width="200" height="200" rx="16" fill="{bg}"/>'
        f'<circle cx="{40 + hue % 120}" cy="36" r="14" fill="{accent}" opacity="0.25"/>'
        + SHAPES[shape].format(c=accent)
        + f'<text x="100" y="186" font-family="sans-serif" font-size="20" text-anchor="middle" '
        f'fill="{accent}">{escape(initials)} · {escape(sku)}</text></svg>'
    )


def draw_all(products: list[tuple[str, str, str]], folder: Path) -> list[Path]:
    """Write ``<sku>.svg`` for each (sku, name, category) into ``folder``; returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for sku, name, category in products:
        path = folder / f"{sku}.svg"
        path.write_text(svg(sku, name, category), encoding="utf-8")
        written.append(path)
    return written
