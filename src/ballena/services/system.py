"""The engine as a whole: facts about the host and the engine for ``info`` and ``version``,
and what everything takes on disk (``system df``). Read models only: the API renders them."""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ballena.builder.cache import CacheRecord
from ballena.core.containers import Container
from ballena.core.images import Image
from ballena.core.volumes import Volume
from ballena.services.containers import ContainerQueries, RuntimeInfo
from ballena.services.volumes import VolumeService
from ballena.stores.images import ImageStore

__all__ = ["DiskUsage", "EngineSettings", "EngineState", "HostFacts", "SystemService", "host_facts"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HostFacts:
    kernel: str
    operating_system: str
    os_version: str
    architecture: str
    ncpu: int
    mem_total: int
    hostname: str
    cgroup_version: str
    apparmor: bool
    seccomp: bool


def _os_release() -> tuple[str, str]:
    try:
        data = Path("/etc/os-release").read_text()
    except OSError:
        return "Linux", ""
    fields = dict(line.split("=", 1) for line in data.splitlines() if "=" in line)
    name = fields.get("PRETTY_NAME", "Linux").strip('"')
    version = fields.get("VERSION_ID", "").strip('"')
    return name, version


def cgroup_version() -> str:
    return "2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1"


def host_facts() -> HostFacts:
    name, version = _os_release()
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        mem = 0
    apparmor = (
        Path("/sys/kernel/security/apparmor").exists() or Path("/sys/module/apparmor/parameters/enabled").exists()
    )
    return HostFacts(
        kernel=platform.release(),
        operating_system=name,
        os_version=version,
        architecture=platform.machine(),
        ncpu=os.cpu_count() or 1,
        mem_total=mem,
        hostname=socket.gethostname(),
        cgroup_version=cgroup_version(),
        apparmor=apparmor,
        seccomp=Path("/proc/sys/kernel/seccomp").exists() or "Seccomp:" in Path("/proc/self/status").read_text(),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineSettings:
    """What ``info`` reports of the daemon's configuration."""

    engine_id: str
    data_root: Path
    debug: bool = False
    live_restore: bool = True
    log_driver: str = "json-file"
    default_runtime: str = "ballena"
    runtimes: Mapping[str, RuntimeInfo] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    registry_mirrors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineState:
    """What ``info`` counts now."""

    containers: Mapping[str, int]  # total, running, paused, stopped
    images: int
    open_files: int
    event_listeners: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageUsage:
    image: Image
    containers: int
    shared_size: int  # bytes of its layers that other images use too


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskUsage:
    layers_size: int
    images: list[ImageUsage]
    containers: list[Container]
    volumes: list[tuple[Volume, dict[str, int]]]
    build_cache: list[CacheRecord]


class SystemService:
    def __init__(
        self,
        *,
        facts: HostFacts,
        settings: EngineSettings,
        queries: ContainerQueries,
        images: ImageStore,
        volumes: VolumeService,
        cache_usage: Callable[[], list[CacheRecord]],
        event_listeners: Callable[[], int],
    ) -> None:
        self.facts = facts
        self.settings = settings
        self.queries = queries
        self.images = images
        self.volumes = volumes
        self.cache_usage = cache_usage
        self.event_listeners = event_listeners

    def state(self) -> EngineState:
        return EngineState(
            containers=self.queries.counts(),
            images=len(self.images.ids()),
            open_files=len(os.listdir("/proc/self/fd")),
            event_listeners=self.event_listeners(),
        )

    def disk_usage(self) -> DiskUsage:
        """Every image, container, volume and cache entry with honest sizes (blocking: walks
        writable layers and volumes)."""
        imgs = self.images.all()
        users = self.queries.image_counts()
        layer_users: dict[str, int] = {}
        for img in imgs:
            for chain in img.chain_ids:
                layer_users[chain] = layer_users.get(chain, 0) + 1
        layer_sizes = {chain: (layer.size if (layer := self.images.layer(chain)) else 0) for chain in layer_users}
        return DiskUsage(
            layers_size=sum(layer_sizes.values()),
            images=[
                ImageUsage(
                    image=img,
                    containers=users.get(img.id, 0),
                    shared_size=sum(layer_sizes[c] for c in img.chain_ids if layer_users[c] > 1),
                )
                for img in imgs
            ],
            containers=self.queries.all(),
            volumes=[(v, self.volumes.usage(v)) for v in self.volumes.store.all()],
            build_cache=self.cache_usage(),
        )
