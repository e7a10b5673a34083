"""``docker exec``: an exec is created (a record in memory, as Docker keeps it), then started
through the container's task on a channel of its own, whose output the API streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

from ballena.core.containerconfig import ExecCreate
from ballena.core.containers import Container, ExecConfig, ExecState
from ballena.errors import BallenaError, CommandNotRunnable, Conflict, InvalidArgument, NotFound, RuntimeFailure
from ballena.pkg.stringid import generate_id
from ballena.services.containers.bundle import Bundles
from ballena.services.containers.events import ContainerEvents
from ballena.services.containers.queries import ContainerQueries
from ballena.services.containers.supervision import Supervisor
from ballena.shim.task import ExecTask
from ballena.stores.containers import ContainerStore

__all__ = ["ExecSession", "Execs"]


class Execs:
    def __init__(
        self,
        *,
        store: ContainerStore,
        queries: ContainerQueries,
        bundles: Bundles,
        supervisor: Supervisor,
        events: ContainerEvents,
    ) -> None:
        self.store = store
        self.queries = queries
        self.bundles = bundles
        self.supervisor = supervisor
        self.events = events
        self._execs: dict[str, ExecState] = {}

    def create(self, ref: str, body: ExecCreate) -> str:
        """A new exec of a running container; its ID. Raises Conflict (not running, paused),
        InvalidArgument (no command)."""
        c = self.queries.get(ref)
        if not c.state.running or c.state.status == "restarting":
            raise Conflict(f"container {c.id} is not running")
        if c.state.status == "paused":
            raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
        if not body.cmd:
            raise InvalidArgument("No exec command specified")
        size = body.console_size
        eid = generate_id()
        cfg = ExecConfig(
            id=eid,
            container_id=c.id,
            cmd=tuple(body.cmd),
            env=tuple(body.env or ()),
            user=body.user,
            working_dir=body.working_dir,
            tty=body.tty,
            privileged=body.privileged,
            attach_stdin=body.attach_stdin,
            attach_stdout=body.attach_stdout,
            attach_stderr=body.attach_stderr,
            detach_keys=body.detach_keys,
            console_size=(size[0], size[1]) if size and len(size) == 2 and any(size) else None,
        )
        self._execs[eid] = ExecState(config=cfg)
        c = replace(c, exec_ids=(*c.exec_ids, eid))
        self.store.update(c)
        self.events.publish(c, "exec_create: " + " ".join(cfg.cmd), execID=eid)
        return eid

    def get(self, eid: str) -> ExecState:
        """Raises NotFound with Docker's message."""
        ex = self._execs.get(eid)
        if ex is None:
            raise NotFound(f"No such exec instance: {eid}")
        return ex

    def known(self, eid: str) -> bool:
        return eid in self._execs

    def container_of(self, eid: str) -> Container:
        return self.store.get(self.get(eid).config.container_id)

    def forget(self, c: Container) -> None:
        """The container was removed: so are its execs."""
        for eid, ex in list(self._execs.items()):
            if ex.config.container_id == c.id:
                del self._execs[eid]

    async def start(
        self, eid: str, *, detach: bool, tty: bool | None = None, console_size: tuple[int, int] | None = None
    ) -> ExecSession:
        """Start an exec; its session streams the output (a detached one is drained here).
        Raises Conflict (already run, container not running or paused), CommandNotRunnable
        or RuntimeFailure (the command did not start: ``ExecState.exit_code`` says how)."""
        ex = self.get(eid)
        if ex.started:
            raise Conflict(f"Error: Exec command {eid} has already run")
        c = self.store.get(ex.config.container_id)
        task = self.supervisor.task(c.id)
        if not c.state.running or task is None:
            raise Conflict(f"container {c.id} is not running")
        if c.state.status == "paused":
            raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
        ex.started = True
        cfg = ex.config
        if tty is not None and tty != cfg.tty:
            cfg = replace(cfg, tty=tty)
        if console_size:
            cfg = replace(cfg, console_size=console_size)
        process = await asyncio.to_thread(self.bundles.exec_process, c, cfg)
        try:
            exec_task = await task.exec(
                eid, process, stdin=cfg.attach_stdin and not detach, console_size=cfg.console_size
            )
        except (CommandNotRunnable, RuntimeFailure) as e:
            ex.exit_code = e.exit_code
            raise
        except BallenaError:
            raise Conflict(f"container {c.id} is not running") from None
        ex.running = True
        ex.pid = exec_task.pid
        self.events.publish(c, "exec_start: " + " ".join(cfg.cmd), execID=eid)
        session = ExecSession(self, ex, exec_task, c)
        if detach:
            session.discard_output()
        return session

    def _finished(self, ex: ExecState, code: int, c: Container) -> None:
        ex.running = False
        ex.exit_code = code
        ex.session = None
        self.events.publish(c, "exec_die", execID=ex.config.id, exitCode=str(code))

    async def resize(self, eid: str, height: int, width: int) -> None:
        """Raises NotFound, Conflict when the exec is not running."""
        ex = self.get(eid)
        session = ex.session
        if session is None:
            raise Conflict(f"exec {eid} is not running")
        await session.task.resize(height, width)


class ExecSession:
    """A running exec: its output, its stdin, its exit."""

    def __init__(self, execs: Execs, ex: ExecState, task: ExecTask, container: Container) -> None:
        self.execs = execs
        self.ex = ex
        self.task = task
        self.container = container
        ex.session = self

    async def frames(self) -> AsyncIterator[tuple[int, bytes]]:
        """Output as ``(stream, data)`` until the exec exits (its exit code then recorded)."""
        try:
            async for item in self.task.output():
                yield item
        finally:
            self.execs._finished(
                self.ex, self.task.exit_code if self.task.exit_code is not None else 137, self.container
            )

    def discard_output(self) -> None:
        async def drain() -> None:
            async for _ in self.frames():
                pass

        asyncio.ensure_future(drain())

    async def send_stdin(self, data: bytes) -> None:
        await self.task.write_stdin(data)

    async def close_stdin(self) -> None:
        await self.task.close_stdin()
