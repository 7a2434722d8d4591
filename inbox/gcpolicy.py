"""The cyclic garbage collector and a long-running server.

A process that has imported its libraries (Litestar, SQLAlchemy, pydantic schemas, a channel's client) holds
a few hundred thousand long-lived objects. Every full (generation 2) collection scans all of them: 0.2-0.5 s
during which nothing else runs, a few times a minute under load, which is the p99 of a webhook
acknowledgement or a live update. Objects alive once start-up is done stay for good, so they are frozen
(moved out of the collector's reach); what is allocated later is collected as usual.
"""

from __future__ import annotations

import gc

_frozen_at: set[str] = set()


def freeze_long_lived(moment: str = "start-up") -> None:
    """Freeze what is alive now, once per ``moment`` of the process (start-up, first channel adapter
    built: each imports libraries whose objects live as long as the process)."""
    if moment in _frozen_at:
        return
    _frozen_at.add(moment)
    if moment == "start-up":
        gc.collect()  # garbage of the start-up goes now rather than into the frozen set
    gc.freeze()
