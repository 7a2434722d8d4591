"""Runs suppgram's Telegram customer frontend (PyPI ``suppgram``: python-telegram-bot polling, SQLAlchemy
storage) against the Telegram emulator until it has stored N customer messages, and prints
``{"seconds": …, "messages": …, "conversations": …}`` as JSON: the time from the start of polling to the
N-th stored message. Executed by ``tests.perf.bench_suppgram`` with the interpreter of a separate
virtualenv that has ``suppgram[telegram,sqlalchemy]`` installed; it never runs inside the project's own
environment (suppgram pins older libraries).

Usage: <suppgram-venv>/bin/python tests/perf/suppgram_runner.py EMULATOR_URL TOKEN SQLALCHEMY_URL N
"""

# This file is executed by another interpreter; it is not part of the inbox package and is not type-checked.
# mypy: ignore-errors

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time


def point_at(base: str) -> None:
    """suppgram builds its python-telegram-bot applications from bare tokens; give them the emulator's
    Bot API address instead of api.telegram.org."""
    from suppgram.frontends.telegram.app_manager import TelegramAppManager
    from telegram.ext import ApplicationBuilder

    def from_tokens(cls, tokens):
        apps = [
            ApplicationBuilder()
            .token(token)
            .base_url(f"{base}/bot")
            .base_file_url(f"{base}/file/bot")
            .build()
            for token in tokens
        ]
        return cls(apps)

    TelegramAppManager.from_tokens = classmethod(from_tokens)


async def main() -> None:
    base, token, url, expected = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    point_at(base)
    from sqlalchemy import text
    from suppgram.builder import Builder

    builder = Builder().with_sqlalchemy_storage(url).with_telegram_customer_frontend(token)
    await builder._initialize()  # tables, getMe: before the clock starts
    engine = builder._sqlalchemy_engine

    async def count(table: str) -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())

    started = time.perf_counter()
    await builder.start()  # deleteWebhook, then getUpdates in the background
    stored = 0
    deadline = started + 3600
    while time.perf_counter() < deadline:
        stored = await count("suppgram_conversation_messages")
        if stored >= expected:
            break
        await asyncio.sleep(0.05)
    seconds = time.perf_counter() - started
    conversations = await count("suppgram_conversations")
    print(json.dumps({"seconds": seconds, "messages": stored, "conversations": conversations}), flush=True)
    os._exit(0)  # python-telegram-bot's polling shutdown adds nothing to measure


if __name__ == "__main__":
    asyncio.run(main())
