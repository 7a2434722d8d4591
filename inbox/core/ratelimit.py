"""Provider rate limits as sliding windows: never more than ``limit`` sends in any ``window`` seconds.

A token bucket refills while it drains, so a full bucket of 30 plus a second of refill lets 60 messages out
within one second (44 in one second was seen with 90 replies); providers count sends per rolling second and
answer 429 past the limit. Here every send first reserves a slot in each window it belongs to (the account's
and the chat's) at once, or learns how long to wait; when the send is over its slots count from that moment,
so no difference in network delay between two sends can put them into one of the provider's seconds.

Slots are reserved at the exact time they become free, up to ``ahead`` seconds in the future: the sender
sleeps until then and sends. An optional spacing window (``:spread``, off by default, see ``per_second``)
counts from the reserved times, not from when a sleeper woke, so a late wake-up delays one send and not every
send after it. A slot still in flight counts as
"ends in the future" (its end is unknown): a window whose deciding slot is in flight is asked again shortly.

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

WINDOW = 1.002  # seconds: the provider's second plus a margin for clock granularity
IN_FLIGHT = 60.0  # a slot whose send never reported its end (a crash) stops counting after this long
POLL = 0.005  # seconds: asking again while the deciding slot of a window is still in flight
SPREAD = 1  # no spacing window: a full second's worth may go at once (see per_second)


@dataclass(frozen=True)
class Limit:
    key: str
    count: int  # at most this many sends ...
    window: float  # ... in any window of this many seconds
    from_end: bool = True  # a slot counts from the end of its send (False: from its reservation)


def per_second(key: str, rate: float, margin: float = WINDOW, spread: int = SPREAD) -> list[Limit]:
    """A rate in sends per second as windows: 30/s -> 30 per 1.002 s; 0.2/s -> 1 per 5.01 s.

    ``spread`` > 1 adds a spacing window: at most count/spread sends per margin/spread seconds, from
    reservation to reservation (spread 3: 10 per 1.002/3 s). It was meant to keep a burst of 30 from
    finishing late and pushing the next second back, but it costs more than it saves: the first second
    takes (spread-1)/spread of a second longer for every run of sends: with 300 replies at 30/s (9 s at
    the least) that alone caps the pace at 0.93x of the limit (VK, 20/s: 0.94x), while a full second's
    worth at once delays the next second by one send's latency only. Measured back to back (bench_pacing,
    SQLite, load 13-15): VK 0.93x -> 0.97x (twice), Telegram unchanged (0.88-0.91x either way). So the
    default is none; the account's window, counted from each send's end, alone decides, and never lets
    more than ``count`` into a second."""
    rate = max(rate, 0.001)
    if rate >= 1:
        count = math.floor(rate)
        window = Limit(key, count, margin)
        if count == 1 or spread <= 1:
            return [window]
        burst = max(1, count // spread)
        return [window, Limit(key + ":spread", burst, margin * burst / count, from_end=False)]
    return [Limit(key, 1, margin / rate)]


Slots = list[tuple[str, str]]  # (key, slot id) of one reservation


@dataclass(frozen=True)
class Grant:
    """The answer to a reservation: with ``slots``, send after ``wait`` seconds (0: now); without, nothing
    was reserved and ``wait`` is when to ask again; ``bound`` is the key of the window that decided."""

    wait: float
    slots: Slots
    bound: str | None = None


class RateLimiter(Protocol):
    async def reserve(self, limits: Sequence[Limit], ahead: float = 0.0) -> Grant:
        """Reserve a slot in every window at once at the earliest time all allow, if that is at most
        ``ahead`` seconds away; otherwise reserve nothing."""

    async def sent(self, slots: Slots) -> None:
        """The send is over: its slots count from now. The provider received it somewhere between the
        reservation and now, so the next send, reserved a window after now, can never share its second."""

    async def pause(self, key: str, seconds: float) -> None:
        """The provider said ``retry_after``: nothing under ``key`` goes out for that long."""

    async def close(self) -> None: ...


async def try_acquire(limiter: RateLimiter, limits: Sequence[Limit]) -> tuple[float, Slots]:
    """A slot now: (0, the slots), or (seconds to wait before asking again, nothing reserved)."""
    grant = await limiter.reserve(limits, 0.0)
    # Reserved when there is nothing to wait for: limits counted from the reservation (``from_end=False``,
    # e.g. requests per IP) take slots without handing any back, so an empty ``slots`` is no refusal.
    return (0.0, grant.slots) if grant.wait <= 0 else (grant.wait, [])


@contextlib.asynccontextmanager
async def slot(limiter: RateLimiter, limits: Sequence[Limit]) -> AsyncIterator[None]:
    """Wait for a slot in every window, send inside the block; the slots count from its end."""
    async with Pacer(limiter).slot(limits, ()):
        yield


class Pacer:
    """Waiting for slots in one process. Waiters on one account ask the limiter one at a time, in order (a
    crowd woken together would race for one slot and all but one sleep again, late); the one asking holds
    the queue while the account's windows make it wait, and steps out of it while only its own chat's
    window does (one busy chat never holds up the others)."""

    def __init__(self, limiter: RateLimiter, ahead: float = 0.1) -> None:
        self.limiter = limiter
        self.ahead = ahead
        self._gates: dict[str, asyncio.Lock] = {}

    async def acquire(self, shared: Sequence[Limit], own: Sequence[Limit]) -> Grant:
        limits = [*shared, *own]
        own_keys = {lim.key for lim in own}
        gate_key = shared[0].key if shared else (own[0].key if own else "")
        while True:
            gate = self._gates.get(gate_key)
            if gate is None:
                if len(self._gates) > 1000:
                    self._gates = {k: g for k, g in self._gates.items() if g.locked()}
                gate = self._gates[gate_key] = asyncio.Lock()
            async with gate:
                while True:
                    grant = await self.limiter.reserve(limits, self.ahead)
                    if grant.slots or grant.bound in own_keys:
                        break
                    await asyncio.sleep(grant.wait)  # the account's windows: everyone waits for them
            if grant.slots:
                return grant
            await asyncio.sleep(grant.wait)  # only this chat is held back: out of the queue meanwhile

    @contextlib.asynccontextmanager
    async def slot(self, shared: Sequence[Limit], own: Sequence[Limit]) -> AsyncIterator[None]:
        """Wait for a slot in every window and for its time, send inside the block; the slots of windows
        counted from the end count from the block's end."""
        grant = await self.acquire(shared, own)
        try:
            if grant.wait > 0:
                await asyncio.sleep(grant.wait)
            yield
        finally:
            await self.limiter.sent(grant.slots)


