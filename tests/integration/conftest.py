"""Fixtures shared by the integration tests (servers started on demand, only for tests that ask)."""

from tests.integration.email_conftest import channel, dovecot, email_settings, smtp_server

__all__ = ["channel", "dovecot", "email_settings", "smtp_server"]
