"""A send must end before its outbox row's lease does, or another dispatcher claims the row and sends it a
second time (seen in the chaos test: a Telegram reply sent three times when a slot came late and the send
then took its whole request timeout)."""

from __future__ import annotations

from types import SimpleNamespace

from inbox.core.outbox import DEFAULT_SEND_TIMEOUT, LEASE_MARGIN, send_budget


def test_a_send_starts_only_while_the_lease_covers_the_channels_timeout() -> None:
    telegram = SimpleNamespace(send_timeout=10.0)
    assert send_budget(20.0, 0.0, telegram) == 20.0 - LEASE_MARGIN  # cut off before the lease ends
    assert send_budget(20.0, 8.0, telegram) == 10.0
    assert send_budget(20.0, 8.5, telegram) is None  # a 10 s send would outlive the lease
    # The default lease (60 s) and Telegram's default timeout (30 s): the old rule (start within 0.8 of the
    # lease) let a send start at 47 s and end at 77 s, 17 s after another dispatcher could claim it.
    assert send_budget(60.0, 47.0, SimpleNamespace(send_timeout=30.0)) is None
    assert send_budget(60.0, 27.0, SimpleNamespace(send_timeout=30.0)) == 31.0


def test_a_channel_without_a_timeout_gets_the_default_and_a_long_one_half_the_lease() -> None:
    assert send_budget(60.0, 60.0 - LEASE_MARGIN - DEFAULT_SEND_TIMEOUT, object()) == DEFAULT_SEND_TIMEOUT
    assert send_budget(60.0, 60.0 - LEASE_MARGIN - DEFAULT_SEND_TIMEOUT + 0.5, object()) is None
    # A timeout longer than the lease (a misconfiguration) still sends while half the lease is left, and the
    # send is cut off at the margin instead of outliving the lease.
    slow = SimpleNamespace(send_timeout=120.0)
    assert send_budget(60.0, 20.0, slow) == 38.0
    assert send_budget(60.0, 29.0, slow) is None
    assert send_budget(60.0, 0.0, SimpleNamespace(send_timeout=0)) == 58.0  # nonsense falls back to 30 s
