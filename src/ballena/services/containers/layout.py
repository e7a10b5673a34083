"""Where a container's things live on the host, and the daemon's settings for containers:
which runtimes may run them, their DNS and log defaults.

``<data-root>/containers/<id>/`` holds the record, the files bind-mounted into the container
(hostname, hosts, resolv.conf) and the json-file log (``stores.containers``); the runtime's
state directory ``<exec-root>/containers/<id>/`` holds the OCI bundle, the rootfs mount point
and the monitor's socket; the cgroup is ``<cgroup-parent>/<id>`` in every hierarchy.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ballena.core.containers import Container

__all__ = ["DnsDefaults", "HostDefaults", "LogDefaults", "Paths", "RuntimeInfo"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Paths:
    data_root: Path
    exec_root: Path
    cgroup_parent: str = "/ballena"

    @property
    def containers(self) -> Path:
        return self.data_root / "containers"

    @property
    def state_root(self) -> Path:
        return self.exec_root / "containers"

    def state_dir(self, cid: str) -> Path:
        return self.state_root / cid

    def runc_root(self) -> Path:
        return self.exec_root / "runc"

    def helper_mountpoint(self, cid: str, stamp: int) -> Path:
        """A private mount point for a file helper working on a stopped container."""
        return self.exec_root / "fsop" / f"{cid}-{stamp}"

    def cgroup(self, c: Container) -> str:
        """The container's cgroup: its HostConfig.CgroupParent or the daemon's, plus its ID.
        Cleaned as runc cleans it (``..`` never climbs above a hierarchy's root), so a client's
        CgroupParent cannot name a directory outside the cgroup filesystems."""
        parent = c.host_config.resources.cgroup_parent or self.cgroup_parent
        return posixpath.normpath(posixpath.join("/", parent, c.id))


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeInfo:
    """A runtime a container may name (``--runtime``): ours (``path="native"``) or a
    runc-compatible binary."""

    name: str
    path: str
    args: tuple[str, ...] = ()

    @property
    def native(self) -> bool:
        return self.path == "native"


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsDefaults:
    """The daemon's ``--dns``, ``--dns-search`` and ``--dns-opt``."""

    servers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LogDefaults:
    """The daemon's ``--log-driver`` and ``--log-opt``."""

    driver: str = "json-file"
    options: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HostDefaults:
    """What the daemon records in a new container's HostConfig where the client left a field
    empty (dockerd's setHostConfigDefaults), so that ``docker inspect`` shows it."""

    runtimes: Mapping[str, RuntimeInfo]
    default_runtime: str = "ballena"
    log: LogDefaults = LogDefaults()
    cgroupns_mode: str = "host"  # "private" on a cgroup v2 host
    shm_size: int = 64 << 20
    ipc_mode: str = "private"
