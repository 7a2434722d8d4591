"""Runs `wrk` (the C load generator, Debian package `wrk`) with one of the Lua scripts in `lua/` and reads
the figures its `done()` hook prints. Every HTTP benchmark in this directory goes through here, so that the
load generator never competes with the server for the interpreter (a Python client eats a core of two)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
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
    p95_ms: float = 0.0

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


def wrk_args(url: str, script: str, connections: int, seconds: float, timeout_s: int) -> list[str]:
    return [
        wrk_binary(),
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(LUA / script),
        url,
    ]


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
    args = wrk_args(url, script, connections, seconds, timeout_s)
    proc = subprocess.run(
        args, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False
    )
    return figures(proc.stdout, proc.stderr, proc.returncode)


def run_wrk_until(
    url: str,
    script: str,
    done: Callable[[], bool],
    *,
    connections: int = 32,
    env: dict[str, str] | None = None,
    timeout_s: int = 10,
    limit_s: float = 3600,
    poll_s: float = 0.05,
) -> WrkResult:
    """``wrk`` until ``done()`` says so (polled every ``poll_s``), then SIGINT: wrk stops and reports."""
    args = wrk_args(url, script, connections, limit_s, timeout_s)
    proc = subprocess.Popen(
        args, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        while proc.poll() is None and not done():
            time.sleep(poll_s)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return figures(out, err, proc.returncode)


def figures(stdout: str, stderr: str, code: int | None) -> WrkResult:
    for line in stdout.splitlines():
        if line.startswith("WRKJSON "):
            return parse(line[len("WRKJSON ") :])
    raise RuntimeError(f"wrk printed no figures (exit {code}): {stdout} {stderr}")


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
        p95_ms=d.get("p95_us", 0) / 1000,
    )
