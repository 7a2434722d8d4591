"""A small HTTP/1.1 keep-alive load generator (asyncio streams), the same for every target in a run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    requests: int
    seconds: float
    errors: int
    statuses: dict[int, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def _worker(
    host: str,
    port: int,
    path: str,
    headers: dict[str, str],
    bodies: Callable[[int], bytes],
    counter: list[int],
    total: int,
    statuses: dict[int, int],
) -> int:
    errors = 0
    reader, writer = await asyncio.open_connection(host, port)
    head_extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    try:
        while True:
            i = counter[0]
            if i >= total:
                return errors
            counter[0] += 1
            body = bodies(i)
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n{head_extra}\r\n".encode()
                + body
            )
            await writer.drain()
            status_line = await reader.readline()
            status = int(status_line.split()[1])
            statuses[status] = statuses.get(status, 0) + 1
            length = 0
            chunked = False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value.strip())
                if name.lower() == "transfer-encoding" and "chunked" in value:
                    chunked = True
            if chunked:
                while True:
                    size = int((await reader.readline()).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            elif length:
                await reader.readexactly(length)
            if status >= 300:
                errors += 1
    finally:
        writer.close()


async def post_many(
    url: str,
    total: int,
    bodies: Callable[[int], bytes],
    *,
    concurrency: int = 32,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    parts = urlsplit(url)
    counter = [0]
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    errors = await asyncio.gather(
        *(
            _worker(
                parts.hostname or "127.0.0.1",
                parts.port or 80,
                parts.path,
                headers or {},
                bodies,
                counter,
                total,
                statuses,
            )
            for _ in range(concurrency)
        )
    )
    return LoadResult(total, time.perf_counter() - started, sum(errors), statuses)
