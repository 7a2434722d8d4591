"""Attachment storage under INBOX_DATA_DIR: content-addressed files, safe names kept in the database."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

_UNSAFE = re.compile(r"[^\w.\- ()\[\]]+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class StoredFile:
    path: str  # relative to the data dir
    sha256: str
    size: int


def safe_filename(name: str, default: str = "file") -> str:
    """A display/download name without path parts or control characters (Cyrillic kept)."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip(" ._")
    return (name or default)[:200]


def store_bytes(data_dir: Path, data: bytes) -> StoredFile:
    digest = hashlib.sha256(data).hexdigest()
    rel = Path("attachments") / digest[:2] / digest[2:4] / digest
    target = data_dir / rel
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(target)
    return StoredFile(path=str(rel), sha256=digest, size=len(data))


def resolve(data_dir: Path, rel: str) -> Path:
    """The absolute path of a stored file; refuses anything outside the data dir."""
    path = (data_dir / rel).resolve()
    if data_dir.resolve() not in path.parents:
        raise ValueError("attachment path escapes the data directory")
    return path
