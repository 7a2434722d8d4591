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


def summarize(raw: Path, top: int = 25) -> str:
    """Inclusive share of the samples per function (``file:function``), highest first."""
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        seen: set[str] = set()
        for frame in stack.split(";"):
            name = (
                frame.split(" (", 1)[0] + " " + frame.split(" (", 1)[1].split(":")[0]
                if " (" in frame
                else frame
            )
            if name not in seen:
                seen.add(name)
                inclusive[name] += count
    lines = [f"{total} samples; inclusive share per function:"]
    for name, count in inclusive.most_common(top):
        lines.append(f"  {100 * count / max(total, 1):5.1f}%  {name}")
    return "\n".join(lines)
