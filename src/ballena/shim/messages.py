"""The task protocol's messages, typed: requests from the daemon to a container's monitor and
the events it answers with. Each travels as one JSON frame (``protocol``): a request as
``{"op": <name>, ...fields}``, an event as ``{"event": <name>, ...fields}``.

A daemon has one *control* connection per running container (made with the monitor, or by
``Hello`` after a restart): it carries output frames, stdin, fire-and-forget requests (kill,
resize, attach) and the life events (created, started, failed, exited). Requests that want an
answer (state, update, pause, resume, health) go over a connection of their own, answered by
exactly one event. An ``Exec`` turns its connection into that exec's streams.

The monitor dispatches with ``match`` on these classes, the daemon's ``Task`` builds them: no
operation is named by a bare string anywhere else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "Attach",
    "Cancel",
    "CloseStdin",
    "Created",
    "Event",
    "Exec",
    "ExecExited",
    "ExecFailed",
    "ExecStarted",
    "Exited",
    "Failed",
    "GetHealth",
    "GetState",
    "HealthReport",
    "Hello",
    "Kill",
    "Pause",
    "Reply",
    "Request",
    "Resize",
    "Resume",
    "Start",
    "Started",
    "State",
    "Update",
    "decode_event",
    "decode_request",
    "encode",
]


class Request:
    """A message from the daemon to a monitor."""

    __slots__ = ()
    OP: ClassVar[str]


class Event:
    """A message from a monitor to the daemon."""

    __slots__ = ()
    EVENT: ClassVar[str]


# -- requests --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello(Request):
    """Open a connection: ``control`` (output, life events) or ``request``. Answered by State."""

    OP: ClassVar[str] = "hello"
    role: str = "control"


@dataclass(frozen=True, slots=True)
class Start(Request):
    """Let a container created with ``autostart=False`` run (the daemon has wired its network)."""

    OP: ClassVar[str] = "start"


@dataclass(frozen=True, slots=True)
class Cancel(Request):
    """Give up a container created with ``autostart=False``: it is removed, never run."""

    OP: ClassVar[str] = "cancel"


@dataclass(frozen=True, slots=True)
class Attach(Request):
    """Which of the container's streams this connection receives (output) and sends (stdin)."""

    OP: ClassVar[str] = "attach"
    stdout: bool = False
    stderr: bool = False
    stdin: bool = False


@dataclass(frozen=True, slots=True)
class CloseStdin(Request):
    """End of the input: the container's (or this exec's) stdin is closed."""

    OP: ClassVar[str] = "close_stdin"


@dataclass(frozen=True, slots=True)
class Kill(Request):
    """Deliver ``signal`` to the first process, or with ``all`` to every process of the container."""

    OP: ClassVar[str] = "kill"
    signal: int = 9
    all: bool = False


@dataclass(frozen=True, slots=True)
class Resize(Request):
    """Set the terminal size of the container (or, on an exec connection, of the exec)."""

    OP: ClassVar[str] = "resize"
    height: int = 24
    width: int = 80


@dataclass(frozen=True, slots=True)
class Exec(Request):
    """Run ``process`` (an OCI process) in the container; this connection carries its streams."""

    OP: ClassVar[str] = "exec"
    id: str = ""
    process: dict[str, Any] = dataclasses.field(default_factory=dict)
    stdin: bool = False
    console_size: list[int] | None = None


@dataclass(frozen=True, slots=True)
class GetState(Request):
    """Answered by State."""

    OP: ClassVar[str] = "state"


@dataclass(frozen=True, slots=True)
class Update(Request):
    """Write new limits (OCI ``linux.resources``) to the container's cgroup. Answered by Reply."""

    OP: ClassVar[str] = "update"
    resources: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Pause(Request):
    """Freeze every process of the container. Answered by Reply."""

    OP: ClassVar[str] = "pause"


@dataclass(frozen=True, slots=True)
class Resume(Request):
    """Thaw the container. Answered by Reply."""

    OP: ClassVar[str] = "resume"


