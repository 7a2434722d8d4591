"""Sends the shop's order webhooks from the durable outbox (rows of kind "webhook"), beside the channel
dispatcher and outside it: same table, same claims, leases and backoff, its own loop.

A row's payload is ``{url, body, headers}`` (built by :func:`inbox.orders.conversation.queue_webhook`).
2xx: done; 5xx, 429, timeouts and connection errors: retried with backoff; other answers are permanent
(kept in ``last_error``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx

from inbox.core.outbox import backoff, claim_due, finish_row, reschedule
from inbox.db import SessionFactory, transaction
from inbox.models import Outbox
from inbox.settings import Settings

log = logging.getLogger(__name__)
KIND = "webhook"
TIMEOUT = 10.0


class WebhookSender:
    def __init__(self, factory: SessionFactory, settings: Settings, concurrency: int = 8) -> None:
        self.factory = factory
        self.settings = settings
        self.wakeup = asyncio.Event()
        self.sem = asyncio.Semaphore(concurrency)

    def wake(self) -> None:
        self.wakeup.set()

    async def send_once(self) -> int:
        rows = await claim_due(self.factory, self.settings, Outbox.kind == KIND)
        if rows:
            async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                await asyncio.gather(*(self._guarded(client, row) for row in rows))
        return len(rows)

    async def _guarded(self, client: httpx.AsyncClient, row: Outbox) -> None:
        async with self.sem:
            await self.send(client, row)

    async def send(self, client: httpx.AsyncClient, row: Outbox) -> None:
        url, body, headers = row.payload.get("url"), row.payload.get("body"), row.payload.get("headers")
        if not isinstance(url, str) or not isinstance(body, str) or not isinstance(headers, dict):
            await self._finish(row, "malformed webhook payload")
            return
        try:
            answer = await client.post(url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            await self._retry(row, f"{type(exc).__name__}: {exc}")
            return
        if 200 <= answer.status_code < 300:
            await self._finish(row, None)
        elif answer.status_code >= 500 or answer.status_code == 429:
            await self._retry(row, f"HTTP {answer.status_code}: {answer.text[:200]}")
        else:
            await self._finish(row, f"HTTP {answer.status_code}: {answer.text[:500]}")

    async def _finish(self, row: Outbox, error: str | None) -> None:
        async with transaction(self.factory) as session:
            await finish_row(session, row, error)

    async def _retry(self, row: Outbox, reason: str) -> None:
        attempts = row.attempts + 1
        if attempts >= self.settings.outbox_max_attempts:
            await self._finish(row, f"gave up after {attempts} attempts: {reason}")
            return
        wait = backoff(attempts, self.settings.outbox_backoff_cap)
        async with transaction(self.factory) as session:
            await reschedule(session, row, attempts, wait, reason)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.wakeup.clear()  # before the claim: a webhook queued meanwhile is not left to the next poll
            try:
                n = await self.send_once()
            except Exception:
                log.exception("webhook sender loop failed; retrying")
                n = 0
            if n == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), timeout=0.5)
