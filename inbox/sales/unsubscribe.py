"""Unsubscribing from marketing in every channel: a button (messengers), a reply "стоп" (channels that carry
replies), a short signed link (SMS without replies) and, in email, a link plus ``List-Unsubscribe`` /
``List-Unsubscribe-Post`` (RFC 8058 one-click). Each ends in the consent record: marketing off, source
``unsubscribe``, on every channel of the customer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.customers import live_customer
from inbox.core.kinds import ByKind, link_codes
from inbox.customer_card.consent import current_consent, record_consent
from inbox.models import Identity

STOP = re.compile(r"^\W*(стоп|stop|отписаться|отписка|unsubscribe|отпишите( меня)?)\W*$", re.IGNORECASE)
BUTTON_PREFIX = "unsub:"
CONSENT_YES, CONSENT_NO = "optin:y:", "optin:n:"  # answers to the consent question (+ a token)
SALES_BUTTONS = (BUTTON_PREFIX, "optin:")  # button payloads inbox.sales answers (bots leave them alone)
CODES = ByKind(link_codes)  # kind -> its letter in a token, as each channel declares it (``link_code``)
KINDS = ByKind(lambda: {code: kind for kind, code in link_codes().items()})


class BadToken(ValueError):
    pass


def is_stop(text: str | None) -> bool:
    return text is not None and STOP.match(text.strip()) is not None


def _sig(secret: str, body: str) -> str:
    digest = hmac.new(secret.encode(), f"unsub:{body}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:9]).decode()  # 12 characters


def make_token(secret: str, customer_id: int, channel: str) -> str:
    """Signed with ``secret``: the current ``INBOX_SECRET_KEY``."""
    body = f"{customer_id}{CODES.get(channel, 'x')}"
    return f"{body}{_sig(secret, body)}"


def read_token(keys: str | Sequence[str], token: str) -> tuple[int, str]:
    """The customer and channel of a token signed with any of ``keys`` (``Settings.signing_keys``: the current
    key, then during a rotation the previous one), so links in letters sent before `inbox secret rotate` still
    work while ``INBOX_SECRET_KEY_OLD`` is set."""
    m = re.fullmatch(r"(\d{1,18})([a-z])([A-Za-z0-9_-]{12})", token or "")
    if not m:
        raise BadToken("the unsubscribe link is damaged")
    ok = False
    for key in (keys,) if isinstance(keys, str) else keys:  # no early exit: the same work whichever matches
        ok |= hmac.compare_digest(_sig(key, m.group(1) + m.group(2)), m.group(3))
    if not ok:
        raise BadToken("the unsubscribe link is damaged")
    return int(m.group(1)), KINDS.get(m.group(2), "")


def link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/u/{token}"


async def opt_out(session: AsyncSession, customer_id: int, source: str = "unsubscribe") -> int:
    """Marketing off on every channel of the customer, recorded in the consent history (so the card shows
    when and how they said no). Returns how many channels were consenting before."""
    customer = await live_customer(session, customer_id)
    kinds = set(
        (await session.execute(select(Identity.kind).where(Identity.customer_id == customer.id))).scalars()
    )
    state = await current_consent(session, customer.id)
    was = sum(1 for s in state.values() if s.marketing)
    for kind in sorted(kinds | set(state)):
        current = state.get(kind)
        if current is None or current.marketing:
            await record_consent(session, customer.id, kind, False, source)
    return was
