"""``inbox serve --processes N``: uvicorn runs N web processes; the channel workers run beside them as one
``inbox worker`` child, restarted if it dies. Prometheus counters of all the processes are summed through a
shared multiprocess directory."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

log = logging.getLogger(__name__)


def multiprocess_metrics_dir() -> str:
    """A fresh directory for prometheus-client's multiprocess mode, inherited by every child process."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        shutil.rmtree(path, ignore_errors=True)
    else:
        path = tempfile.mkdtemp(prefix="inbox-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    os.makedirs(path, exist_ok=True)
    return path


class WorkerChild:
    """``inbox worker`` as a child process, restarted (with a pause) whenever it exits."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-child", daemon=True)

    def start(self) -> WorkerChild:
        self._spawn()
        self._thread.start()
        return self

    def _spawn(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "inbox.cli", "worker"])

    def _watch(self) -> None:
        while not self._stop.is_set():
            if self.proc is not None and self.proc.poll() is not None and not self._stop.is_set():
                log.error("worker process exited with %s; restarting", self.proc.returncode)
                time.sleep(1.0)
                if not self._stop.is_set():
                    self._spawn()
            self._stop.wait(0.5)

    def stop(self) -> None:
        self._stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
