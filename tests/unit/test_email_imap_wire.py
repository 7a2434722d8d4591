"""Parsing of IMAP answers as aioimaplib hands them over, and mailbox name encoding."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from inbox.channels.email.imap import (
    FolderState,
    ImapConfig,
    encode_mailbox,
    imap_date,
    parse_fetch,
    parse_search,
    parse_thread,
)


def test_parse_fetch_uid_before_or_after_literal() -> None:
    lines = [
        b"1 FETCH (UID 5 BODY[] {3}",
        bytearray(b"abc"),
        b")",
        b"2 FETCH (BODY[] {2}",
        bytearray(b"xy"),
        b" UID 9)",
        b"Fetch completed (0.001 + 0.000 secs).",
    ]
    assert parse_fetch(lines) == {5: b"abc", 9: b"xy"}


def test_parse_search_and_thread() -> None:
    assert parse_search([b"3 1 2", b"Search completed."]) == [1, 2, 3]
    assert parse_search([b"Search completed."]) == []
    assert parse_thread([b"(1 2 (3)(4))(5)(6 7)", b"Thread completed."]) == [[1, 2, 3, 4], [5], [6, 7]]


def test_mailbox_names_and_dates() -> None:
    assert encode_mailbox("INBOX") == "INBOX"
    assert encode_mailbox("Заявки") == "&BBcEMARPBDIEOgQ4-"
    assert encode_mailbox("A&B") == "A&-B"
    assert encode_mailbox("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"  # RFC 3501 example
    assert imap_date(datetime(2026, 3, 5, tzinfo=UTC)) == "05-Mar-2026"


def test_folder_state_json_and_config_validation() -> None:
    assert FolderState.from_json({"uidvalidity": "7", "last_uid": 3}) == FolderState(7, 3)
    assert FolderState.from_json({"uidvalidity": 7}) is None
    assert FolderState.from_json("junk") is None
    with pytest.raises(ValueError, match="security"):
        ImapConfig("h", 1, "u", "p", security="tls")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="idle_seconds"):
        ImapConfig("h", 1, "u", "p", idle_seconds=1800)
