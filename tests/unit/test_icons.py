"""Icons are inline SVG from one sprite, never emoji (which show as empty boxes without an emoji font)."""

from __future__ import annotations

import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "inbox" / "web"
# emoji and pictographs, misc symbols, dingbats: the ranges a plain text font often lacks
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u25a0-\u25ff]")
# templates other areas own whose text symbols (✓ ✉ ⚠, in common text fonts) their tests assert
NOT_YET = {"_customer_card.html", "_email_body.html", "_email_conversation.html"}


def test_every_icon_used_is_in_the_sprite() -> None:
    sprite = (WEB / "static" / "icons.svg").read_text()
    have = set(re.findall(r'<symbol id="i-([a-z0-9-]+)"', sprite))
    used: set[str] = set()
    for path in [*WEB.glob("templates/*.html"), *WEB.glob("static/*.js")]:
        text = path.read_text()
        used |= set(re.findall(r"icon\(['\"]([a-z0-9-]+)['\"]", text))
        used |= set(re.findall(r"svgIcon\(['\"]([a-z0-9-]+)['\"]", text))
    assert used, "no icon() calls found"
    assert used <= have, used - have


def test_no_emoji_in_templates_and_scripts() -> None:
    found = []
    for path in [*WEB.glob("templates/*.html"), *WEB.glob("static/*.js")]:
        if path.name in NOT_YET or path.name.endswith(".min.js"):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            found += [f"{path.name}:{n}: {ch!r}" for ch in EMOJI.findall(line)]
    assert found == []
