"""Volumes: named directories that outlive containers (the ``local`` driver)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from ballena.pkg.records import tag


@dataclass(frozen=True, slots=True, kw_only=True)
class Volume:
    name: str
    driver: str = "local"
    mountpoint: str
    created_ns: int
    labels: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    anonymous: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeCreate:
    """The body of ``POST /volumes/create`` (Docker's ``volume.CreateOptions``)."""

    __json_case__: ClassVar[str] = "pascal"
    __go_name__: ClassVar[str] = "CreateOptions"
    name: str = tag(default="")
    driver: str = tag(default="")
    driver_opts: Mapping[str, str] | None = tag(default=None)
    labels: Mapping[str, str] | None = tag(default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class MountPoint:
    """One mount of a container, as ``docker inspect``'s ``Mounts`` shows it (Docker's
    ``types.MountPoint``). ``tmpfs_options`` and ``copy_image_data`` are ours."""

    __json_case__: ClassVar[str] = "pascal"
    type: str = tag(default="volume", omitempty=True)  # volume | bind | tmpfs
    name: str = tag(default="", omitempty=True)
    source: str = tag(default="")
    destination: str = tag(default="")
    driver: str = tag(default="", omitempty=True)
    mode: str = tag(default="")
    rw: bool = tag("RW", default=True)
    propagation: str = tag(default="")
    tmpfs_options: Mapping[str, int] = tag("_Tmpfs", factory=dict, private=True)
    copy_image_data: bool = tag("_Copy", default=True, private=True)  # a new volume gets the image's files
    subpath: str = tag("_Subpath", default="", private=True)  # --mount ...,volume-subpath=: a directory in the volume
