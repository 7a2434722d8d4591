"""Errors of the commerce domain. Each carries a human-readable ``reason`` the web/API can show as is."""

from __future__ import annotations


class OrdersError(Exception):
    """Base class: a request the commerce domain refuses, with the reason why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotFound(OrdersError):
    """An order, product, warehouse, carrier or status that does not exist."""


class OutOfStock(OrdersError):
    """Not enough free stock to reserve; ``available`` is what could have been reserved."""

    def __init__(self, reason: str, available: int) -> None:
        super().__init__(reason)
        self.available = available


class StockError(OrdersError):
    """A stock operation that would break an invariant (over-release, on hand below reserved)."""


class OrderError(OrdersError):
    """An order change that is not valid in the order's current state, or invalid input."""


class InvalidInput(OrderError):
    """A value that is wrong whatever the state (a quantity of 0, a malformed phone, a negative cost):
    the API answers 422 and names ``field``. Conflicts with the current state stay 409."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


class TransitionRefused(OrdersError):
    """A status change the status matrix does not allow."""


class StatusConfigError(OrdersError):
    """An invalid status configuration (unknown group, dangling transition, bad template)."""


class ImportFormatError(OrdersError):
    """A catalog file we cannot read at all (unknown format, broken XML); bad rows are rejected instead."""
