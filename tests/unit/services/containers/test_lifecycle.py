"""A container's life over real stores in a temporary directory and a fake task (no monitor,
no namespaces, no root): states, events, exit codes, restart policies, --rm, stop timeouts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ballena.core.containerconfig import ContainerConfig, HostConfig, RestartPolicy
from ballena.errors import CommandNotRunnable, Conflict, NotFound, NotModified
from ballena.services.containers import (
    Bundles,
    ContainerEvents,
    ContainerQueries,
    HostDefaults,
    Lifecycle,
    LogDefaults,
    Paths,
    RuntimeInfo,
    Supervisor,
)
from ballena.services.events import EventBus
from ballena.shim.config import MonitorConfig
from ballena.shim.task import ExitStatus
from ballena.stores.containers import ContainerStore
from ballena.stores.content import LocalContentStore
from ballena.stores.images import ImageStore
from ballena.stores.metadata import Database
from ballena.stores.snapshots import OverlaySnapshotter

RUNTIMES = {"ballena": RuntimeInfo(name="ballena", path="native")}


class FakeTask:
    """A container whose process the test controls: ``exit(code)`` ends it; signals end it
    unless it ignores them."""

    def __init__(self, cfg: MonitorConfig, *, ignores: tuple[int, ...] = ()) -> None:
        self.cfg = cfg
        self.id = cfg.id
        self.pid = 4242
        self.created = False
        self.ignores = ignores
        self.signals: list[int] = []
        self._exit: asyncio.Future[ExitStatus] = asyncio.get_running_loop().create_future()
        self.paused = False

    def exit(self, code: int) -> None:
        if not self._exit.done():
            self._exit.set_result(ExitStatus(exit_code=code, finished_at=1))

    async def follow(
        self, on_output: Callable[[int, bytes], None], on_health: Callable[[dict[str, Any]], None] | None = None
    ) -> ExitStatus | None:
        self.on_health = on_health
        on_output(1, b"hello\n")
        return await self._exit

    async def kill(self, signal: int, *, all: bool = False) -> None:
        self.signals.append(signal)
        if signal not in self.ignores:
            self.exit(128 + signal)

    async def attach(self, **kw: Any) -> None:
        pass

    async def pause(self) -> None:
        self.paused = True

    async def resume(self) -> None:
        self.paused = False

    async def update(self, resources: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


class World:
    def __init__(self, tmp: Path) -> None:
        db = Database(tmp / "m.db")
        self.images = ImageStore(
            db=db, content=LocalContentStore(tmp / "content"), snapshots=OverlaySnapshotter(tmp / "snap", db)
        )
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": []},
        }
        self.image_id = self.images.put_image(json.dumps(config).encode(), parent="")
        from ballena.pkg import reference

        self.images.tag(reference.parse_normalized("base:latest").tagged_or_latest(), self.image_id)
        self.store = ContainerStore(tmp / "containers")
        self.paths = Paths(data_root=tmp, exec_root=tmp / "exec", cgroup_parent="/ballena-unit")
        self.bus = EventBus()
        self.bus.bind_loop(asyncio.get_running_loop())
        self.events: list[tuple[str, str]] = []
        real_publish = self.bus.publish

        def publish(kind: str, action: str, actor: str, attrs: dict[str, str]) -> None:
            self.events.append((action, attrs.get("exitCode", "")))
            real_publish(kind, action, actor, attrs)

        self.bus.publish = publish  # type: ignore[method-assign]
        events = ContainerEvents(self.bus)
        self.queries = ContainerQueries(
            store=self.store, images=self.images, paths=self.paths, log_defaults=LogDefaults(), cgroup_version="1"
        )
        self.supervisor = Supervisor(store=self.store, paths=self.paths, events=events)
        bundles = Bundles(
            images=self.images, store=self.store, paths=self.paths, runtimes=RUNTIMES, lookup=self.queries.get
        )
        self.tasks: list[FakeTask] = []
        self.spawn_error: Exception | None = None
        self.ignores: tuple[int, ...] = ()
        self.lifecycle = Lifecycle(
            store=self.store,
            queries=self.queries,
            images=self.images,
            bundles=bundles,
            supervisor=self.supervisor,
            spawn=self._spawn,
            paths=self.paths,
            events=events,
            defaults=HostDefaults(runtimes=RUNTIMES),
        )

    async def _spawn(self, cfg: MonitorConfig) -> FakeTask:
        if self.spawn_error is not None:
            raise self.spawn_error
        t = FakeTask(cfg, ignores=self.ignores)
        self.tasks.append(t)
        return t

    async def run(self, hc: HostConfig | None = None, **cfg: Any) -> str:
        c, _ = await self.lifecycle.create(
            name=None, config=ContainerConfig(image="base", **cfg), host_config=hc or HostConfig()
        )
        await self.lifecycle.start(c.id)
        return c.id

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0.01)


def world_case(fn: Callable[[World], Any]) -> Callable[[Path], None]:
    def test(tmp_path: Path) -> None:
        async def main() -> None:
            await fn(World(tmp_path))

        asyncio.run(main())

    test.__name__ = fn.__name__
    return test


@world_case
async def test_start_run_exit(w: World) -> None:
    cid = await w.run()
    c = w.store.get(cid)
    assert c.state.status == "running" and c.state.pid == 4242 and c.has_been_started
    with pytest.raises(NotModified):
        await w.lifecycle.start(cid)
    fut = w.lifecycle.register_wait(cid)
    w.tasks[0].exit(3)
    assert (await fut)["StatusCode"] == 3
    c = w.store.get(cid)
    assert c.state.status == "exited" and c.state.exit_code == 3 and c.state.pid == 0
    assert ("create", "") in w.events and ("start", "") in w.events and ("die", "3") in w.events


@world_case
async def test_a_command_that_cannot_run_leaves_the_container_created_with_its_code(w: World) -> None:
    c, _ = await w.lifecycle.create(
        name="nope", config=ContainerConfig(image="base", cmd=("nope",)), host_config=HostConfig()
    )
    w.spawn_error = CommandNotRunnable('exec: "nope": executable file not found in $PATH', 127)
    fut = w.lifecycle.register_wait(c.id, "removed")
    with pytest.raises(CommandNotRunnable):
        await w.lifecycle.start(c.id)
    c = w.store.get(c.id)
    assert c.state.status == "created" and c.state.exit_code == 127 and "executable file not found" in c.state.error
    assert (await fut)["StatusCode"] == 127  # a waiter never hangs on a failed start


@world_case
async def test_on_failure_restarts_up_to_its_limit(w: World) -> None:
    cid = await w.run(HostConfig(restart_policy=RestartPolicy(name="on-failure", maximum_retry_count=2)))
    for _ in range(3):
        w.tasks[-1].exit(1)
        await asyncio.sleep(0.35)
    c = w.store.get(cid)
    assert len(w.tasks) == 3 and c.restart_count == 2 and c.state.status == "exited"
    assert [a for a, _ in w.events].count("restart") == 2


@world_case
async def test_auto_remove_removes_after_the_exit(w: World) -> None:
    cid = await w.run(HostConfig(auto_remove=True))
    w.tasks[0].exit(0)
    await w.settle()
    with pytest.raises(NotFound):
        w.store.get(cid)
    assert ("destroy", "") in w.events


@world_case
async def test_stop_sends_the_stop_signal_then_kills_after_the_timeout(w: World) -> None:
    cid = await w.run(stop_signal="SIGINT")
    await w.lifecycle.stop(cid, timeout=5)
    assert w.tasks[0].signals == [2] and w.store.get(cid).state.exit_code == 130
    w.ignores = (15,)
    cid = await w.run()
    await w.lifecycle.stop(cid, timeout=0.1)  # type: ignore[arg-type]
    assert w.tasks[1].signals == [15, 9] and w.store.get(cid).state.exit_code == 137
    assert w.store.get(cid).manually_stopped


@world_case
async def test_a_running_container_is_removed_only_by_force(w: World) -> None:
    cid = await w.run()
    with pytest.raises(Conflict):
        await w.lifecycle.remove(cid)
    await w.lifecycle.remove(cid, force=True)
    assert not w.store.exists(cid) and w.tasks[0].signals == [9]


@world_case
async def test_pause_and_unpause_go_through_the_task(w: World) -> None:
    cid = await w.run()
    await w.lifecycle.pause(cid)
    assert w.tasks[0].paused and w.store.get(cid).state.status == "paused"
    with pytest.raises(Conflict):
        await w.lifecycle.pause(cid)
    await w.lifecycle.unpause(cid)
    assert not w.tasks[0].paused and w.store.get(cid).state.status == "running"


@world_case
async def test_rename_moves_the_name(w: World) -> None:
    c, _ = await w.lifecycle.create(name="old", config=ContainerConfig(image="base"), host_config=HostConfig())
    await w.lifecycle.rename("old", "new")
    assert w.queries.get("new").id == c.id
    with pytest.raises(NotFound):
        w.queries.get("old")
    await w.lifecycle.create(name="old", config=ContainerConfig(image="base"), host_config=HostConfig())
    with pytest.raises(Conflict):
        await w.lifecycle.rename("new", "old")


@world_case
async def test_the_bundle_is_what_the_monitor_gets(w: World) -> None:
    cid = await w.run(env=("A=1",), tty=True)
    cfg = w.tasks[0].cfg
    assert cfg.id == cid and cfg.tty and cfg.runtime.native and cfg.seccomp_bpf
    assert cfg.spec is not None and "A=1" in cfg.spec["process"]["env"] and "TERM=xterm" in cfg.spec["process"]["env"]
    assert cfg.cgroup_path == f"/ballena-unit/{cid}"
    assert (w.paths.state_dir(cid) / "config.json").exists()
