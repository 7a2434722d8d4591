from __future__ import annotations

from sqlalchemy import inspect

from inbox.models import Base


async def test_migrations_build_every_table(engine) -> None:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    missing = set(Base.metadata.tables) - names
    assert not missing, f"tables the models declare but the migrations do not build: {missing}"
