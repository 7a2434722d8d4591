"""Carriers and tracking links. Templates live in the ``carrier`` table with a ``{track}`` placeholder."""

from __future__ import annotations

import re
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Carrier
from inbox.orders.errors import InvalidInput, NotFound

_TRACK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_/.]{2,99}$")


def tracking_url(template: str | None, track: str) -> str | None:
    """The carrier's page for ``track``; None when the carrier has no public tracking (own courier)."""
    if not template:
        return None
    return template.replace("{track}", quote(track, safe=""))


def check_track_number(track: str) -> str:
    track = track.strip().replace(" ", "")
    if not _TRACK.match(track):
        raise InvalidInput(
            "tracking", f"tracking number {track!r} must be 3-100 letters, digits, '-', '_', '/', '.'"
        )
    return track


async def get_carrier(session: AsyncSession, code: str) -> Carrier:
    carrier = await session.get(Carrier, code)
    if carrier is None or not carrier.active:
        raise NotFound(f"unknown carrier {code!r}")
    return carrier


async def list_carriers(session: AsyncSession) -> list[Carrier]:
    rows = await session.execute(select(Carrier).where(Carrier.active.is_(True)).order_by(Carrier.name))
    return list(rows.scalars())
