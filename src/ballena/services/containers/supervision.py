"""Following running containers: one ``Task`` per running container, its output handed to the
clients attached to it, its exit reported to whoever handles exits (``Lifecycle.exited``).

Nothing about a running container lives only here: after a daemon restart ``reconnect`` finds
each monitor again through its socket, and a container that exited meanwhile through its exit
file (``exit_status``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ballena.core.containers import Container, Health
from ballena.errors import Conflict, InvalidArgument, NotFound, SystemFailure, Unavailable
from ballena.pkg import linux, records
from ballena.pkg.atomicfile import read_json
from ballena.pkg.timeutil import now_ns
from ballena.runtime import cgroups
from ballena.services.containers.events import ContainerEvents
from ballena.services.containers.layout import Paths
from ballena.shim import messages
from ballena.shim.task import ExitStatus, Task
from ballena.stores.containers import ContainerStore

__all__ = ["Restored", "Subscriber", "Supervisor"]

log = logging.getLogger("ballena.containers")

ExitHandler = Callable[[str, ExitStatus], Awaitable[None]]


class Subscriber:
    """One attached client's view of a container's output: a queue that ends with None."""

    def __init__(self, *, stdout: bool, stderr: bool) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()

    def put(self, stream: int, data: bytes) -> None:
        if (stream == 1 and self.stdout) or (stream == 2 and self.stderr):
            self.queue.put_nowait((stream, data))

    def close(self) -> None:
        self.queue.put_nowait(None)


@dataclass(eq=False)
class _Live:
    """The daemon's link to one running container."""

    task: Task
    subscribers: set[Subscriber] = field(default_factory=set)
    follower: asyncio.Task[None] | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Restored:
    """What ``Supervisor.restore`` found besides the containers it follows again."""

    exited: list[tuple[Container, ExitStatus]] = field(default_factory=list)
    removing: list[Container] = field(default_factory=list)


