"""One lifecycle, every runtime driver: the same cases run against NativeDriver and RuncDriver
through a real monitor (forked from a real zygote) and the daemon's Task API, with no daemon.

Each case makes its own bundle on a copy of a static-busybox root filesystem and its own
cgroup under ``/ballena-it``; the monitor removes the cgroup when the container ends, and the
module checks that none is left.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ballena.errors import CommandNotRunnable
from ballena.runtime import cgroups
from ballena.runtime import spec as ocispec
from ballena.shim.config import MonitorConfig, RootfsMount, RuntimeSettings
from ballena.shim.spawner import Zygote
from ballena.shim.task import ExitStatus, Task

CGROUP_PARENT = "/ballena-it"
DRIVERS = ["native", pytest.param("runc", marks=pytest.mark.skipif(not shutil.which("runc"), reason="no runc"))]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A root filesystem of Debian's static busybox and its applets."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox-static is not installed")
    root = tmp_path_factory.mktemp("rootfs")
    for d in ("bin", "proc", "dev", "sys", "tmp", "etc", "root"):
        (root / d).mkdir()
    shutil.copy2(busybox, root / "bin" / "busybox")
    for applet in subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split():
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    yield root
    for d in cgroups.Cgroup(CGROUP_PARENT).dirs():
        leftovers = [p.name for p in Path(d).iterdir() if p.is_dir()] if os.path.isdir(d) else []
        assert leftovers == [], f"cgroups left in {d}: {leftovers}"
    cgroups.Cgroup(CGROUP_PARENT).remove()


class Harness:
    """Makes bundles and monitors for one test, on one driver."""

    def __init__(self, driver: str, template: Path, tmp: Path) -> None:
        self.driver = driver
        self.template = template
        self.tmp = tmp
        self.zygote = Zygote(log_path=tmp / "monitors.log")
        self.count = 0

    def config(self, args: list[str], *, tty: bool = False, resources: dict[str, Any] | None = None) -> MonitorConfig:
        self.count += 1
        cid = f"it{os.getpid()}x{self.count}{os.urandom(4).hex()}"
        state = self.tmp / "state" / cid
        (state / "rootfs").mkdir(parents=True)
        rootfs_copy = self.tmp / "fs" / cid
        shutil.copytree(self.template, rootfs_copy, symlinks=True)
        cgroup = f"{CGROUP_PARENT}/{cid}"
        spec = ocispec.build(
            ocispec.SpecInput(
                process=ocispec.ProcessSpec(args=tuple(args), env=("PATH=/bin", "HOME=/root"), terminal=tty),
                rootfs=str(state / "rootfs"),
                hostname=cid[:12],
                resources=resources or {},
                cgroups_path=cgroup,
            )
        )
        (state / "config.json").write_text(json.dumps(spec))
        if self.driver == "native":
            runtime = RuntimeSettings()
        else:
            runtime = RuntimeSettings(name="runc", path="runc", root=str(self.tmp / "runc"))
        return MonitorConfig(
            id=cid,
            bundle=str(state),
            state_dir=str(state),
            exit_file=str(state / "exit.json"),
            cgroup_path=cgroup,
            runtime=runtime,
            rootfs_mounts=(RootfsMount(type="bind", source=str(rootfs_copy), options=("rbind",)),),
            tty=tty,
            attach_stdout=True,
            attach_stderr=True,
            console_size=(30, 100) if tty else None,
            spec=spec if self.driver == "native" else None,
        )

    async def run(self, cfg: MonitorConfig) -> tuple[ExitStatus | None, dict[int, bytes]]:
        """Start ``cfg``, follow it to its exit: its status and what it wrote, by stream."""
        task = await Task.create(self.zygote, cfg)
        return await self.follow(task)

    @staticmethod
    async def follow(task: Task) -> tuple[ExitStatus | None, dict[int, bytes]]:
        out: dict[int, bytes] = {1: b"", 2: b""}

        def collect(stream: int, data: bytes) -> None:
            out[stream] += data

        status = await asyncio.wait_for(task.follow(collect), 30)
        return status, out


@pytest.fixture(params=DRIVERS)
def harness(request: pytest.FixtureRequest, template: Path, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(request.param, template, tmp_path)
    yield h
    h.zygote.stop()


def run(coro_fn: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(coro_fn())


def test_exit_code_and_output(harness: Harness) -> None:
    async def case() -> None:
        status, out = await harness.run(harness.config(["sh", "-c", "echo out; echo err >&2; exit 3"]))
        assert status is not None and status.exit_code == 3 and not status.oom_killed
        assert out == {1: b"out\n", 2: b"err\n"}

    run(case)


def test_command_not_found_is_127(harness: Harness) -> None:
    async def case() -> None:
        with pytest.raises(CommandNotRunnable) as e:
            await Task.create(harness.zygote, harness.config(["no-such-command"]))
        assert e.value.exit_code == 127
        assert "executable file not found" in e.value.message

    run(case)


def test_signals_reach_the_first_process_or_every_one(harness: Harness) -> None:
    async def case() -> None:
        script = 'trap "exit 7" TERM; echo ready; while true; do sleep 0.05; done'
        task = await Task.create(harness.zygote, harness.config(["sh", "-c", script]))
        follower = asyncio.ensure_future(harness.follow(task))
        await asyncio.sleep(0.3)
        await task.kill(signal.SIGTERM)
        status, out = await follower
        assert status is not None and status.exit_code == 7
        task = await Task.create(harness.zygote, harness.config(["sleep", "100"]))
        follower = asyncio.ensure_future(harness.follow(task))
        await task.kill(signal.SIGKILL, all=True)
        status, _ = await follower
        assert status is not None and status.exit_code == 137

    run(case)


def test_exec_runs_in_the_container(harness: Harness) -> None:
    async def case() -> None:
        cfg = harness.config(["sleep", "100"])
        task = await Task.create(harness.zygote, cfg)
        follower = asyncio.ensure_future(harness.follow(task))
        process = {
            "args": ["sh", "-c", "hostname; echo $X; exit 5"],
            "env": ["PATH=/bin", "X=from-exec"],
            "cwd": "/",
            "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
            "terminal": False,
        }
        ex = await task.exec("e1", process, stdin=False, console_size=None)
        got = b"".join([data async for _stream, data in ex.output()])
        assert got == f"{cfg.id[:12]}\nfrom-exec\n".encode()
        assert ex.exit_code == 5
        with pytest.raises(CommandNotRunnable) as e:
            await task.exec("e2", {**process, "args": ["nope"]}, stdin=False, console_size=None)
        assert e.value.exit_code == 127
        await task.kill(signal.SIGKILL, all=True)
        await follower

    run(case)


def test_tty_is_a_terminal_of_the_asked_size(harness: Harness) -> None:
    async def case() -> None:
        status, out = await harness.run(harness.config(["sh", "-c", "tty; stty size"], tty=True))
        assert status is not None and status.exit_code == 0
        text = out[1].decode()
        assert "/dev/pts/" in text and "30 100" in text
        assert "\r\n" in text  # the line discipline of a real terminal

    run(case)


def test_pause_freezes_and_resume_thaws(harness: Harness) -> None:
    async def case() -> None:
        cfg = harness.config(["sh", "-c", "while true; do sleep 0.05; done"])
        task = await Task.create(harness.zygote, cfg)
        follower = asyncio.ensure_future(harness.follow(task))
        cg = cgroups.Cgroup(cfg.cgroup_path)
        await task.pause()
        assert (await task.state()).paused
        assert Path(cg.v1_dir("freezer") or "", "freezer.state").read_text().strip() == "FROZEN"
        await task.resume()
        assert Path(cg.v1_dir("freezer") or "", "freezer.state").read_text().strip() == "THAWED"
        await task.update({"pids": {"limit": 7}})
        assert cg.read("pids", "pids.max") == "7\n"
        await task.kill(signal.SIGKILL, all=True)
        status, _ = await follower
        assert status is not None and status.exit_code == 137
        assert not cg.exists()  # the monitor removed its cgroup

    run(case)


def test_oom_kill_is_reported(harness: Harness) -> None:
    async def case() -> None:
        limit = 8 << 20
        cfg = harness.config(
            ["sh", "-c", "x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo survived"],
            resources={"memory": {"limit": limit, "swap": limit}},
        )
        status, out = await harness.run(cfg)
        assert status is not None and status.exit_code == 137 and status.oom_killed, (status, out)

    run(case)
