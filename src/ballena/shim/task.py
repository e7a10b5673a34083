"""A container's monitor, seen from the daemon: containerd's Task API, typed.

Lifecycle::

    Task.create(zygote, cfg)  the monitor is forked and creates the container; with
                              cfg.autostart it also starts it, else it waits in "created"
    task.start()              created -> running (after the daemon wired the network)
    task.follow(on_output)    output and events until the container exits: its ExitStatus
    Task.connect(...)         a running container's monitor found again after a restart

The control channel carries output and life events, and the requests that need no answer
(kill, resize, attach, stdin). Requests that want one (``state``, ``update``, ``pause``,
``resume``, ``health``) each open a short connection of their own, so they work whatever the
control channel is doing. An exec gets its own channel too (``ExecTask``).

Errors: every method raises ``ballena.errors`` kinds only: ``Unavailable`` when the monitor is
gone, ``CommandNotRunnable``/``RuntimeFailure`` when a process could not start, what the
monitor reported for a refused request (``Conflict`` for a container that is not running).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ballena.errors import BallenaError, SystemFailure, Unavailable, from_kind, start_failure
from ballena.shim import messages
from ballena.shim.channel import Channel
from ballena.shim.config import MonitorConfig
from ballena.shim.spawner import Zygote

__all__ = ["ExecTask", "ExitStatus", "Task"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitStatus:
    """How a container's first process ended. ``lost``: its monitor vanished without saying."""

    exit_code: int
    oom_killed: bool = False
    finished_at: int = 0  # ns since the epoch
    lost: bool = False

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> ExitStatus:
        """From the monitor's exit file (or a State's ``exit``)."""
        return cls(
            exit_code=int(d.get("exit_code", 255)),
            oom_killed=bool(d.get("oom_killed")),
            finished_at=int(d.get("finished_at") or 0),
            lost=bool(d.get("lost")),
        )


