"""Prometheus metrics (``/metrics``).

Counters and histograms count what this process did (inbound stored, outbound sent, send errors, HTTP
latency); the queue gauges (outbox depth and oldest age, ingest lag) are read from the database at scrape
time, so any process reports the whole cluster's queues. With ``PROMETHEUS_MULTIPROC_DIR`` set (``inbox serve
--processes N`` sets it), the counters of all processes of one machine are summed in every scrape.
"""

from __future__ import annotations

import os
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import func, select

from inbox.db import SessionFactory
from inbox.models import InboundEvent, Outbox
from inbox.models.base import utcnow

__all__ = ["CONTENT_TYPE_LATEST", "render"]

INBOUND = Counter("inbox_inbound_messages_total", "Customer messages stored, per channel", ["channel"])
OUTBOUND = Counter(
    "inbox_outbound_messages_total", "Messages the provider accepted, per channel", ["channel"]
)
SEND_ERRORS = Counter(
    "inbox_send_errors_total",
    "Failed send attempts per channel and reason (rate_limited, transient, permanent, blocked, adapter)",
    ["channel", "reason"],
)
SSE_CLIENTS = Gauge("inbox_sse_clients", "Browsers holding a live-update stream", multiprocess_mode="livesum")
HTTP_LATENCY = Histogram(
    "inbox_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
OUTBOX_DEPTH = Gauge("inbox_outbox_depth", "Outbox rows not yet done", multiprocess_mode="max")
OUTBOX_OLDEST = Gauge(
    "inbox_outbox_oldest_age_seconds", "Age of the oldest outbox row not yet done", multiprocess_mode="max"
)
INGEST_BACKLOG = Gauge(
    "inbox_ingest_backlog", "Raw inbound events not yet processed", multiprocess_mode="max"
)
INGEST_LAG = Gauge(
    "inbox_ingest_lag_seconds",
    "Age of the oldest raw inbound event not yet processed (0 when none)",
    multiprocess_mode="max",
)


def _age(oldest: datetime | None, now: datetime) -> float:
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None and now.tzinfo is not None:
        now = now.replace(tzinfo=None)
    return max(0.0, (now - oldest).total_seconds())


async def refresh_queue_gauges(factory: SessionFactory) -> None:
    now = utcnow()
    async with factory() as session:
        depth, oldest = (
            await session.execute(
                select(func.count(), func.min(Outbox.created_at)).where(Outbox.done_at.is_(None))
            )
        ).one()
        backlog, oldest_in = (
            await session.execute(
                select(func.count(), func.min(InboundEvent.received_at)).where(
                    InboundEvent.processed_at.is_(None), InboundEvent.skipped.is_(False)
                )
            )
        ).one()
    OUTBOX_DEPTH.set(depth)
    OUTBOX_OLDEST.set(_age(oldest, now))
    INGEST_BACKLOG.set(backlog)
    INGEST_LAG.set(_age(oldest_in, now))


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


async def render(factory: SessionFactory) -> bytes:
    await refresh_queue_gauges(factory)
    return generate_latest(_registry())


def count_inbound(channel: str) -> None:
    INBOUND.labels(channel=channel).inc()


def count_sent(channel: str) -> None:
    OUTBOUND.labels(channel=channel).inc()


def count_send_error(channel: str, reason: str) -> None:
    SEND_ERRORS.labels(channel=channel, reason=reason).inc()
