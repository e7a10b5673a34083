"""Facts about the host and the engine for ``info`` and ``version``."""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import dataclass
from pathlib import Path


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
