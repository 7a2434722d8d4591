"""A peer product in a venv of its own (it pins older libraries than ours), installed on first use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def peer_python(venv: Path, requirement: str, imports: str, label: str) -> tuple[Path | None, str]:
    """The venv's interpreter with ``imports`` importable (pip-installing ``requirement`` on demand), or
    None and the reason."""
    python = venv / "bin" / "python"
    if python.exists() and _imports(python, imports):
        return python, ""
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", requirement],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        return None, f"could not install {label} into {venv}: {str(detail).strip()[-500:]}"
    if not _imports(python, imports):
        return None, f"{label} does not import in {venv}"
    return python, ""


def _imports(python: Path, imports: str) -> bool:
    return subprocess.run([str(python), "-c", f"import {imports}"], capture_output=True).returncode == 0
