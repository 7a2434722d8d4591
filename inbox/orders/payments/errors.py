"""Errors of payment providers: transient (retry later, same idempotence key) or permanent (refused)."""

from __future__ import annotations

from inbox.orders.errors import OrdersError


class ProviderError(OrdersError):
    """A payment or carrier provider could not do what we asked."""


class ProviderUnavailable(ProviderError):
    """Down, timed out, answered 5xx/429 or garbage: try again later with the same idempotence key."""


class ProviderRefused(ProviderError):
    """The provider refused the request (4xx): retrying the same request will not help."""