@dataclass(frozen=True, slots=True)
class GetHealth(Request):
    """Answered by HealthReport: the probes' state, kept by the monitor."""

    OP: ClassVar[str] = "health"


# -- events ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Created(Event):
    """The container exists and its init waits for Start (``autostart=False``)."""

    EVENT: ClassVar[str] = "created"
    pid: int = 0


@dataclass(frozen=True, slots=True)
class Started(Event):
    """The user's command runs as ``pid`` (host PID)."""

    EVENT: ClassVar[str] = "started"
    pid: int = 0


@dataclass(frozen=True, slots=True)
class Failed(Event):
    """The container could not be created or started; the monitor exits after this."""

    EVENT: ClassVar[str] = "failed"
    message: str = ""
    exit_code: int = 128


@dataclass(frozen=True, slots=True)
class Exited(Event):
    """The first process ended (output drained, exit file written, resources released)."""

    EVENT: ClassVar[str] = "exited"
    exit_code: int = 0
    oom_killed: bool = False
    finished_at: int = 0  # ns since the epoch


@dataclass(frozen=True, slots=True)
class State(Event):
    """What the monitor knows now: ``creating``, ``created``, ``running``, ``exiting``, ``exited``."""

    EVENT: ClassVar[str] = "state"
    status: str = ""
    pid: int = 0
    paused: bool = False
    exit: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ExecStarted(Event):
    EVENT: ClassVar[str] = "exec_started"
    pid: int = 0


@dataclass(frozen=True, slots=True)
class ExecFailed(Event):
    EVENT: ClassVar[str] = "exec_failed"
    message: str = ""
    exit_code: int = 126


@dataclass(frozen=True, slots=True)
class ExecExited(Event):
    EVENT: ClassVar[str] = "exec_exited"
    exit_code: int = 0


@dataclass(frozen=True, slots=True)
class Reply(Event):
    """The answer to a request that changes something: empty ``error`` means done; otherwise
    ``kind`` names the ``ballena.errors`` kind to raise."""

    EVENT: ClassVar[str] = "reply"
    error: str = ""
    kind: str = ""


@dataclass(frozen=True, slots=True)
class HealthReport(Event):
    """Docker's ``State.Health`` as the monitor keeps it (``None`` without a healthcheck)."""

    EVENT: ClassVar[str] = "health"
    health: dict[str, Any] | None = None


# -- coding ----------------------------------------------------------------------------------------

_REQUESTS: dict[str, type[Any]] = {
    cls.OP: cls
    for cls in (
        Hello,
        Start,
        Cancel,
        Attach,
        CloseStdin,
        Kill,
        Resize,
        Exec,
        GetState,
        Update,
        Pause,
        Resume,
        GetHealth,
    )
}
_EVENTS: dict[str, type[Any]] = {
    cls.EVENT: cls
    for cls in (Created, Started, Failed, Exited, State, ExecStarted, ExecFailed, ExecExited, Reply, HealthReport)
}


def encode(msg: Request | Event) -> dict[str, Any]:
    """The JSON object of a message (``protocol.encode_json`` frames it)."""
    out: dict[str, Any] = {"op": msg.OP} if isinstance(msg, Request) else {"event": msg.EVENT}  # type: ignore[attr-defined]
    for f in dataclasses.fields(msg):  # type: ignore[arg-type]
        out[f.name] = getattr(msg, f.name)
    return out


def _build(table: dict[str, type[Any]], name: Any, obj: dict[str, Any]) -> Any:
    cls = table.get(name) if isinstance(name, str) else None
    if cls is None:
        return None
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(**{k: v for k, v in obj.items() if k in names})
    except TypeError:
        return None


def decode_request(obj: dict[str, Any]) -> Request | None:
    """The request in a JSON object, or None for an unknown or malformed one (ignored)."""
    return _build(_REQUESTS, obj.get("op"), obj)  # type: ignore[no-any-return]


def decode_event(obj: dict[str, Any]) -> Event | None:
    """The event in a JSON object, or None for an unknown one (a newer monitor's)."""
    return _build(_EVENTS, obj.get("event"), obj)  # type: ignore[no-any-return]
