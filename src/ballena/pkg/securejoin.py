"""Resolve a path inside a root directory as if that directory were ``/``.

A container's filesystem is untrusted: ``/etc/hosts`` may be a symlink to ``/proc/1/...`` or
``../../../host``. Every symlink is followed relative to the root and ``..`` never climbs above
it, so a bind mount or a copy aimed at the result stays inside the container (the same contract
as github.com/cyphar/filepath-securejoin).
"""

from __future__ import annotations

import os
import stat

MAX_SYMLINKS = 255  # a loop guard; Linux gives up at 40, being more lenient costs nothing


def secure_join(root: str, unsafe: str) -> str:
    """The host path for ``unsafe`` inside ``root``; missing components are kept as they are."""
    root = os.path.abspath(root)
    parts = [p for p in unsafe.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_SYMLINKS:
                raise OSError(40, f"too many levels of symbolic links resolving {unsafe}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)
