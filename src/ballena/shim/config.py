"""What a monitor (or a file helper) is told when it is forked: one frozen record each, built by
the daemon, sent to the zygote as one JSON frame, read back by the child. Both sides import
these classes, so a field is named once (``records`` does the JSON).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ballena.pkg import records

__all__ = [
    "FileHelperConfig",
    "HealthSettings",
    "LogSettings",
    "MonitorConfig",
    "OciMount",
    "RootfsMount",
    "RuntimeSettings",
    "from_spawn_request",
    "spawn_request",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeSettings:
    """``native`` (our runtime, in the monitor) or a runc-compatible binary."""

    name: str = "native"
    path: str = ""
    args: tuple[str, ...] = ()
    root: str = ""  # runc --root

    @property
    def native(self) -> bool:
        return self.name == "native"


@dataclass(frozen=True, slots=True, kw_only=True)
class RootfsMount:
    """One mount that makes the root filesystem (the snapshotter's description of it)."""

    type: str
    source: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class OciMount:
    """An OCI spec mount (``destination``, ``type``, ``source``, ``options``)."""

    destination: str
    type: str
    source: str
    options: tuple[str, ...] = ()

    def spec(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "type": self.type,
            "source": self.source,
            "options": list(self.options),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class LogSettings:
    """The json-file log: where, and when to rotate (0 = never)."""

    path: str
    max_size: int = 0
    max_file: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthSettings:
    """A container's healthcheck, as the monitor runs it (durations in nanoseconds)."""

    test: tuple[str, ...]  # the command, already in exec form
    interval: int
    timeout: int
    start_period: int
    start_interval: int
    retries: int
    state_file: str  # where the monitor keeps State.Health, for a daemon that was away


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorConfig:
    """Everything one container's monitor needs; nothing is looked up after the fork."""

    KIND: ClassVar[str] = "monitor"
    id: str
    bundle: str  # the OCI bundle (config.json, rootfs/)
    state_dir: str  # monitor.sock, runc's files
    exit_file: str  # where the exit status is made durable
    cgroup_path: str  # the monitor creates it, sets its limits, freezes and removes it
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)
    rootfs_mounts: tuple[RootfsMount, ...] = ()
    tty: bool = False
    open_stdin: bool = False
    attach_stdout: bool = False  # the spawning connection gets output from the start
    attach_stderr: bool = False
    console_size: tuple[int, ...] | None = None  # (height, width)
    log: LogSettings | None = None
    autostart: bool = True  # False: wait for Start after Created (the daemon wires the network)
    seccomp_bpf: bytes | None = None  # the compiled filter (compiled once per profile by the daemon)
    spec: dict[str, Any] | None = None  # the OCI spec less its seccomp section (native runtime)
    health: HealthSettings | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FileHelperConfig:
    """A helper that works on a container's files from inside it (``shim.fsops``): it joins the
    running container's mount namespace (``pid``), or mounts the root filesystem privately
    at ``mountpoint`` and chroots there."""

    KIND: ClassVar[str] = "fsop"
    id: str
    op: str  # stat | get | put | export
    path: str = ""
    pid: int = 0
    mountpoint: str = ""
    rootfs_mounts: tuple[RootfsMount, ...] = ()
    mounts: tuple[OciMount, ...] = ()
    no_overwrite_dir_non_dir: bool = False
    copy_uid_gid: bool = False
    readonly_root: bool = False
    # put: "" when the daemon relays the archive in stdin frames; else the framing of the
    # request body whose connection the daemon passes first (``pkg.httpbody``).
    body_framing: str = ""
    # get: write the tar on the client's connection the daemon passes first (close-delimited
    # answer body), once told to go, instead of sending it as frames.
    to_client: bool = False


_KINDS: dict[str, type[Any]] = {MonitorConfig.KIND: MonitorConfig, FileHelperConfig.KIND: FileHelperConfig}


def spawn_request(cfg: MonitorConfig | FileHelperConfig) -> dict[str, Any]:
    """The zygote's request for a child running ``cfg``."""
    return {"kind": cfg.KIND, "config": records.encode(cfg)}


def from_spawn_request(obj: dict[str, Any]) -> MonitorConfig | FileHelperConfig:
    """The config in a zygote request. Raises records.DecodeError (InvalidArgument)."""
    cls = _KINDS.get(str(obj.get("kind")))
    if cls is None:
        raise records.DecodeError(f"unknown child kind {obj.get('kind')!r}")
    return records.decode(cls, obj.get("config"))  # type: ignore[no-any-return]
