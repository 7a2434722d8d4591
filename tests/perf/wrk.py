"""Runs `wrk` (the C load generator, Debian package `wrk`) with one of the Lua scripts in `lua/` and reads
the figures its `done()` hook prints. Every HTTP benchmark in this directory goes through here, so that the
load generator never competes with the server for the interpreter (a Python client eats a core of two)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).resolve().parent / "lua"


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int  # connect/read/write/timeout errors and non-2xx/3xx answers
    p50_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> int:
        return self.requests - self.errors


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk (scripts/test-deps.sh does it)")
    return found


def run_wrk(
    url: str,
    script: str,
    *,
    connections: int = 32,
    seconds: float = 15.0,
    env: dict[str, str] | None = None,
    timeout_s: int = 10,
) -> WrkResult:
    """``script`` is a file name in ``lua/``; ``env`` reaches the script through ``os.getenv``."""
    args = [
        wrk_binary(),
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(LUA / script),
        url,
    ]
    proc = subprocess.run(
        args, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False
    )
    for line in proc.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return parse(line[len("WRKJSON ") :])
    raise RuntimeError(f"wrk printed no figures (exit {proc.returncode}): {proc.stdout} {proc.stderr}")


def parse(line: str) -> WrkResult:
    d = json.loads(line)
    errors = d["connect"] + d["read"] + d["write"] + d["status"] + d["timeout"]
    return WrkResult(
        requests=int(d["requests"]),
        seconds=d["duration_us"] / 1e6,
        errors=int(errors),
        p50_ms=d["p50_us"] / 1000,
        p99_ms=d["p99_us"] / 1000,
        max_ms=d["max_us"] / 1000,
        mean_ms=d["mean_us"] / 1000,
    )
