"""Repeat sales from the conversation: tasks, segments, broadcasts with consent, triggers, carts, loyalty.

Services take a session and return domain objects (and events to publish after commit); the web layer is
thin. Everything that touches many customers is set-based SQL that runs on SQLite and PostgreSQL alike.
"""

from __future__ import annotations


class SalesError(ValueError):
    """Bad input for a sales action; the message (already translated) says why."""


class NotFound(LookupError):
    pass


__all__ = ["NotFound", "SalesError"]
