"""Provider rate limits as sliding windows: never more than ``limit`` sends in any ``window`` seconds.

A token bucket refills while it drains, so a full bucket of 30 plus a second of refill lets 60 messages out
within one second (44 in one second was seen with 90 replies); providers count sends per rolling second and
answer 429 past the limit. Here every send first reserves a slot in each window it belongs to (the account's
and the chat's) at once, or learns how long to wait; when the send is over its slots count from that moment,
so no difference in network delay between two sends can put them into one of the provider's seconds.

State lives in Redis when ``INBOX_REDIS_URL`` is set, shared by every process of the cluster (one Lua script
per reservation, Redis's own clock); otherwise in the process, which is the whole deployment on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

WINDOW = 1.01  # seconds: the provider's second plus a margin for clock granularity


@dataclass(frozen=True)
class Limit:
    key: str
    count: int  # at most this many sends ...
    window: float  # ... in any window of this many seconds
    from_end: bool = True  # a slot counts from the end of its send (False: from its reservation)


def per_second(key: str, rate: float, margin: float = WINDOW) -> list[Limit]:
    """A rate in sends per second as windows: 30/s -> 30 per 1.01 s, and the sends spread over the window
    (one per 1.01/30 s from reservation to reservation: a burst of 30 at once would finish late, and the next
    burst, counted from those ends, would start late); 0.2/s -> 1 per 5.05 s."""
    rate = max(rate, 0.001)
    if rate >= 1:
        count = math.floor(rate)
        window = Limit(key, count, margin)
        return [window] if count == 1 else [window, Limit(key + ":spread", 1, margin / count, from_end=False)]
    return [Limit(key, 1, margin / rate)]


Slots = list[tuple[str, str]]  # (key, slot id) of one reservation


class RateLimiter(Protocol):
    async def try_acquire(self, limits: Sequence[Limit]) -> tuple[float, Slots]:
        """Reserve a slot in every window at once and return (0, the slots), or reserve nothing and return
        the seconds to wait before trying again."""

    async def sent(self, slots: Slots) -> None:
        """The send is over: its slots count from now. The provider received it somewhere between the
        reservation and now, so the next send, reserved a window after now, can never share its second."""

    async def pause(self, key: str, seconds: float) -> None:
        """The provider said ``retry_after``: nothing under ``key`` goes out for that long."""

    async def close(self) -> None: ...


@contextlib.asynccontextmanager
async def slot(limiter: RateLimiter, limits: Sequence[Limit]) -> AsyncIterator[None]:
    """Wait for a slot in every window, send inside the block; the slots count from its end."""
    while True:
        wait, slots = await limiter.try_acquire(limits)
        if wait <= 0:
            break
        await asyncio.sleep(wait)
    try:
        yield
    finally:
        await limiter.sent(slots)


class MemoryLimiter:
    """One process: the slots of each key (a mutable [time]) in a list."""

    def __init__(self, max_keys: int = 50_000) -> None:
        self._slots: dict[str, dict[str, list[float]]] = {}
        self._paused: dict[str, float] = {}
        self._seq = 0
        self.max_keys = max_keys

    async def try_acquire(self, limits: Sequence[Limit]) -> tuple[float, Slots]:
        now = time.monotonic()
        wait = 0.0
        for lim in limits:
            slots = self._slots.get(lim.key)
            if slots:
                for sid in [sid for sid, t in slots.items() if t[0] <= now - lim.window]:
                    del slots[sid]
                if len(slots) >= lim.count:
                    times = sorted(t[0] for t in slots.values())
                    wait = max(wait, times[len(times) - lim.count] + lim.window - now)
            wait = max(wait, self._paused.get(lim.key, 0.0) - now)
        if wait > 0:
            return wait, []
        if len(self._slots) > self.max_keys:  # forget idle chats
            idle = [k for k, v in self._slots.items() if all(t[0] <= now - 60 for t in v.values())]
            for key in idle[: self.max_keys // 5]:
                del self._slots[key]
        taken: Slots = []
        for lim in limits:
            self._seq += 1
            sid = str(self._seq)
            self._slots.setdefault(lim.key, {})[sid] = [now]
            if lim.from_end:
                taken.append((lim.key, sid))
        return 0.0, taken

    async def sent(self, slots: Slots) -> None:
        now = time.monotonic()
        for key, sid in slots:
            t = self._slots.get(key, {}).get(sid)
            if t is not None:
                t[0] = now

    async def pause(self, key: str, seconds: float) -> None:
        self._paused[key] = max(self._paused.get(key, 0.0), time.monotonic() + seconds)

    async def close(self) -> None:
        return None


# KEYS: one sorted set per window (members: slot ids, scores: Redis time in microseconds).
# ARGV: count and window (microseconds) per key, in KEYS order. Returns {microseconds to wait, slot ids...}.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait = 0
for i, key in ipairs(KEYS) do
  local count = tonumber(ARGV[2 * i - 1])
  local window = tonumber(ARGV[2 * i])
  local paused = tonumber(redis.call('GET', key .. ':pause') or '0')
  if paused > now then wait = math.max(wait, paused - now) end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local have = redis.call('ZCARD', key)
  if have >= count then
    local nth = redis.call('ZRANGE', key, have - count, have - count, 'WITHSCORES')
    wait = math.max(wait, tonumber(nth[2]) + window - now)
  end
end
if wait > 0 then return {wait} end
local out = {0}
for i, key in ipairs(KEYS) do
  local ttl = math.ceil(tonumber(ARGV[2 * i]) / 1000) + 5000
  local member = tostring(redis.call('INCR', key .. ':seq'))
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, ttl)
  redis.call('PEXPIRE', key .. ':seq', ttl)
  out[#out + 1] = member
end
return out
"""

