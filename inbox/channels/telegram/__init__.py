"""Telegram channel: Bot API adapter (our own aiohttp client, botapi.py), update parsing, sending."""
