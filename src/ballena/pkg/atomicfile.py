"""Crash-safe file writes: write a temporary sibling, fsync it, rename it over the target.

A reader sees either the old content or the new, never a torn file, whenever the process dies.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_bytes(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644, durable: bool = True) -> None:
    """Replace ``path`` atomically: readers see the old content or the new, never a mix.

    ``durable`` also survives a power cut (fsync of the file and its directory); files that are
    regenerated on every container start (bundles, /etc/hosts) skip that: a killed daemon still
    leaves them whole, and they are rewritten anyway.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if durable:
        fsync_dir(path.parent)


def write_json(path: str | os.PathLike[str], obj: Any, *, mode: int = 0o644) -> None:
    write_bytes(path, json.dumps(obj, separators=(",", ":")).encode(), mode=mode)


def read_json(path: str | os.PathLike[str]) -> Any:
    with open(path, "rb") as f:
        return json.loads(f.read())


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename or a new directory entry durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