class Supervisor:
    def __init__(self, *, store: ContainerStore, paths: Paths, events: ContainerEvents) -> None:
        self.store = store
        self.paths = paths
        self.events = events
        self.on_exit: ExitHandler | None = None  # set by the wiring: Lifecycle.exited
        self._live: dict[str, _Live] = {}
        self._pending: dict[str, list[Subscriber]] = {}  # attached before the start

    # -- following ------------------------------------------------------------------------------

    def adopt(self, cid: str, task: Task, subscribers: list[Subscriber] | None = None) -> None:
        """Follow ``task`` (running) until its container exits."""
        live = _Live(task=task)
        live.subscribers.update(subscribers or ())
        self._live[cid] = live
        live.follower = asyncio.ensure_future(self._follow(cid, live))

    def task(self, cid: str) -> Task | None:
        live = self._live.get(cid)
        return live.task if live is not None else None

    def running(self, cid: str) -> bool:
        return cid in self._live

    async def _follow(self, cid: str, live: _Live) -> None:
        def deliver(stream: int, data: bytes) -> None:
            for s in list(live.subscribers):
                s.put(stream, data)

        status = await live.task.follow(deliver, lambda report: self._health(cid, report))
        for s in list(live.subscribers):
            s.close()
        live.subscribers.clear()
        if self._live.get(cid) is live:
            del self._live[cid]
        if status is None:
            status = self.exit_status(cid) or ExitStatus(exit_code=255, finished_at=now_ns(), lost=True)
        live.exited.set()
        if self.on_exit is not None:
            await self.on_exit(cid, status)

    def _health(self, cid: str, report: dict[str, Any]) -> None:
        """The monitor's healthcheck state: mirrored in the record (in memory, as the rest of
        the run state), and ``health_status: X`` published when the status changes."""
        try:
            c = self.store.get(cid)
            health = records.decode(Health, report)
        except (NotFound, InvalidArgument):
            return
        before = c.state.health.status if c.state.health is not None else None
        c = c.with_state(health=health)
        self.store.update(c)
        if health.status != before and health.status != "starting":
            self.events.publish(c, f"health_status: {health.status}")

    def exit_status(self, cid: str) -> ExitStatus | None:
        """What the monitor wrote when the container exited (None if nothing)."""
        try:
            data = read_json(self.store.dir(cid) / "exit.json")
        except (OSError, ValueError):
            return None
        return ExitStatus.from_record(data) if isinstance(data, dict) else None

    async def wait_exited(self, cid: str, timeout: float | None = None) -> bool:
        """Wait until the container's task has ended; False on timeout. True at once when
        nothing is followed."""
        live = self._live.get(cid)
        if live is None:
            return True
        try:
            await asyncio.wait_for(live.exited.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def kill(self, cid: str, signal: int, *, all: bool = False) -> bool:
        """Signal the container; False when it has no task (not running)."""
        task = self.task(cid)
        if task is None:
            return False
        try:
            await task.kill(signal, all=all)
        except Unavailable:
            return False
        return True

    # -- clients ---------------------------------------------------------------------------------

    def take_pending(self, cid: str) -> list[Subscriber]:
        """The clients that attached before the start (they get output from the first byte)."""
        return self._pending.pop(cid, [])

    def drop(self, cid: str) -> None:
        """The container is removed: attached clients see the end."""
        for s in self._pending.pop(cid, []):
            s.close()

    async def attach(self, c: Container, *, stdout: bool, stderr: bool) -> Subscriber:
        """Subscribe to a container's output, before or after it starts. Raises Conflict while
        it is restarting."""
        sub = Subscriber(stdout=stdout, stderr=stderr)
        live = self._live.get(c.id)
        if live is not None:
            first = not live.subscribers
            live.subscribers.add(sub)
            if first:
                await self._attach_streams(live, c, on=True)
        elif c.state.running:
            raise Conflict(f"container {c.id} is restarting: wait until it is running")
        else:
            self._pending.setdefault(c.id, []).append(sub)
        self.events.publish(c, "attach")
        return sub

    async def detach(self, cid: str, sub: Subscriber, *, by_keys: bool = False) -> None:
        """The client is gone (``by_keys``: it typed the detach keys, which Docker reports)."""
        live = self._live.get(cid)
        if live is not None and sub in live.subscribers:
            live.subscribers.discard(sub)
            if not live.subscribers and self.store.exists(cid):
                await self._attach_streams(live, self.store.get(cid), on=False)
        pending = self._pending.get(cid)
        if pending and sub in pending:
            pending.remove(sub)
        if by_keys and self.store.exists(cid):
            self.events.publish(self.store.get(cid), "detach")

    @staticmethod
    async def _attach_streams(live: _Live, c: Container, *, on: bool) -> None:
        try:
            await live.task.attach(stdout=on, stderr=on, stdin=c.config.open_stdin)
        except Unavailable:
            pass

    async def _live_task(self, cid: str) -> Task | None:
        """The task of a container being started by another request: wait for it (a client
        that attached before the start sends stdin as soon as it can)."""
        for _ in range(500):
            task = self.task(cid)
            if task is not None:
                return task
            if not self.store.exists(cid) or self.store.get(cid).state.status == "exited":
                return None
            await asyncio.sleep(0.01)
        return None

    async def write_stdin(self, cid: str, data: bytes) -> None:
        task = await self._live_task(cid)
        if task is not None:
            try:
                await task.write_stdin(data)
            except Unavailable:
                pass

    async def close_stdin(self, cid: str) -> None:
        task = await self._live_task(cid)
        if task is not None:
            try:
                await task.close_stdin()
            except Unavailable:
                pass

    async def resize(self, c: Container, height: int, width: int) -> None:
        """Raises Conflict when the container is not running."""
        task = self.task(c.id)
        if task is None:
            raise Conflict(f"Container {c.id} is not running")
        try:
            await task.resize(height, width)
        except Unavailable:
            raise Conflict(f"Container {c.id} is not running") from None

    # -- freezing -----------------------------------------------------------------------------------

    async def pause(self, c: Container) -> None:
        """Freeze the container (through its monitor). Raises Conflict (not running, already
        paused), SystemFailure."""
        task = self.task(c.id)
        if not c.state.running or c.state.status == "restarting" or task is None:
            raise Conflict(f"Container {c.id} is not running")
        if c.state.status == "paused":
            raise Conflict(f"Container {c.id} is already paused")
        try:
            await task.pause()
        except (SystemFailure, Unavailable) as e:
            raise SystemFailure(f"cannot pause container {c.id}: {e.message}") from None
        c = c.with_state(status="paused")
        self.store.save(c)
        self.events.publish(c, "pause")

    async def unpause(self, c: Container) -> None:
        """Raises Conflict when not paused."""
        if c.state.status != "paused":
            raise Conflict(f"Container {c.id} is not paused")
        await self.thaw(c)
        self.events.publish(self.store.get(c.id), "unpause")

    async def thaw(self, c: Container) -> None:
        """Resume a paused container (before a stop or a kill: a frozen process cannot die)."""
        task = self.task(c.id)
        if task is not None:
            try:
                await task.resume()
            except (SystemFailure, Unavailable, Conflict):
                pass
        self.store.save(self.store.get(c.id).with_state(status="running"))

    @asynccontextmanager
    async def frozen(self, c: Container) -> AsyncIterator[None]:
        """Keep a running container frozen for the block (``docker commit --pause``); a
        stopped or already paused one is left as it is."""
        task = self.task(c.id)
        froze = False
        if task is not None and c.state.status == "running":
            try:
                await task.pause()
                froze = True
            except (SystemFailure, Unavailable, Conflict):
                pass
        try:
            yield
        finally:
            if froze and task is not None:
                try:
                    await task.resume()
                except (SystemFailure, Unavailable, Conflict):
                    pass

    # -- daemon start and stop ---------------------------------------------------------------------

    async def restore(self, records: list[Container]) -> Restored:
        """At start-up, for the records just loaded: follow again each monitor still running
        its container, and say which containers exited while the daemon was away (their
        monitors' leftovers swept) and which were being removed."""
        out = Restored()
        if self.paths.state_root.is_dir():
            leftovers = [Path(e.path) for e in os.scandir(self.paths.state_root) if e.name.startswith(".removing-")]
            await asyncio.to_thread(_rmtree_all, leftovers)
        for c in records:
            if c.state.status == "removing":
                out.removing.append(c)
                continue
            # A record may say "created" although its monitor runs: the daemon died between
            # starting it and saving that. The monitor's socket tells.
            if not c.state.running and not self.has_monitor(c.id):
                continue
            state = await self.reconnect(c)
            if state is not None and state.status == "running":
                status = "paused" if state.paused or c.state.status == "paused" else "running"
                self.store.update(c.with_state(status=status, pid=state.pid or c.state.pid))
                await self._fetch_health(c.id)  # what the probes found while the daemon was away
                log.info("reattached to running container %s (%s)", c.short_id, c.name)
                continue
            exit_status = (
                ExitStatus.from_record(state.exit)
                if state is not None and state.exit
                else self.exit_status(c.id) or ExitStatus(exit_code=255, finished_at=now_ns(), lost=True)
            )
            log.info("container %s exited while the daemon was away (status %s)", c.short_id, exit_status.exit_code)
            await asyncio.to_thread(self.sweep_lost_monitor, c)
            out.exited.append((c, exit_status))
        return out

    async def _fetch_health(self, cid: str) -> None:
        task = self.task(cid)
        if task is None:
            return
        try:
            report = await task.health()
        except (SystemFailure, Unavailable, Conflict):
            return
        if report is not None:
            self._health(cid, report)

    def sweep_lost_monitor(self, c: Container) -> None:
        """Release what a monitor that is gone without finishing left behind: its rootfs
        mount and its cgroup (with any process still in it). A monitor owns both while it
        lives; this does nothing while one does (blocking)."""
        if self.running(c.id) or self.has_monitor(c.id):
            return
        rootfs = self.paths.state_dir(c.id) / "rootfs"
        if is_mountpoint(rootfs):
            try:
                linux.umount(str(rootfs), linux.MNT_DETACH)
            except OSError:
                pass
        cg = cgroups.Cgroup(self.paths.cgroup(c))
        if cg.exists():
            cg.kill_all()
            cg.remove(timeout=1)

    def has_monitor(self, cid: str) -> bool:
        return (self.paths.state_dir(cid) / "monitor.sock").exists()

    async def reconnect(self, c: Container) -> messages.State | None:
        """After a daemon restart: follow ``c``'s monitor again if it still runs the container.
        Returns what the monitor said (None when it is gone, or its container exited)."""
        try:
            task, state = await Task.connect(c.id, self.paths.state_dir(c.id))
        except Unavailable:
            return None
        if state.status != "running":
            task.close()
            return state
        self.adopt(c.id, task)
        return state

    async def shutdown(self) -> None:
        """The daemon stops; containers keep running (live-restore)."""
        for live in list(self._live.values()):
            if live.follower is not None:
                live.follower.cancel()
            live.task.close()


def is_mountpoint(path: Path) -> bool:
    try:
        return os.path.ismount(path)
    except OSError:
        return False


def _rmtree_all(paths: list[Path]) -> None:
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)
