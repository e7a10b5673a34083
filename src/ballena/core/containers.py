"""Containers: a configuration (``ContainerConfig`` and ``HostConfig``, typed at the API
boundary), a writable snapshot on an image, and a state that changes over time.

State machine: created -> running <-> paused; running -> exited (or restarting -> running);
any -> removing -> (gone). A container is "running" while its monitor reports its first
process alive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from ballena.core.containerconfig import ContainerConfig, EndpointSettings, HostConfig, PortBinding
from ballena.core.volumes import MountPoint
from ballena.pkg.records import tag


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthResult:
    """One probe, as ``State.Health.Log`` shows it."""

    __json_case__: ClassVar[str] = "pascal"
    start: str = tag(default="")
    end: str = tag(default="")
    exit_code: int = tag(default=0, go="int")
    output: str = tag(default="")


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    """Docker's ``State.Health``: ``starting``, ``healthy`` or ``unhealthy``, the failures in a
    row, the last five probes. Kept by the container's monitor, mirrored here."""

    __json_case__: ClassVar[str] = "pascal"
    status: str = tag(default="starting")
    failing_streak: int = tag(default=0, go="int")
    log: tuple[HealthResult, ...] = tag(default=())


@dataclass(frozen=True, slots=True, kw_only=True)
class State:
    status: str = "created"  # created running paused restarting removing exited dead
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = False
    started_at_ns: int = 0
    finished_at_ns: int = 0
    health: Health | None = None  # with a healthcheck only

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "restarting")

    @property
    def paused(self) -> bool:
        return self.status == "paused"


@dataclass(frozen=True, slots=True, kw_only=True)
class Container:
    id: str
    name: str  # without the leading "/"
    created_ns: int
    image: str  # as the user gave it (Config.Image)
    image_id: str
    path: str
    args: tuple[str, ...]
    config: ContainerConfig  # merged with the image's
    host_config: HostConfig  # with Docker's defaults
    state: State = field(default_factory=State)
    restart_count: int = 0
    manually_stopped: bool = False
    has_been_started: bool = False
    runtime: str = "ballena"
    exec_ids: tuple[str, ...] = ()
    networks: Mapping[str, EndpointSettings] = field(default_factory=dict)  # by network name
    ports: Mapping[str, tuple[PortBinding, ...]] = field(default_factory=dict)  # published, while running
    mounts: tuple[MountPoint, ...] = ()
    platform: str = "linux"
    build_step: bool = False  # a RUN step's container: only a live build owns it

    def with_state(self, **changes: Any) -> Container:
        return replace(self, state=replace(self.state, **changes))

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def tty(self) -> bool:
        return self.config.tty

    @property
    def labels(self) -> Mapping[str, str]:
        return self.config.labels or {}


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecConfig:
    id: str
    container_id: str
    cmd: tuple[str, ...]
    env: tuple[str, ...] = ()
    user: str = ""
    working_dir: str = ""
    tty: bool = False
    privileged: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    detach_keys: str = ""
    console_size: tuple[int, int] | None = None


@dataclass(slots=True, kw_only=True)
class ExecState:
    """Mutable: an exec's life is short and lives only in the daemon's memory, as Docker's."""

    config: ExecConfig
    running: bool = False
    pid: int = 0
    exit_code: int | None = None
    started: bool = False
    session: Any = None  # the live stream while it runs (services.containers.ExecSession)
