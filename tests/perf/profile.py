"""`py-spy record -f raw` on a live server process, and a short summary of where its time went."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path


def py_spy() -> str:
    here = Path(sys.executable).parent / "py-spy"
    found = str(here) if here.exists() else shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is not installed: pip install py-spy (it is in the test extra)")
    return found


def start_profile(pid: int, out: Path, seconds: float) -> subprocess.Popen[bytes]:
    """Samples every thread of ``pid`` (the aiosqlite worker thread included) for ``seconds``."""
    return subprocess.Popen(
        [
            py_spy(),
            "record",
            "--pid",
            str(pid),
            "-f",
            "raw",
            "-o",
            str(out),
            "-d",
            str(int(seconds)),
            "--threads",
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _name(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func file.py-path``, without the line (one entry per function)."""
    if " (" not in frame:
        return frame
    func, _, where = frame.partition(" (")
    return f"{func} {where.split(':')[0]}"


def summarize(raw: Path, top: int = 25) -> str:
    """Where the samples were: per function, the share of samples it was on the stack (inclusive, without
    the frames every sample shares) and the share it was the innermost Python frame (self)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_name(f) for f in stack.split(";")]
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count

    def share(n: int) -> str:
        return f"{100 * n / max(total, 1):5.1f}%"

    lines = [f"{total} samples; inclusive share per function (frames on nearly every sample left out):"]
    lines += [f"  {share(c)}  {name}" for name, c in inclusive.most_common() if c < 0.6 * total][:top]
    lines.append("self share (innermost frame):")
    lines += [f"  {share(c)}  {name}" for name, c in own.most_common(top)]
    return "\n".join(lines)
