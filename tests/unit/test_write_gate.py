"""The in-process SQLite write gate: one holder at a time, higher priority first, cancellation-safe."""

from __future__ import annotations

import asyncio

import pytest

from inbox.db_gate import HIGH, NORMAL, WriteGate


async def test_waiters_of_high_priority_go_first() -> None:
    gate = WriteGate()
    await gate.acquire(NORMAL)
    order: list[str] = []

    async def take(name: str, priority: int) -> None:
        await gate.acquire(priority)
        order.append(name)
        await asyncio.sleep(0)
        gate.release()

    tasks = [asyncio.create_task(take("normal-1", NORMAL)), asyncio.create_task(take("normal-2", NORMAL))]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(take("webhook", HIGH)))
    await asyncio.sleep(0)
    gate.release()
    await asyncio.gather(*tasks)
    assert order == ["webhook", "normal-1", "normal-2"]
    assert not gate.held


async def test_a_cancelled_waiter_neither_holds_nor_blocks_the_gate() -> None:
    gate = WriteGate()
    await gate.acquire()
    waiter = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.release()
    assert not gate.held
    await asyncio.wait_for(gate.acquire(), 1)
    assert gate.held


async def test_two_engines_on_one_sqlite_file_take_turns_through_the_gate(tmp_path: object) -> None:
    from pathlib import Path

    from sqlalchemy import text

    from inbox.db import make_engine
    from inbox.db_gate import gate_for

    path = Path(str(tmp_path)) / "gate.sqlite3"
    main = make_engine(f"sqlite+aiosqlite:///{path}")
    raw = make_engine(f"sqlite+aiosqlite:///{path}", write_priority=HIGH)
    try:
        async with main.begin() as conn:
            await conn.execute(text("CREATE TABLE t (n INTEGER)"))

        async def write(engine: object, n: int) -> None:
            async with engine.begin() as conn:  # type: ignore[attr-defined]
                await conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
                await asyncio.sleep(0)

        async def fail(engine: object) -> None:
            async with engine.begin() as conn:  # type: ignore[attr-defined]
                await conn.execute(text("INSERT INTO t VALUES (-1)"))
                raise RuntimeError("rolled back")

        results = await asyncio.gather(
            *(write(main if n % 2 else raw, n) for n in range(40)),
            fail(main),
            fail(raw),
            return_exceptions=True,
        )
        assert [type(r).__name__ for r in results if r is not None] == ["RuntimeError", "RuntimeError"]
        async with main.connect() as conn:
            rows = (await conn.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all()
        assert rows == list(range(40))  # every commit kept, both rollbacks undone
        assert not gate_for(str(path)).held
    finally:
        await main.dispose()
        await raw.dispose()
