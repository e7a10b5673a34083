"""What every runtime driver is: the ``RuntimeDriver`` protocol and the ``Process`` it makes
(see the package's docstring for the lifecycle)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ballena.shim.stdio import ProcessIO

__all__ = ["Process", "RuntimeDriver"]


@dataclass(slots=True)
class Process:
    """A process a driver made: its host PID and the monitor's ends of its streams."""

    pid: int
    io: ProcessIO


class RuntimeDriver(Protocol):
    """One container's runtime, driven from its monitor (blocking, single-threaded)."""

    def create(self, *, on_namespaces: Callable[[int], None] | None = None) -> Process:
        """Make the container and its init, which waits for ``start``. Raises RuntimeFailure
        or CommandNotRunnable (``ballena.errors``) with the status Docker records.

        ``on_namespaces(pid)``: called as soon as the init's namespaces exist, while it still
        sets up its mounts, so that its network can be wired meanwhile; a driver that cannot
        tell calls it (if at all) only once the init is ready."""
        ...

    def start(self) -> None:
        """Let the init exec the user's command. Raises RuntimeFailure or CommandNotRunnable."""
        ...

    def exec(self, process: dict[str, Any], *, exec_id: str, stdin: bool, console_size: list[int] | None) -> Process:
        """Run an OCI ``process`` in the running container. Raises RuntimeFailure or
        CommandNotRunnable."""
        ...

    def delete(self) -> None:
        """Release what the runtime keeps about the container. Idempotent; never raises."""
        ...
