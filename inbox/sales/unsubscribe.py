"""Unsubscribing from marketing in every channel: a button (messengers), a reply "стоп" (channels that carry
replies), a short signed link (SMS without replies) and, in email, a link plus ``List-Unsubscribe`` /
``List-Unsubscribe-Post`` (RFC 8058 one-click). Each ends in the consent record: marketing off, source
``unsubscribe``, on every channel of the customer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime

from sqlalchemy import select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Identity, utcnow
from inbox.sales.consent import consent_table

STOP = re.compile(r"^\W*(стоп|stop|отписаться|отписка|unsubscribe|отпишите( меня)?)\W*$", re.IGNORECASE)
BUTTON_PREFIX = "unsub:"
CODES = {"telegram": "t", "vk": "v", "email": "e", "sms": "s", "widget": "w"}
KINDS = {v: k for k, v in CODES.items()}


class BadToken(ValueError):
    pass


def is_stop(text: str | None) -> bool:
    return text is not None and STOP.match(text.strip()) is not None


def _sig(secret: str, body: str) -> str:
    digest = hmac.new(secret.encode(), f"unsub:{body}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:9]).decode()  # 12 characters


def make_token(secret: str, customer_id: int, channel: str) -> str:
    body = f"{customer_id}{CODES.get(channel, 'x')}"
    return f"{body}{_sig(secret, body)}"


def read_token(secret: str, token: str) -> tuple[int, str]:
    m = re.fullmatch(r"(\d{1,18})([a-z])([A-Za-z0-9_-]{12})", token or "")
    if not m or not hmac.compare_digest(_sig(secret, m.group(1) + m.group(2)), m.group(3)):
        raise BadToken("the unsubscribe link is damaged")
    return int(m.group(1)), KINDS.get(m.group(2), "")


def link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/u/{token}"


async def opt_out(session: AsyncSession, customer_id: int, source: str = "unsubscribe") -> int:
    """Marketing off on every channel of the customer (rows are written for channels without one, so the
    card shows when and how they said no). Returns how many channels were consenting before."""
    from inbox.customers import live_customer

    customer = await live_customer(session, customer_id)
    now: datetime = utcnow()
    was = await session.execute(
        update(consent_table)
        .where(consent_table.c.customer_id == customer.id, consent_table.c.marketing == true())
        .values(marketing=False, source=source, recorded_at=now)
    )
    kinds = set(
        (await session.execute(select(Identity.kind).where(Identity.customer_id == customer.id))).scalars()
    )
    present = set(
        (
            await session.execute(
                select(consent_table.c.channel).where(consent_table.c.customer_id == customer.id)
            )
        ).scalars()
    )
    for kind in sorted(kinds - present):
        await session.execute(
            consent_table.insert().values(
                customer_id=customer.id, channel=kind, marketing=False, source=source, recorded_at=now
            )
        )
    return max(int(getattr(was, "rowcount", 0) or 0), 0)
