"""Telegram channel: Bot API adapter (aiogram), update parsing, sending."""
