"""The templates hold no script the Content-Security-Policy (script-src 'self') would block: no inline
<script>, no on*= handler attributes, no htmx hx-on (evaluated code), no javascript: links."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "inbox" / "web" / "templates"
FORBIDDEN = {
    "inline <script>": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    "on*= handler": re.compile(r"\son[a-z]+\s*=", re.I),
    "hx-on": re.compile(r"\bhx-on[:-]", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


def test_no_inline_script_in_any_template() -> None:
    found = [
        f"{path.name}: {what}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for what, pattern in FORBIDDEN.items()
        if pattern.search(path.read_text())
    ]
    assert found == []
