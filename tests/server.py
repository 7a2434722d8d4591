"""Run the real app for tests: uvicorn in a thread (same process) or `inbox serve` as a child process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import httpx
import uvicorn

from inbox.settings import Settings
from tests.services import free_port


def wait_http(url: str, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until `url` answers below 500; give up early if `proc`, the server, has exited."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise TimeoutError(f"{url}: the server exited with code {proc.returncode}")
        try:
            # A loaded machine may take seconds over the first request; a short timeout would only retry it.
            if httpx.get(url, timeout=5).status_code < 500:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer in {timeout}s: {last}")


@contextlib.contextmanager
def threaded_server(settings: Settings, *, run_workers: bool = True) -> Iterator[str]:
    """The app on uvicorn in a background thread; yields its base URL."""
    from inbox.web.app import create_app

    port = free_port()
    app = create_app(settings, run_workers=run_workers)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        proxy_headers=False,
        # Live-update streams stay open until the browser goes; without a bound, shutdown waits for them.
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz")
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=20)
        if thread.is_alive():
            # A server that cannot stop keeps its SQLite write lock and fails the next test's set-up;
            # fail here instead, with where it is stuck.
            frame = sys._current_frames().get(thread.ident or 0)
            stack = "".join(traceback.format_stack(frame)) if frame else "(no frame)"
            raise RuntimeError(f"the test server did not stop within 40 s; its thread is at:\n{stack}")


class ServeProcess:
    """`inbox serve` as a child process, so that tests can kill it like a crash would."""

    def __init__(self, env: dict[str, str], cwd: Path, port: int | None = None) -> None:
        self.env = {**os.environ, **env}
        self.cwd = cwd
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = cwd / f"serve-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServeProcess:
        handle = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inbox.cli", "serve", "--port", str(self.port)],
            env=self.env,
            cwd=self.cwd,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_http(self.url + "/healthz", timeout=60, proc=self.proc)
        except TimeoutError:
            self.kill()
            raise RuntimeError("inbox serve did not start:\n" + self.log.read_text()[-3000:]) from None
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks run, exactly like a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inbox.cli", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
