"""Litestar's ``Store`` on our database: server-side web sessions survive restarts and are shared by every
process."""

from __future__ import annotations

from litestar.stores.base import Store

from inbox.core.kvstore import KeyValueStore


class DatabaseStore(KeyValueStore, Store):
    """The key-value store of :mod:`inbox.core.kvstore` as a Litestar store."""
