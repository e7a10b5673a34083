"""Volumes: named directories that outlive containers (the ``local`` driver)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


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
class MountPoint:
    """One mount of a container, as ``docker inspect``'s ``Mounts`` shows it."""

    type: str  # volume | bind | tmpfs
    destination: str
    source: str = ""
    name: str = ""
    driver: str = ""
    mode: str = ""
    rw: bool = True
    propagation: str = ""
    tmpfs_options: Mapping[str, int] = field(default_factory=dict)
    copy_image_data: bool = True

    def to_wire(self) -> dict[str, object]:
        out: dict[str, object] = {"Type": self.type}
        if self.name:
            out["Name"] = self.name
        out.update({"Source": self.source, "Destination": self.destination})
        if self.type == "volume":
            out["Driver"] = self.driver or "local"
        out.update({"Mode": self.mode, "RW": self.rw, "Propagation": self.propagation})
        return out

    @classmethod
    def from_wire(cls, d: Mapping[str, object]) -> MountPoint:
        return cls(
            type=str(d.get("Type", "volume")),
            destination=str(d.get("Destination", "")),
            source=str(d.get("Source", "")),
            name=str(d.get("Name", "") or ""),
            driver=str(d.get("Driver", "") or ""),
            mode=str(d.get("Mode", "") or ""),
            rw=bool(d.get("RW", True)),
            propagation=str(d.get("Propagation", "") or ""),
            tmpfs_options=dict(d.get("_Tmpfs") or {}),  # type: ignore[call-overload]
            copy_image_data=bool(d.get("_Copy", True)),
        )
