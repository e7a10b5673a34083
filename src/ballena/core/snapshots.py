"""Snapshots: directories that overlayfs stacks into a root filesystem.

Vocabulary: a snapshot's *key* names it; a *committed* snapshot is a read-only layer (its key
is the layer's chain ID); an *active* snapshot is a writable upper directory on a *parent*. A
snapshotter returns mount *descriptions* and never mounts: the runtime or the caller does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class Mount:
    """A mount(2) call described: ``mount -t type -o options source target``."""

    type: str
    source: str
    options: tuple[str, ...] = ()

    def to_oci(self, destination: str) -> dict[str, object]:
        return {"destination": destination, "type": self.type, "source": self.source, "options": list(self.options)}


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotInfo:
    key: str
    id: int
    parent: str | None
    kind: str  # "committed" | "active"


class Snapshotter(Protocol):
    def prepare(self, key: str, parent: str | None) -> list[Mount]: ...  # AlreadyExists
    def commit(self, name: str, key: str) -> None: ...  # NotFound, AlreadyExists
    def mounts(self, key: str) -> list[Mount]: ...  # NotFound
    def remove(self, key: str) -> None: ...  # NotFound, Conflict (has children)
    def stat(self, key: str) -> SnapshotInfo: ...  # NotFound
    def upper_dir(self, key: str) -> Path: ...  # NotFound
    def lower_dirs(self, key: str) -> list[Path]: ...  # NotFound; top first
    def usage(self, key: str) -> int: ...  # NotFound
