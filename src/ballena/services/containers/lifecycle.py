"""A container's life: create, start, stop, kill, restart, remove, wait, rename, pause, update,
and what happens when it exits (restart policies, ``--rm``). Start-up recovery is here too:
the records are reconciled with the monitors still running.

The state machine (``core.containers``) is changed only here, under a per-container lock for
the transitions that take time (start, restart, update).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal as _signal
import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from typing import Any

from ballena.core.containerconfig import ContainerConfig, EndpointSettings, HostConfig, NetworkingConfig, UpdateConfig
from ballena.core.containers import Container, Health
from ballena.core.volumes import MountPoint
from ballena.errors import (
    BallenaError,
    CommandNotRunnable,
    Conflict,
    InvalidArgument,
    NotFound,
    NotModified,
    RuntimeFailure,
    SystemFailure,
    Unavailable,
)
from ballena.pkg import linux, records, signals, trace
from ballena.pkg.filters import Filters
from ballena.pkg.namesgen import random_name
from ballena.pkg.stringid import generate_id
from ballena.pkg.timeutil import now_ns, parse_api_timestamp
from ballena.runtime import cgroups
from ballena.services import resources
from ballena.services.containers.bundle import Bundles
from ballena.services.containers.cleanup import Cleanup
from ballena.services.containers.events import ContainerEvents
from ballena.services.containers.layout import HostDefaults, Paths
from ballena.services.containers.links import without_link
from ballena.services.containers.locks import ContainerLocks
from ballena.services.containers.queries import ContainerQueries
from ballena.services.containers.requests import check_name, normalize_create
from ballena.services.containers.restarts import Restarts, should_restart
from ballena.services.containers.supervision import Subscriber, Supervisor
from ballena.services.containers.waits import Waiters
from ballena.services.sandboxes import Sandboxes
from ballena.services.volumes import VolumeService
from ballena.shim.config import MonitorConfig
from ballena.shim.spawner import Zygote
from ballena.shim.task import ExitStatus, Task
from ballena.stores.containers import ContainerStore
from ballena.stores.images import ImageStore

__all__ = ["DEFAULT_STOP_TIMEOUT", "Lifecycle"]

log = logging.getLogger("ballena.containers")

DEFAULT_STOP_TIMEOUT = 10


class Lifecycle:
    def __init__(
        self,
        *,
        store: ContainerStore,
        queries: ContainerQueries,
        images: ImageStore,
        bundles: Bundles,
        supervisor: Supervisor,
        zygote: Zygote | None = None,
        spawn: Callable[[MonitorConfig], Awaitable[Task]] | None = None,
        paths: Paths,
        events: ContainerEvents,
        defaults: HostDefaults,
        volumes: VolumeService | None = None,
        sandboxes: Sandboxes | None = None,
    ) -> None:
        self.store = store
        self.queries = queries
        self.images = images
        self.bundles = bundles
        self.supervisor = supervisor
        # How a container gets its task: a monitor forked by the zygote (tests give a fake).
        if spawn is None:
            assert zygote is not None, "a zygote or a spawn function"
            spawn = partial(Task.create, zygote)
        self.spawn = spawn
        self.zygote = zygote
        self.paths = paths
        self.events = events
        self.defaults = defaults
        self.volumes = volumes
        self.sandboxes = sandboxes
        self.on_removed: list[Callable[[Container], None]] = []  # e.g. Execs.forget
        self.cleanup = Cleanup(
            store=store, images=images, paths=paths, supervisor=supervisor, queries=queries, volumes=volumes
        )
        self.locks = ContainerLocks()  # shared with NetworkAttachments
        self.waiters = Waiters()
        self.restarts = Restarts(restart=self._restart_now)
        supervisor.on_exit = self.exited

    # -- create ---------------------------------------------------------------------------------

    async def create(
        self,
        *,
        name: str | None,
        config: ContainerConfig,
        host_config: HostConfig,
        networking: NetworkingConfig | None = None,
        build_step: bool = False,
    ) -> tuple[Container, list[str]]:
        """A new container (not started). Raises InvalidArgument for a bad request, NotFound
        for an unknown image or ``--volumes-from`` container, Conflict for a name in use. An
        unknown network (or ``--network container:<x>``) fails its start, as in dockerd."""
        if name:
            name = check_name(name)
        image_ref = config.image
        if not image_ref:
            raise InvalidArgument("No image was specified")
        image_id = self.images.resolve(image_ref)
        image = self.images.get(image_id)
        req = normalize_create(
            name=name,
            config=config,
            host_config=host_config,
            networking=networking or NetworkingConfig(),
            image_config=records.decode(ContainerConfig, image.run_config),
            defaults=self.defaults,
        )
        cfg, hc = req.config, req.host_config
        cid = generate_id()
        name = req.name or self._generated_name()
        self.store.reserve_name(name, cid)
        try:
            net_mode = hc.network_mode or "bridge"
            endpoints: dict[str, EndpointSettings] = {}
            if self.sandboxes is not None:
                endpoints = self.sandboxes.initial_endpoints(hc, req.networking)
            if not cfg.hostname:
                cfg = cfg.with_(hostname=socket.gethostname() if net_mode == "host" else cid[:12])
            mounts: list[MountPoint] = []
            if self.volumes is not None:
                mounts = await asyncio.to_thread(
                    self.volumes.resolve_mounts, config=cfg, host_config=hc, volumes_from=self.queries.mount_points
                )
            c = Container(
                id=cid,
                name=name,
                created_ns=now_ns(),
                image=image_ref,
                image_id=image_id,
                path=req.path,
                args=req.args,
                config=cfg,
                host_config=hc,
                runtime=hc.runtime,
                networks=endpoints,
                mounts=tuple(mounts),
                build_step=build_step,
            )
            await asyncio.to_thread(self.bundles.prepare_filesystem, c, image.top_layer)
            self.store.save(c)
            # Its cgroup now, and the kernel's migration window opened now: `docker run` sends
            # the start a moment after this answer, and the wait for that window (5-8 ms here)
            # is then behind it instead of in the start (``_make_cgroup_early``). A container
            # never started leaves an empty cgroup, which its removal sweeps.
            self._make_cgroup_early(c)
        except BaseException:
            self.store.release_name(name)
            d = self.store.dir(cid)
            if d.exists():
                shutil.rmtree(d, ignore_errors=True)
            if self.images.snapshots.exists(cid):
                self.images.snapshots.remove(cid)
            raise
        self.events.publish(c, "create")
        return c, list(req.warnings)

    def _generated_name(self) -> str:
        name, attempt = random_name(), 0
        while self.store.name_taken(name):
            attempt += 1
            name = random_name(attempt)
        return name

    # -- start ----------------------------------------------------------------------------------

    async def start(self, ref: str) -> Container:
        """Start a created or exited container. Raises NotModified (already running),
        Conflict (paused, being removed), CommandNotRunnable (its command cannot run),
        RuntimeFailure/SystemFailure (the host failed)."""
        c = self.queries.get(ref)
        async with self.locks(c.id):
            c = self.store.get(c.id)
            if c.state.status == "paused":
                raise Conflict("cannot start a paused container, try unpause instead")
            if c.state.running:
                raise NotModified("container already started")
            if c.state.status in ("removing", "dead"):
                raise Conflict("container is marked for removal and cannot be started")
            return await self._start_locked(replace(c, manually_stopped=False))

    async def _start_locked(self, c: Container) -> Container:
        trace.mark("daemon: start")
        cgroup_made = self._make_cgroup_early(c)
        subscribers = self.supervisor.take_pending(c.id)
        wire = self.sandboxes is not None and bool(c.networks)
        try:
            if self.sandboxes is not None and c.networks:
                await self.sandboxes.ready()
                c = replace(c, networks=self.sandboxes.plan(c))
                c = replace(c, ports=self.sandboxes.reserve_ports(c))
            cfg = await asyncio.to_thread(
                self.bundles.write,
                c,
                attach_stdout=bool(subscribers),
                attach_stderr=bool(subscribers),
                autostart=not wire,
            )
            trace.mark("daemon: bundle written")
            task = await self.spawn(cfg)
        except BallenaError as e:
            if self.sandboxes is not None:
                await self.sandboxes.release(c)
            if cgroup_made is not None:  # no monitor took the cgroup over: remove it
                await asyncio.wait([cgroup_made])
                await asyncio.to_thread(self.supervisor.sweep_lost_monitor, c)
            self._fail_start(c, e, subscribers)
            raise
        if task.created and self.sandboxes is not None:
            trace.mark("daemon: attaching network")
            try:
                try:
                    await self.sandboxes.attach(c, task.pid)
                except Exception:
                    if not await asyncio.to_thread(linux.exits_within, task.pid, 0.2):
                        raise
                    # The init failed while its network was being wired (the wiring starts as
                    # soon as its namespaces exist, and they went with it): say why it failed.
                    raise await task.init_failure() from None
                trace.mark("daemon: network attached")
                await task.start()
            except BaseException as e:
                await task.cancel()
                await self.sandboxes.release(c)
                err = e if isinstance(e, BallenaError) else SystemFailure(f"network setup failed: {e}")
                self._fail_start(c, err, subscribers)
                if err is e:
                    raise
                raise err from e
        c = replace(c, has_been_started=True).with_state(
            status="running",
            pid=task.pid,
            exit_code=0,
            error="",
            oom_killed=False,
            started_at_ns=now_ns(),
            finished_at_ns=0,
            health=_starting_health(c) if cfg.health is not None else None,
        )
        trace.mark("daemon: monitor says running")
        self.store.save(c, durable=False)
        self.supervisor.adopt(c.id, task, subscribers)
        self.events.publish(c, "start")
        trace.mark("daemon: started")
        return c

    def _make_cgroup_early(self, c: Container) -> asyncio.Future[None] | None:
        """Have the zygote make the container's cgroup while the bundle is written, then open
        the kernel's window for cheap migrations on a thread, so that the monitor's move of the
        init into it a moment later is quick (``Zygote.make_cgroup`` says why; a start is ~4 ms
        faster). Best effort: the monitor makes a missing cgroup itself."""
        if self.zygote is None:
            return None
        made = asyncio.ensure_future(self.zygote.make_cgroup(self.paths.cgroup(c)))

        def warm(f: asyncio.Future[None]) -> None:
            if not f.cancelled() and f.exception() is None:
                asyncio.get_running_loop().run_in_executor(None, cgroups.warm_migrations)

        made.add_done_callback(warm)
        return made

    def _fail_start(self, c: Container, err: BallenaError, subscribers: list[Subscriber]) -> None:
        code = err.exit_code if isinstance(err, CommandNotRunnable | RuntimeFailure) else 128
        status = "exited" if c.has_been_started else "created"
        self.store.save(c.with_state(status=status, error=err.message, exit_code=code, pid=0))
        for s in subscribers:
            s.close()
        self.cleanup.release_state_dir(c.id)
        if c.host_config.auto_remove:
            # As moby: a container that was to be removed on exit is removed when it cannot start.
            asyncio.ensure_future(self._remove_quietly(c.id))
        else:
            self.waiters.notify(c, {"StatusCode": code, "Error": None}, exited=False)

    async def _remove_quietly(self, cid: str) -> None:
        try:
            await self.remove(cid, force=True, volumes=True)
        except BallenaError:
            pass

    # -- exits ------------------------------------------------------------------------------------

    async def exited(self, cid: str, status: ExitStatus) -> None:
        """The container's first process ended (its monitor said so, or vanished): record it,
        release what it held, tell waiters, and apply ``--rm`` or the restart policy."""
        trace.mark("daemon: exited")
        try:
            c = self.store.get(cid)
        except NotFound:
            return
        c = c.with_state(
            status="exited",
            pid=0,
            exit_code=status.exit_code,
            oom_killed=status.oom_killed,
            finished_at_ns=status.finished_at or now_ns(),
            error="monitor lost" if status.lost else "",
        )
        if self.sandboxes is not None:
            await self.sandboxes.release(c, netns_shared=self._netns_shared(c))
            c = replace(
                c,
                ports={},
                networks={name: ep.stopped() for name, ep in c.networks.items()},
            )
        trace.mark("daemon: sandbox released")
        self.store.save(c, durable=False)
        self.cleanup.release_state_dir(cid)
        if self.volumes is not None:
            for m in c.mounts:
                if m.type == "volume" and m.name:
                    self.volumes.unmount(m.name)
        if status.oom_killed:
            self.events.publish(c, "oom")
        self.events.publish(c, "die", exitCode=str(status.exit_code))
        self.waiters.notify(c, {"StatusCode": status.exit_code, "Error": None}, exited=True)
        if c.host_config.auto_remove:
            try:
                await self.remove(cid, force=True, volumes=True)
            except NotFound:
                pass
            trace.mark("daemon: auto-removed")
            return
        if should_restart(c):
            c = replace(c, restart_count=c.restart_count + 1).with_state(status="restarting")
            self.store.save(c)
            self.restarts.schedule(c)

    async def _restart_now(self, cid: str) -> None:
        """The restart policy's turn came: start the container unless someone stopped it
        meanwhile."""
        async with self.locks(cid):
            cur = self.store.get(cid)
            if cur.state.status != "restarting" or cur.manually_stopped:
                return
            await self._start_locked(cur)
            self.events.publish(cur, "restart")

    # -- stop, kill, restart ----------------------------------------------------------------

    def _stop_signal(self, c: Container, override: str | None) -> int:
        return signals.parse(override or c.config.stop_signal or "SIGTERM")

    async def stop(self, ref: str, *, timeout: int | None = None, signal_name: str | None = None) -> None:
        """Signal the container, then kill it after ``timeout`` seconds (its StopTimeout, or
        10). Raises NotModified when it is not running, InvalidArgument for a bad signal."""
        c = self.queries.get(ref)
        if c.state.status == "restarting":
            self.restarts.cancel(c.id)
            self.store.save(replace(c, manually_stopped=True).with_state(status="exited"))
            return
        if not c.state.running:
            raise NotModified("container already stopped")
        sig = self._stop_signal(c, signal_name)
        if timeout is None:
            timeout = c.config.stop_timeout
            if timeout is None:
                timeout = DEFAULT_STOP_TIMEOUT
        c = replace(c, manually_stopped=True)
        self.store.save(c)
        await self._stop_process(c, sig, timeout)
        self.events.publish(self.store.get(c.id), "stop")

    async def _stop_process(self, c: Container, sig: int, timeout: int) -> None:
        if not self.supervisor.running(c.id):
            return
        if c.state.status == "paused":
            await self.supervisor.thaw(c)
        if sig != _signal.SIGKILL and timeout != 0:
            self.events.publish(c, "kill", signal=str(sig))
            await self.supervisor.kill(c.id, sig)
            if await self.supervisor.wait_exited(c.id, timeout if timeout > 0 else None):
                await self._exit_recorded(c.id)
                return
            log.info("container %s did not stop within %ss after signal %d: killing it", c.short_id, timeout, sig)
        self.events.publish(c, "kill", signal=str(int(_signal.SIGKILL)))
        await self.supervisor.kill(c.id, int(_signal.SIGKILL), all=True)
        await self.supervisor.wait_exited(c.id)
        await self._exit_recorded(c.id)

    async def _exit_recorded(self, cid: str) -> None:
        """The task ended; wait (briefly) until ``exited`` has recorded it."""
        for _ in range(1000):
            try:
                if self.store.get(cid).state.status != "running":
                    return
            except NotFound:
                return
            await asyncio.sleep(0.002)

    async def kill(self, ref: str, signal_name: str | None = None) -> None:
        """Send a signal (SIGKILL by default). Raises Conflict when not running,
        InvalidArgument for a bad signal."""
        c = self.queries.get(ref)
        sig = signals.parse(signal_name) if signal_name else int(_signal.SIGKILL)
        if not c.state.running or c.state.status == "restarting" or not self.supervisor.running(c.id):
            raise Conflict(f"cannot kill container: {ref}: container {c.id} is not running")
        if sig == _signal.SIGKILL:
            c = replace(c, manually_stopped=True)
            self.store.save(c)
        self.events.publish(c, "kill", signal=str(sig))
        if c.state.status == "paused" and sig == _signal.SIGKILL:
            await self.supervisor.thaw(c)
        await self.supervisor.kill(c.id, sig, all=sig == _signal.SIGKILL)
        if sig == _signal.SIGKILL:
            await self.supervisor.wait_exited(c.id)
            await self._exit_recorded(c.id)

    async def restart(self, ref: str, *, timeout: int | None = None, signal_name: str | None = None) -> None:
        c = self.queries.get(ref)
        async with self.locks(c.id):
            c = self.store.get(c.id)
            if c.state.running and c.state.status != "restarting":
                sig = self._stop_signal(c, signal_name)
                t = timeout if timeout is not None else (c.config.stop_timeout or DEFAULT_STOP_TIMEOUT)
                await self._stop_process(c, sig, t)
            elif c.state.status == "restarting":
                self.restarts.cancel(c.id)
            await self._start_locked(replace(self.store.get(c.id), manually_stopped=False))
        self.events.publish(self.store.get(c.id), "restart")

    # -- remove ---------------------------------------------------------------------------------

    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        """Remove a container (``force``: kill it first; ``volumes``: its anonymous volumes
        too). Raises Conflict for a running one without ``force``, or a removal in progress."""
        c = self.queries.get(ref)
        if c.state.status == "removing":
            raise Conflict(f"removal of container {c.id} is already in progress")
        if c.state.running and c.state.status != "restarting":
            if not force:
                if c.state.status == "paused":
                    raise Conflict(
                        f'cannot remove container "/{c.name}": container is paused and must be unpaused first'
                    )
                raise Conflict(
                    f'cannot remove container "/{c.name}": container is running: stop the container '
                    "before removing or force remove"
                )
            await self._stop_process(replace(c, manually_stopped=True), int(_signal.SIGKILL), 0)
        self.restarts.cancel(c.id)
        c = self.store.get(c.id)
        self.store.update(c.with_state(status="removing"))
        try:
            trash = await asyncio.to_thread(self.cleanup.remove_files, c, volumes=volumes)
        except BaseException:
            self.store.update(c)
            raise
        self.supervisor.drop(c.id)
        for forget in self.on_removed:
            forget(c)
        self.locks.forget(c.id)
        self.events.publish(c, "destroy")
        self.waiters.notify(c, {"StatusCode": c.state.exit_code, "Error": None}, exited=True, removed=True)
        self.cleanup.discard(trash)

    # -- wait -----------------------------------------------------------------------------------

    def register_wait(self, ref: str, condition: str = "not-running") -> asyncio.Future[dict[str, Any]]:
        """A future for the wait condition, registered now (see ``waits.Waiters``). Raises
        InvalidArgument for an unknown condition, NotFound."""
        return self.waiters.register(self.queries.get(ref), condition)

    async def wait(self, ref: str, condition: str = "not-running") -> dict[str, Any]:
        return await self.register_wait(ref, condition)

    # -- rename, pause, update ------------------------------------------------------------------

    async def rename(self, ref: str, new_name: str) -> None:
        c = self.queries.get(ref)
        if not new_name:
            raise InvalidArgument("Neither old nor new names may be empty")
        new_name = check_name(new_name)
        if new_name == c.name:
            raise InvalidArgument("Renaming a container with the same name as its current name")
        old = c.name
        self.store.reserve_name(new_name, c.id)
        c = replace(c, name=new_name)
        self.store.save(c)
        self.store.release_name(old)
        if self.sandboxes is not None:
            self.sandboxes.renamed(c)
        self.events.publish(c, "rename", oldName=f"/{old}")

    async def remove_link(self, name: str) -> None:
        """``docker rm --link /container/alias``: the container keeps running; its next start
        has no such link. Raises NotFound, InvalidArgument for a name that is no link."""
        parent, _, alias = name.strip("/").rpartition("/")
        if not parent or not alias:
            raise InvalidArgument("Conflict, cannot remove the default link name of the container")
        c = self.queries.get(parent)
        async with self.locks(c.id):
            c = self.store.get(c.id)
            self.store.save(replace(c, host_config=c.host_config.with_(links=without_link(c, alias))))

    async def update(self, ref: str, body: UpdateConfig) -> list[str]:
        """``docker update``: new resource limits (applied at once to a running container's
        cgroup, by its monitor) and restart policy. Returns warnings; raises InvalidArgument."""
        c = self.queries.get(ref)
        async with self.locks(c.id):
            c = self.store.get(c.id)
            try:
                host_config, apply = resources.merge_update(c.host_config, body)
            except InvalidArgument as e:
                raise InvalidArgument(f"Cannot update container {c.id}: {e.message}") from None
            task = self.supervisor.task(c.id)
            if c.state.running and apply and task is not None:
                try:
                    await task.update(apply)
                except (SystemFailure, Conflict, Unavailable) as e:
                    raise InvalidArgument(f"Cannot update container {c.id}: {e.message}") from None
            c = replace(c, host_config=host_config)
            self.store.save(c)
        self.events.publish(c, "update")
        return []

    async def pause(self, ref: str) -> None:
        """Raises Conflict (not running, already paused), SystemFailure."""
        await self.supervisor.pause(self.queries.get(ref))

    async def unpause(self, ref: str) -> None:
        """Raises Conflict when not paused."""
        await self.supervisor.unpause(self.queries.get(ref))

    def _netns_shared(self, c: Container) -> bool:
        """Another running container lives in ``c``'s network namespace (``--network
        container:<c>``)."""
        joined = (f"container:{c.id}", f"container:{c.name}")
        return any(o.id != c.id and o.state.running and o.host_config.network_mode in joined for o in self.store.all())

    # -- prune ----------------------------------------------------------------------------------

    async def prune(self, filters: Filters) -> tuple[list[str], int]:
        until = min(parse_api_timestamp(v) for v in filters.get("until")) if "until" in filters else None
        removed, reclaimed = [], 0
        for c in self.store.all():
            if c.state.running:
                continue
            if until is not None and c.created_ns > until:
                continue
            if "label" in filters and not filters.match_labels("label", dict(c.labels)):
                continue
            if "label!" in filters and filters.match_labels("label!", dict(c.labels)):
                continue
            size = await asyncio.to_thread(self.queries.size_rw, c)
            try:
                await self.remove(c.id)
            except BallenaError:
                continue
            removed.append(c.id)
            reclaimed += size
        return removed, reclaimed

    # -- daemon start and stop ----------------------------------------------------------------

    async def recover(self) -> None:
        """At start-up: follow the monitors of running containers again (``Supervisor.restore``),
        settle those that exited meanwhile and interrupted removals, and start what the
        restart policies say should run."""
        restored = await self.supervisor.restore(self.store.load())
        for c in restored.removing:
            try:
                await asyncio.to_thread(self.cleanup.remove_files, c, volumes=False)
            except BallenaError:
                pass
        for c, status in restored.exited:
            await self.exited(c.id, status)
        if self.sandboxes is not None:
            await self.sandboxes.restore([c for c in self.store.all() if self.supervisor.running(c.id)])
        for c in self.store.all():
            policy = c.host_config.restart_policy.name or "no"
            if c.state.running or not c.has_been_started or c.manually_stopped:
                continue
            if policy in ("always", "unless-stopped"):
                try:
                    await self.start(c.id)
                except BallenaError as e:
                    log.warning("could not restart %s: %s", c.name, e.message)
        for c in list(self.store.all()):
            if c.build_step:  # its build died with the daemon: nothing will ever use it
                try:
                    await self.remove(c.id, force=True, volumes=True)
                except BallenaError as e:
                    log.warning("could not remove the build container %s: %s", c.short_id, e.message)

    async def shutdown(self) -> None:
        """The daemon stops; containers keep running (live-restore)."""
        self.restarts.cancel_all()
        await self.supervisor.shutdown()
        if self.sandboxes is not None:
            await self.sandboxes.shutdown()


def _starting_health(c: Container) -> Health:
    """As moby's initHealthMonitor: a started container is ``starting`` again, its streak
    reset, the last probes' log kept."""
    before = c.state.health
    return Health(status="starting", failing_streak=0, log=before.log if before is not None else ())
