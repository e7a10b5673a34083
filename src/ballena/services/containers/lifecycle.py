"""A container's life: create, start, stop, kill, restart, remove, wait, rename, pause, update,
and what happens when it exits (restart policies, ``--rm``). Start-up recovery is here too:
the records are reconciled with the monitors still running.

The state machine (``core.containers``) is changed only here, under a per-container lock for
the transitions that take time (start, restart, update).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal as _signal
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from ballena.core.containerconfig import ContainerConfig, EndpointSettings, HostConfig, NetworkingConfig, UpdateConfig
from ballena.core.containers import Container
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
from ballena.services.containers.events import ContainerEvents
from ballena.services.containers.layout import HostDefaults, Paths
from ballena.services.containers.queries import ContainerQueries
from ballena.services.containers.requests import check_name, normalize_create
from ballena.services.containers.supervision import Subscriber, Supervisor
from ballena.services.networks import NetworkService
from ballena.services.volumes import VolumeService
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
        zygote: Zygote,
        paths: Paths,
        events: ContainerEvents,
        defaults: HostDefaults,
        volumes: VolumeService | None = None,
        network: NetworkService | None = None,
    ) -> None:
        self.store = store
        self.queries = queries
        self.images = images
        self.bundles = bundles
        self.supervisor = supervisor
        self.zygote = zygote
        self.paths = paths
        self.events = events
        self.defaults = defaults
        self.volumes = volumes
        self.network = network
        self.on_removed: list[Callable[[Container], None]] = []  # e.g. Execs.forget
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiters: dict[str, list[tuple[str, asyncio.Future[dict[str, Any]]]]] = {}
        self._restarts: dict[str, asyncio.Task[None]] = {}
        supervisor.on_exit = self.exited

    def _lock(self, cid: str) -> asyncio.Lock:
        lock = self._locks.get(cid)
        if lock is None:
            lock = self._locks[cid] = asyncio.Lock()
        return lock

    # -- create ---------------------------------------------------------------------------------

    async def create(
        self,
        *,
        name: str | None,
        config: ContainerConfig,
        host_config: HostConfig,
        networking: NetworkingConfig | None = None,
    ) -> tuple[Container, list[str]]:
        """A new container (not started). Raises InvalidArgument for a bad request, NotFound
        for an unknown image, network or ``--volumes-from`` container, Conflict for a name
        in use."""
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
            if self.network is not None:
                endpoints = self.network.initial_endpoints(hc, req.networking)
            if not cfg.hostname:
                cfg = cfg.with_(hostname=socket.gethostname() if net_mode == "host" else cid[:12])
            if net_mode.startswith("container:"):
                self.queries.get(net_mode.split(":", 1)[1])
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
            )
            await asyncio.to_thread(self.bundles.prepare_filesystem, c, image.top_layer)
            self.store.save(c)
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
        async with self._lock(c.id):
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
        # Moving the init into its cgroup is cheap right after a migration in the daemon's own
        # cgroup (runtime.cgroups.warm_migrations): pay that on a thread while the bundle is made.
        asyncio.get_running_loop().run_in_executor(None, cgroups.warm_migrations)
        subscribers = self.supervisor.take_pending(c.id)
        wire = self.network is not None and bool(c.networks)
        try:
            if self.network is not None and c.networks:
                await self.network.ready()
                c = replace(c, networks=self.network.plan(c))
                c = replace(c, ports=self.network.reserve_ports(c))
            cfg = await asyncio.to_thread(
                self.bundles.write,
                c,
                attach_stdout=bool(subscribers),
                attach_stderr=bool(subscribers),
                autostart=not wire,
            )
            trace.mark("daemon: bundle written")
            task = await Task.create(self.zygote, cfg)
        except BallenaError as e:
            if self.network is not None:
                await self.network.release(c)
            self._fail_start(c, e, subscribers)
            raise
        if task.created and self.network is not None:
            trace.mark("daemon: attaching network")
            try:
                await self.network.attach(c, task.pid)
                trace.mark("daemon: network attached")
                await task.start()
            except BaseException as e:
                await task.cancel()
                await self.network.release(c)
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
        )
        trace.mark("daemon: monitor says running")
        self.store.save(c, durable=False)
        self.supervisor.adopt(c.id, task, subscribers)
        self.events.publish(c, "start")
        trace.mark("daemon: started")
        return c

    def _fail_start(self, c: Container, err: BallenaError, subscribers: list[Subscriber]) -> None:
        code = err.exit_code if isinstance(err, CommandNotRunnable | RuntimeFailure) else 128
        status = "exited" if c.has_been_started else "created"
        self.store.save(c.with_state(status=status, error=err.message, exit_code=code, pid=0))
        for s in subscribers:
            s.close()
        self._release_state_dir(c.id)
        if c.host_config.auto_remove:
            # As moby: a container that was to be removed on exit is removed when it cannot start.
            asyncio.ensure_future(self._remove_quietly(c.id))
        else:
            self._notify_waiters(c, {"StatusCode": code, "Error": None}, exited=False)

    async def _remove_quietly(self, cid: str) -> None:
        try:
            await self.remove(cid, force=True, volumes=True)
        except BallenaError:
            pass

    # -- exits ------------------------------------------------------------------------------------

    async def exited(self, cid: str, status: ExitStatus) -> None:
        """The container's first process ended (its monitor said so, or vanished): record it,
        release what it held, tell waiters, and apply ``--rm`` or the restart policy."""
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
        if self.network is not None:
            await self.network.release(c, netns_shared=self._netns_shared(c))
            c = replace(
                c,
                ports={},
                networks={name: ep.stopped() for name, ep in c.networks.items()},
            )
        self.store.save(c, durable=False)
        self._release_state_dir(cid)
        if self.volumes is not None:
            for m in c.mounts:
                if m.type == "volume" and m.name:
                    self.volumes.unmount(m.name)
        if status.oom_killed:
            self.events.publish(c, "oom")
        self.events.publish(c, "die", exitCode=str(status.exit_code))
        self._notify_waiters(c, {"StatusCode": status.exit_code, "Error": None}, exited=True)
        if c.host_config.auto_remove:
            try:
                await self.remove(cid, force=True, volumes=True)
            except NotFound:
                pass
            return
        if self._should_restart(c):
            self._schedule_restart(c)

    def _should_restart(self, c: Container) -> bool:
        policy = c.host_config.restart_policy
        name = policy.name or "no"
        if c.manually_stopped or name in ("no", ""):
            return False
        if name == "on-failure":
            if c.state.exit_code == 0:
                return False
            limit = policy.maximum_retry_count
            return limit == 0 or c.restart_count < limit
        return name in ("always", "unless-stopped")

    def _schedule_restart(self, c: Container) -> None:
        ran = (c.state.finished_at_ns - c.state.started_at_ns) / 1e9 if c.state.started_at_ns else 0
        # Docker's back-off: 100 ms doubling each time up to a minute; a run of 10 s resets it.
        count = 0 if ran >= 10 else c.restart_count
        delay = min(0.1 * (2**count), 60.0)
        c = replace(c, restart_count=c.restart_count + 1).with_state(status="restarting")
        self.store.save(c)

        async def later() -> None:
            await asyncio.sleep(delay)
            try:
                async with self._lock(c.id):
                    cur = self.store.get(c.id)
                    if cur.state.status != "restarting" or cur.manually_stopped:
                        return
                    await self._start_locked(cur)
                    self.events.publish(cur, "restart")
            except NotFound:
                return
            except BallenaError as e:
                log.warning("restarting %s failed: %s", c.name, e.message)
            finally:
                self._restarts.pop(c.id, None)

        self._restarts[c.id] = asyncio.ensure_future(later())

    def _cancel_restart(self, cid: str) -> None:
        task = self._restarts.pop(cid, None)
        if task is not None:
            task.cancel()

    # -- stop, kill, restart ----------------------------------------------------------------

    def _stop_signal(self, c: Container, override: str | None) -> int:
        return signals.parse(override or c.config.stop_signal or "SIGTERM")

    async def stop(self, ref: str, *, timeout: int | None = None, signal_name: str | None = None) -> None:
        """Signal the container, then kill it after ``timeout`` seconds (its StopTimeout, or
        10). Raises NotModified when it is not running, InvalidArgument for a bad signal."""
        c = self.queries.get(ref)
        if c.state.status == "restarting":
            self._cancel_restart(c.id)
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
            await self._thaw(c)
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
            await self._thaw(c)
        await self.supervisor.kill(c.id, sig, all=sig == _signal.SIGKILL)
        if sig == _signal.SIGKILL:
            await self.supervisor.wait_exited(c.id)
            await self._exit_recorded(c.id)

    async def restart(self, ref: str, *, timeout: int | None = None, signal_name: str | None = None) -> None:
        c = self.queries.get(ref)
        async with self._lock(c.id):
            c = self.store.get(c.id)
            if c.state.running and c.state.status != "restarting":
                sig = self._stop_signal(c, signal_name)
                t = timeout if timeout is not None else (c.config.stop_timeout or DEFAULT_STOP_TIMEOUT)
                await self._stop_process(c, sig, t)
            elif c.state.status == "restarting":
                self._cancel_restart(c.id)
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
        self._cancel_restart(c.id)
        c = self.store.get(c.id)
        self.store.update(c.with_state(status="removing"))
        try:
            trash = await asyncio.to_thread(self._remove_files, c, volumes)
        except BaseException:
            self.store.update(c)
            raise
        self.supervisor.drop(c.id)
        for forget in self.on_removed:
            forget(c)
        self._locks.pop(c.id, None)
        self.events.publish(c, "destroy")
        self._notify_waiters(c, {"StatusCode": c.state.exit_code, "Error": None}, exited=True, removed=True)
        self._discard(trash)

    def _remove_files(self, c: Container, volumes: bool) -> list[Path]:
        """Remove what the container owns; returns renamed-away directories still to delete."""
        self.sweep_lost_monitor(c)
        trash = self._rename_state_dir(c.id)
        if self.images.snapshots.exists(c.id):
            trash += filter(None, [self.images.snapshots.remove(c.id, defer=True)])
        trash += filter(None, [self.store.delete(c.id, defer=True)])
        if self.volumes is not None and (volumes or c.host_config.auto_remove):
            # Only the anonymous volumes this container made; named ones outlive it.
            for m in c.mounts:
                if m.type != "volume" or not m.name:
                    continue
                try:
                    v = self.volumes.get(m.name)
                except NotFound:
                    continue
                if v.anonymous and not self.queries.users_of_volume(v.name):
                    try:
                        self.volumes.remove(v.name)
                    except Conflict:
                        pass
        return trash

    def sweep_lost_monitor(self, c: Container) -> None:
        """Release what a monitor that is gone without finishing left behind: its rootfs
        mount and its cgroup (with any process still in it). A monitor owns both while it
        lives; this runs only when none does (blocking)."""
        if self.supervisor.running(c.id) or self.supervisor.has_monitor(c.id):
            return
        rootfs = self.paths.state_dir(c.id) / "rootfs"
        if _is_mountpoint(rootfs):
            try:
                linux.umount(str(rootfs), linux.MNT_DETACH)
            except OSError:
                pass
        cg = cgroups.Cgroup(self.paths.cgroup(c))
        if cg.exists():
            cg.kill_all()
            cg.remove(timeout=1)

    def _release_state_dir(self, cid: str) -> None:
        """The container no longer runs: its state directory goes (unless a monitor still
        has the root filesystem mounted there: then that monitor is not done)."""
        if not _is_mountpoint(self.paths.state_dir(cid) / "rootfs"):
            self._discard(self._rename_state_dir(cid))

    def _rename_state_dir(self, cid: str) -> list[Path]:
        """Move the container's runtime directory out of the way (to delete later)."""
        d = self.paths.state_dir(cid)
        trash = d.with_name(f".removing-{cid}-{os.urandom(4).hex()}")
        try:
            os.replace(d, trash)
        except FileNotFoundError:
            return []
        except OSError:
            shutil.rmtree(d, ignore_errors=True)
            return []
        return [trash]

    def _discard(self, trash: list[Path]) -> None:
        """Delete renamed-away directories on a thread, after the client has its answer: the
        container is gone once they are renamed (a restart deletes leftovers)."""
        if trash:
            asyncio.get_running_loop().run_in_executor(None, _rmtree_all, trash)

    # -- wait -----------------------------------------------------------------------------------

    def register_wait(self, ref: str, condition: str = "not-running") -> asyncio.Future[dict[str, Any]]:
        """A future for the wait condition, registered now (the docker CLI starts the container
        as soon as the wait request is answered, so registration must precede the answer).
        Raises InvalidArgument for an unknown condition, NotFound."""
        if condition not in ("not-running", "next-exit", "removed", ""):
            raise InvalidArgument(f'invalid condition: "{condition}"')
        c = self.queries.get(ref)
        condition = condition or "not-running"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if condition == "not-running" and not c.state.running:
            fut.set_result({"StatusCode": c.state.exit_code, "Error": None})
            return fut
        self._waiters.setdefault(c.id, []).append((condition, fut))
        return fut

    async def wait(self, ref: str, condition: str = "not-running") -> dict[str, Any]:
        return await self.register_wait(ref, condition)

    def _notify_waiters(self, c: Container, result: dict[str, Any], *, exited: bool, removed: bool = False) -> None:
        keep = []
        for cond, fut in self._waiters.pop(c.id, []):
            if fut.done():
                continue
            if cond == "removed" and not removed:
                if not exited:  # a failed start: the client must not hang
                    fut.set_result(result)
                    continue
                keep.append((cond, fut))
                continue
            fut.set_result(result)
        if keep:
            self._waiters[c.id] = keep

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
        if self.network is not None:
            self.network.renamed(c)
        self.events.publish(c, "rename", oldName=f"/{old}")

    async def update(self, ref: str, body: UpdateConfig) -> list[str]:
        """``docker update``: new resource limits (applied at once to a running container's
        cgroup, by its monitor) and restart policy. Returns warnings; raises InvalidArgument."""
        c = self.queries.get(ref)
        async with self._lock(c.id):
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
        c = self.queries.get(ref)
        task = self.supervisor.task(c.id)
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

    async def unpause(self, ref: str) -> None:
        c = self.queries.get(ref)
        if c.state.status != "paused":
            raise Conflict(f"Container {c.id} is not paused")
        await self._thaw(c)
        self.events.publish(self.store.get(c.id), "unpause")

    async def _thaw(self, c: Container) -> None:
        task = self.supervisor.task(c.id)
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
        task = self.supervisor.task(c.id)
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

    # -- networks -------------------------------------------------------------------------------

    async def connect_network(self, ref: str, net_ref: str, cfg: EndpointSettings) -> None:
        """``docker network connect``: a running container is wired at once, and switches to
        the embedded DNS when this is its first user network. Raises NotFound, InvalidArgument,
        Forbidden, Conflict."""
        if self.network is None:
            raise InvalidArgument("networking is not available")
        c = self.queries.get(ref)
        n = self.network.get(net_ref)
        async with self._lock(c.id):
            c = self.store.get(c.id)
            c = replace(c, networks=await self.network.connect(c, n, cfg))
            self.store.save(c)
            if c.state.running:
                await self.network.ensure_dns(c)
                await asyncio.to_thread(self.bundles.refresh_resolv_conf, c)

    async def disconnect_network(self, ref: str, net_ref: str, *, force: bool = False) -> None:
        if self.network is None:
            raise InvalidArgument("networking is not available")
        c = self.queries.get(ref)
        n = self.network.get(net_ref)
        async with self._lock(c.id):
            c = self.store.get(c.id)
            self.store.save(replace(c, networks=await self.network.disconnect(c, n, force=force)))

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
        """At start-up: follow the monitors of running containers again, settle those that
        exited meanwhile, finish interrupted removals, and start what the restart policies
        say should run."""
        if self.paths.state_root.is_dir():
            leftovers = [Path(e.path) for e in os.scandir(self.paths.state_root) if e.name.startswith(".removing-")]
            await asyncio.to_thread(_rmtree_all, leftovers)
        for c in self.store.load():
            if c.state.status == "removing":
                try:
                    await asyncio.to_thread(self._remove_files, c, False)
                except BallenaError:
                    pass
                continue
            # A record may say "created" although its monitor runs: the daemon died between
            # starting it and saving that. The monitor's socket tells.
            if not c.state.running and not self.supervisor.has_monitor(c.id):
                continue
            state = await self.supervisor.reconnect(c)
            if state is not None and state.status == "running":
                status = "paused" if state.paused or c.state.status == "paused" else "running"
                self.store.update(c.with_state(status=status, pid=state.pid or c.state.pid))
                log.info("reattached to running container %s (%s)", c.short_id, c.name)
                continue
            status_ = (
                ExitStatus.from_record(state.exit)
                if state is not None and state.exit
                else self.supervisor.exit_status(c.id) or ExitStatus(exit_code=255, finished_at=now_ns(), lost=True)
            )
            log.info("container %s exited while the daemon was away (status %s)", c.short_id, status_.exit_code)
            await asyncio.to_thread(self.sweep_lost_monitor, c)
            await self.exited(c.id, status_)
        if self.network is not None:
            await self.network.restore(
                [c for c in self.store.all() if c.state.running and self.supervisor.running(c.id)]
            )
        for c in self.store.all():
            policy = c.host_config.restart_policy.name or "no"
            if (
                not c.state.running
                and c.has_been_started
                and not c.manually_stopped
                and policy in ("always", "unless-stopped")
            ):
                try:
                    await self.start(c.id)
                except BallenaError as e:
                    log.warning("could not restart %s: %s", c.name, e.message)

    async def shutdown(self) -> None:
        """The daemon stops; containers keep running (live-restore)."""
        for task in list(self._restarts.values()):
            task.cancel()
        await self.supervisor.shutdown()
        if self.network is not None:
            await self.network.shutdown()


def _rmtree_all(paths: list[Path]) -> None:
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)


def _is_mountpoint(path: Path) -> bool:
    try:
        return os.path.ismount(path)
    except OSError:
        return False