class Task:
    """One container's monitor (see the module's docstring for the lifecycle)."""

    def __init__(self, container_id: str, state_dir: Path, channel: Channel, *, pid: int = 0) -> None:
        self.id = container_id
        self.state_dir = state_dir
        self.channel = channel
        self.pid = pid
        self.created = False  # waiting for start()

    # -- creation -----------------------------------------------------------------------------

    @classmethod
    async def create(cls, zygote: Zygote, cfg: MonitorConfig) -> Task:
        """Fork a monitor for ``cfg`` and wait until it reports the container created (without
        ``autostart``) or started. Raises SystemFailure when no monitor could be forked, and
        CommandNotRunnable or RuntimeFailure when the container could not be made."""
        _pid, channel = await zygote.spawn(cfg)
        task = cls(cfg.id, Path(cfg.state_dir), channel)
        await task._until_running_or(created=not cfg.autostart)
        return task

    async def start(self) -> None:
        """Let a created container run. Raises CommandNotRunnable or RuntimeFailure."""
        try:
            await self.channel.send(messages.Start())
        except Unavailable:
            pass  # the init failed after "created" and its monitor left: its Failed says why
        await self._until_running_or(created=False)

    async def init_failure(self) -> BallenaError:
        """Why a created container's init died before start, as its monitor reports it (at once:
        the monitor sees the death on its side of the init's socket)."""
        try:
            await self._until_running_or(created=False)
        except BallenaError as e:
            return e
        return SystemFailure("container init went away before start")

    async def cancel(self) -> None:
        """Give up a created container: its monitor removes it and exits. Never raises."""
        try:
            await self.channel.send(messages.Cancel())
            while await self.channel.next_event() is not None:
                pass
        except Unavailable:
            pass
        self.close()

    async def _until_running_or(self, *, created: bool) -> None:
        while True:
            ev = await self.channel.next_event()
            match ev:
                case None:
                    self.close()
                    raise SystemFailure("container monitor exited during start")
                case messages.Failed(message=message, exit_code=code):
                    self.close()
                    raise start_failure(message, code)
                case messages.Created(pid=pid) if created:
                    self.pid, self.created = pid, True
                    return
                case messages.Started(pid=pid):
                    self.pid, self.created = pid, False
                    return

    @classmethod
    async def connect(cls, container_id: str, state_dir: Path) -> tuple[Task, messages.State]:
        """Reach the monitor of a container after a daemon restart: a new control channel and
        what the monitor says of the container. Raises Unavailable when it is gone."""
        channel = await Channel.connect(state_dir)
        try:
            await channel.send(messages.Hello(role="control"))
            ev = await channel.next_event()
        except Unavailable:
            channel.close()
            raise
        if not isinstance(ev, messages.State):
            channel.close()
            raise Unavailable(f"the monitor of {container_id} did not answer")
        return cls(container_id, state_dir, channel, pid=ev.pid), ev

    # -- a running container ------------------------------------------------------------------

    async def follow(
        self,
        on_output: Callable[[int, bytes], None],
        on_health: Callable[[dict[str, Any]], None] | None = None,
    ) -> ExitStatus | None:
        """Read the control channel until the monitor closes it: output goes to
        ``on_output(stream, data)``, each new healthcheck state (Docker's ``State.Health``) to
        ``on_health``; returns the exit status the monitor reported, or None when it vanished
        without one (the caller reads the exit file)."""
        status: ExitStatus | None = None
        try:
            async for item in self.channel.frames():
                if isinstance(item, tuple):
                    on_output(*item)
                elif isinstance(item, messages.HealthReport):
                    if on_health is not None and item.health is not None:
                        on_health(item.health)
                elif isinstance(item, messages.Exited):
                    status = ExitStatus(
                        exit_code=item.exit_code, oom_killed=item.oom_killed, finished_at=item.finished_at
                    )
        except SystemFailure:
            pass
        finally:
            self.close()
        return status

    async def kill(self, signal: int, *, all: bool = False) -> None:
        """Deliver ``signal`` to the first process (``all``: to every process). The exit, if it
        comes, is reported by ``follow``."""
        await self.channel.send(messages.Kill(signal=signal, all=all))

    async def resize(self, height: int, width: int) -> None:
        await self.channel.send(messages.Resize(height=height, width=width))

    async def attach(self, *, stdout: bool, stderr: bool, stdin: bool) -> None:
        """Which streams the control channel carries from now on."""
        await self.channel.send(messages.Attach(stdout=stdout, stderr=stderr, stdin=stdin))

    async def write_stdin(self, data: bytes) -> None:
        await self.channel.send_stdin(data)

    async def close_stdin(self) -> None:
        await self.channel.send(messages.CloseStdin())

    async def state(self) -> messages.State:
        ev = await self._request(messages.GetState())
        if not isinstance(ev, messages.State):
            raise SystemFailure(f"unexpected answer from the monitor of {self.id}")
        return ev

    async def update(self, resources: dict[str, Any]) -> None:
        """Write new limits (OCI ``linux.resources``) to the container's cgroup."""
        await self._checked(messages.Update(resources=resources))

    async def pause(self) -> None:
        """Freeze every process of the container."""
        await self._checked(messages.Pause())

    async def resume(self) -> None:
        await self._checked(messages.Resume())

    async def health(self) -> dict[str, Any] | None:
        """Docker's ``State.Health`` as the monitor keeps it (None without a healthcheck)."""
        ev = await self._request(messages.GetHealth())
        return ev.health if isinstance(ev, messages.HealthReport) else None

    async def exec(
        self, exec_id: str, process: dict[str, Any], *, stdin: bool, console_size: tuple[int, int] | None
    ) -> ExecTask:
        """Start ``process`` in the container on a channel of its own. Raises Unavailable
        (no monitor), CommandNotRunnable or RuntimeFailure (the process did not start)."""
        channel = await Channel.connect(self.state_dir)
        try:
            await channel.send(
                messages.Exec(
                    id=exec_id, process=process, stdin=stdin, console_size=list(console_size) if console_size else None
                )
            )
            ev = await channel.next_event()
        except BaseException:
            channel.close()
            raise
        if isinstance(ev, messages.ExecStarted):
            return ExecTask(channel, pid=ev.pid)
        channel.close()
        if isinstance(ev, messages.ExecFailed):
            raise start_failure(ev.message, ev.exit_code)
        raise start_failure("exec failed: the monitor did not answer", 126)

    def close(self) -> None:
        self.channel.close()

    async def _request(self, req: messages.Request) -> messages.Event | None:
        channel = await Channel.connect(self.state_dir)
        try:
            await channel.send(messages.Hello(role="request"))
            await channel.next_event()  # Hello's State
            await channel.send(req)
            return await channel.next_event()
        finally:
            channel.close()

    async def _checked(self, req: messages.Request) -> None:
        ev = await self._request(req)
        if not isinstance(ev, messages.Reply):
            raise Unavailable(f"the monitor of {self.id} did not answer")
        if ev.error:
            raise from_kind(ev.kind, ev.error)


class ExecTask:
    """One exec's channel: its output until it exits, its stdin, its terminal size."""

    def __init__(self, channel: Channel, *, pid: int) -> None:
        self.channel = channel
        self.pid = pid
        self.exit_code: int | None = None

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        """Output as ``(stream, data)`` until the exec exits; ``exit_code`` is set then (137
        when the monitor vanished first). The channel is closed at the end."""
        try:
            async for item in self.channel.frames():
                if isinstance(item, tuple):
                    yield item
                elif isinstance(item, messages.ExecExited):
                    self.exit_code = item.exit_code
                    return
        except SystemFailure:
            pass
        finally:
            if self.exit_code is None:
                self.exit_code = 137
            self.channel.close()

    async def write_stdin(self, data: bytes) -> None:
        try:
            await self.channel.send_stdin(data)
        except Unavailable:
            pass

    async def close_stdin(self) -> None:
        try:
            await self.channel.send(messages.CloseStdin())
        except Unavailable:
            pass

    async def resize(self, height: int, width: int) -> None:
        await self.channel.send(messages.Resize(height=height, width=width))