class MemoryLimiter:
    """One process: the slots of each key (slot id -> time; a slot in flight has a time in the future)."""

    def __init__(self, max_keys: int = 50_000) -> None:
        self._slots: dict[str, dict[str, float]] = {}
        self._paused: dict[str, float] = {}
        self._seq = 0
        self.max_keys = max_keys

    async def try_acquire(self, limits: Sequence[Limit]) -> tuple[float, Slots]:
        return await try_acquire(self, limits)

    async def reserve(self, limits: Sequence[Limit], ahead: float = 0.0) -> Grant:
        now = time.monotonic()
        at, bound, in_flight = now, None, False
        for lim in limits:
            slots = self._slots.get(lim.key)
            earliest = now
            if slots:
                for sid in [sid for sid, t in slots.items() if t <= now - lim.window]:
                    del slots[sid]
                if len(slots) >= lim.count:
                    deciding = sorted(slots.values())[len(slots) - lim.count]
                    if lim.from_end and deciding > now:  # in flight: its end is not known yet
                        in_flight, earliest = True, now + POLL
                    else:
                        earliest = deciding + lim.window
            earliest = max(earliest, self._paused.get(lim.key, 0.0))
            if earliest > at:
                at, bound = earliest, lim.key
        if in_flight or at - now > ahead:
            return Grant(max(at - now - ahead, POLL if in_flight else 1e-6), [], bound)
        if len(self._slots) > self.max_keys:  # forget idle chats
            idle = [k for k, v in self._slots.items() if all(t <= now - 60 for t in v.values())]
            for key in idle[: self.max_keys // 5]:
                del self._slots[key]
        taken: Slots = []
        for lim in limits:
            self._seq += 1
            sid = str(self._seq)
            self._slots.setdefault(lim.key, {})[sid] = now + IN_FLIGHT if lim.from_end else at
            if lim.from_end:
                taken.append((lim.key, sid))
        return Grant(at - now, taken, bound)

    async def sent(self, slots: Slots) -> None:
        now = time.monotonic()
        for key, sid in slots:
            held = self._slots.get(key)
            if held is not None and sid in held:
                held[sid] = now

    async def pause(self, key: str, seconds: float) -> None:
        self._paused[key] = max(self._paused.get(key, 0.0), time.monotonic() + seconds)

    async def close(self) -> None:
        return None


# KEYS: one sorted set per window (members: slot ids, scores: Redis time in microseconds; a slot in flight
# scores its reservation plus IN_FLIGHT). ARGV: count, window (microseconds) and counted-from-end (1/0) per
# key in KEYS order, then how far ahead a slot may be reserved, the in-flight span and the poll interval
# (microseconds). Returns {microseconds to wait, index of the deciding key (0: none), slot ids...}.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local ahead = tonumber(ARGV[3 * n + 1])
local flight = tonumber(ARGV[3 * n + 2])
local poll = tonumber(ARGV[3 * n + 3])
local at, bound, in_flight = now, 0, false
for i, key in ipairs(KEYS) do
  local count = tonumber(ARGV[3 * i - 2])
  local window = tonumber(ARGV[3 * i - 1])
  local from_end = ARGV[3 * i] == '1'
  local earliest = now
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local have = redis.call('ZCARD', key)
  if have >= count then
    local nth = redis.call('ZRANGE', key, have - count, have - count, 'WITHSCORES')
    local deciding = tonumber(nth[2])
    if from_end and deciding > now then
      in_flight = true
      earliest = now + poll
    else
      earliest = deciding + window
    end
  end
  local paused = tonumber(redis.call('GET', key .. ':pause') or '0')
  if paused > earliest then earliest = paused end
  if earliest > at then
    at = earliest
    bound = i
  end
end
if in_flight or at - now > ahead then
  local wait = at - now - ahead
  if in_flight and wait < poll then wait = poll end
  if wait < 1 then wait = 1 end
  return {wait, bound}
end
local out = {at - now, bound}
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[3 * i - 1])
  local ttl = math.ceil((window + flight) / 1000) + 5000
  local member = tostring(redis.call('INCR', key .. ':seq'))
  if ARGV[3 * i] == '1' then
    redis.call('ZADD', key, now + flight, member)
  else
    redis.call('ZADD', key, at, member)
  end
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
        return await try_acquire(self, limits)

    async def reserve(self, limits: Sequence[Limit], ahead: float = 0.0) -> Grant:
        keys = [self.prefix + lim.key for lim in limits]
        args: list[int] = []
        for lim in limits:
            args += [lim.count, round(lim.window * 1_000_000), 1 if lim.from_end else 0]
        args += [round(ahead * 1_000_000), round(IN_FLIGHT * 1_000_000), round(POLL * 1_000_000)]
        answer = await self._acquire(keys=keys, args=args)
        wait, index = int(answer[0]) / 1_000_000, int(answer[1])
        bound = limits[index - 1].key if index > 0 else None
        if len(answer) == 2:
            return Grant(wait, [], bound)
        members = [m.decode() if isinstance(m, bytes) else str(m) for m in answer[2:]]
        return Grant(
            wait,
            [(k, m) for k, m, lim in zip(keys, members, limits, strict=True) if lim.from_end],
            bound,
        )

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
