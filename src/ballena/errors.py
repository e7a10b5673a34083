"""The one error hierarchy of Ballena.

Every layer below ``api/`` raises only these types; ``api/errors.py`` is the only place that
turns them into HTTP status codes (the way moby's ``errdefs`` and ``httpstatus`` work)::

    BallenaError
     +-- InvalidArgument      bad input: malformed reference, unknown flag value (400)
     |    +-- CommandNotRunnable  a container's or exec's command cannot run (400; exit 126/127)
     +-- NotFound             no such image, container, network, volume, exec (404)
     +-- Conflict             name in use, image in use, container running (409)
     |    +-- AlreadyExists   the exact object already exists (409)
     +-- Unauthorized         registry refused the credentials (401)
     +-- Forbidden            the operation is not allowed on this object (403)
     +-- NotModified          nothing to do: container already started/stopped (304)
     +-- Unsupported          a known feature Ballena does not offer (501)
     +-- Unavailable          a dependency (registry, runtime, monitor) cannot be reached (503)
     +-- SystemFailure        the host failed us: mount, namespace, disk, runtime (500)
          +-- RuntimeFailure  the runtime could not create or start a process (500; exit 128)

The message is what the user reads, so it is written in Docker's words. Errors that cross a
process boundary (the monitor, the file helper) travel as their kind's name and message
(``kind_name``/``from_kind``) and are raised again as the same kind on the daemon's side.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "BallenaError",
    "CommandNotRunnable",
    "Conflict",
    "Forbidden",
    "InvalidArgument",
    "NotFound",
    "NotModified",
    "RuntimeFailure",
    "SystemFailure",
    "Unauthorized",
    "Unavailable",
    "Unsupported",
    "exit_code_for",
    "from_kind",
    "kind_name",
    "start_failure",
]


class BallenaError(Exception):
    """Base of every error Ballena raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidArgument(BallenaError):
    """The caller asked for something malformed or contradictory."""


class CommandNotRunnable(InvalidArgument):
    """The process's command cannot be run: not found (exit 127) or not executable (126).

    Docker answers a start that fails this way with 400, and the CLI exits with the code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class NotFound(BallenaError):
    """The named object does not exist."""


class Conflict(BallenaError):
    """The object exists but its state forbids the operation."""


class AlreadyExists(Conflict):
    """An object with that identity already exists."""


class Unauthorized(BallenaError):
    """Credentials are missing or wrong."""


class Forbidden(BallenaError):
    """The operation is refused by policy."""


class NotModified(BallenaError):
    """The object is already in the requested state."""


class Unsupported(BallenaError):
    """A feature Docker has that Ballena deliberately does not offer."""


class Unavailable(BallenaError):
    """Something the operation needs cannot be reached right now."""


class SystemFailure(BallenaError):
    """The host failed an operation that should have worked."""


class RuntimeFailure(SystemFailure):
    """The runtime could not create or start a container's or an exec's process;
    ``exit_code`` is the status Docker records for it (128 unless the command is at fault)."""

    def __init__(self, message: str, exit_code: int = 128) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def start_failure(message: str, exit_code: int | None = None) -> CommandNotRunnable | RuntimeFailure:
    """The error for a process that did not start: the command's fault (126/127, 400) or the
    runtime's (500). Without ``exit_code`` it is read from the message (``exit_code_for``)."""
    code = exit_code_for(message) if exit_code is None else exit_code
    if code in (126, 127):
        return CommandNotRunnable(message, code)
    return RuntimeFailure(message, code)


_KINDS: dict[str, type[BallenaError]] = {
    cls.__name__: cls
    for cls in (
        InvalidArgument,
        NotFound,
        Conflict,
        AlreadyExists,
        Unauthorized,
        Forbidden,
        NotModified,
        Unsupported,
        Unavailable,
        SystemFailure,
    )
}


def kind_name(exc: BaseException) -> str:
    """The name of ``exc``'s kind in this tree (``SystemFailure`` for anything else), for
    errors sent from a helper process to the daemon."""
    for cls in type(exc).__mro__:
        if cls.__name__ in _KINDS and _KINDS[cls.__name__] is cls:
            return cls.__name__
    return "SystemFailure"


def from_kind(name: str, message: str) -> BallenaError:
    """The error a helper process reported (``kind_name``), raised again on this side."""
    return _KINDS.get(name, SystemFailure)(message)


def exit_code_for(message: str, default: int = 128) -> int:
    """The exit status Docker gives a process that could not be started, from the runtime's
    message: 127 when the command does not exist, 126 when it cannot be executed.

    Text is all runc (and a daemon's HTTP answer) gives; moby's translateContainerdStartErr and
    the docker CLI decide the same way from the same words."""
    text = message.lower()
    if "executable file not found" in text or "no such file or directory" in text:
        return 127
    if "permission denied" in text or "is a directory" in text:
        return 126
    return default