# KEYS: sorted sets; ARGV: the slot id in each. A slot that is still there now counts from now.
_SENT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now, ARGV[i])
end
return 0
"""

_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_ = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > current then
  redis.call('SET', KEYS[1], tostring(until_), 'PX', math.ceil(tonumber(ARGV[1]) / 1000) + 1000)
end
return 0
"""


class RedisLimiter:
    """Every process of a cluster reserves in the same sorted sets, on Redis's clock."""

    def __init__(self, url: str, prefix: str = "inbox:rate:") -> None:
        from redis.asyncio import Redis

        self.redis: Any = Redis.from_url(url)
        self.prefix = prefix
        self._acquire = self.redis.register_script(_ACQUIRE)
        self._sent = self.redis.register_script(_SENT)
        self._pause = self.redis.register_script(_PAUSE)

    async def try_acquire(self, limits: Sequence[Limit]) -> tuple[float, Slots]:
        keys = [self.prefix + lim.key for lim in limits]
        args: list[int] = []
        for lim in limits:
            args += [lim.count, round(lim.window * 1_000_000)]
        answer = await self._acquire(keys=keys, args=args)
        wait = int(answer[0])
        if wait > 0:
            return wait / 1_000_000, []
        return 0.0, [
            (k, m.decode() if isinstance(m, bytes) else str(m)) for k, m in zip(keys, answer[1:], strict=True)
        ]

    async def sent(self, slots: Slots) -> None:
        if slots:
            await self._sent(keys=[k for k, _ in slots], args=[m for _, m in slots])

    async def pause(self, key: str, seconds: float) -> None:
        await self._pause(keys=[self.prefix + key + ":pause"], args=[round(seconds * 1_000_000)])

    async def close(self) -> None:
        await self.redis.aclose()


def make_limiter(redis_url: str | None, database_url: str = "") -> RateLimiter:
    """The keys carry a digest of the database URL: the processes of one deployment share their windows,
    two deployments on one Redis do not."""
    if not redis_url:
        return MemoryLimiter()
    scope = hashlib.sha1(database_url.encode(), usedforsecurity=False).hexdigest()[:10]
    return RedisLimiter(redis_url, prefix=f"inbox:rate:{scope}:")
