"""The daemon's Task API against a fake monitor played by the test (no processes, no root)."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from ballena.errors import CommandNotRunnable, Conflict, RuntimeFailure, SystemFailure, Unavailable
from ballena.pkg import framing
from ballena.shim import messages as m
from ballena.shim.channel import Channel
from ballena.shim.task import ExitStatus, Task


def _send(sock: socket.socket, msg: m.Event) -> None:
    framing.send_json(sock, m.encode(msg))


async def _task(tmp_path: Path) -> tuple[Task, socket.socket]:
    ours, monitor = socket.socketpair()
    channel = await Channel.from_socket(ours)
    return Task("c1", tmp_path, channel, pid=42), monitor


def test_follow_delivers_output_and_returns_the_exit(tmp_path: Path) -> None:
    async def case() -> None:
        task, monitor = await _task(tmp_path)
        framing.send(monitor, framing.STDOUT, b"out")
        framing.send(monitor, framing.STDERR, b"err")
        _send(monitor, m.Exited(exit_code=3, oom_killed=True, finished_at=5))
        monitor.close()
        got: list[tuple[int, bytes]] = []
        status = await task.follow(lambda s, d: got.append((s, d)))
        assert got == [(1, b"out"), (2, b"err")]
        assert status == ExitStatus(exit_code=3, oom_killed=True, finished_at=5)

    asyncio.run(case())


def test_follow_of_a_vanished_monitor_is_none(tmp_path: Path) -> None:
    async def case() -> None:
        task, monitor = await _task(tmp_path)
        monitor.close()
        assert await task.follow(lambda s, d: None) is None

    asyncio.run(case())


def test_kill_resize_and_stdin_are_frames_on_the_control_channel(tmp_path: Path) -> None:
    async def case() -> None:
        task, monitor = await _task(tmp_path)
        await task.kill(15, all=True)
        await task.resize(10, 20)
        await task.write_stdin(b"data")
        await task.close_stdin()
        monitor.settimeout(2)
        got = []
        for _ in range(4):
            frame = framing.recv(monitor)
            assert frame is not None
            got.append(m.decode_request(json.loads(frame[1])) if frame[0] == framing.JSON else frame[1])
        assert got == [m.Kill(signal=15, all=True), m.Resize(height=10, width=20), b"data", m.CloseStdin()]
        monitor.close()
        task.close()

    asyncio.run(case())


class FakeMonitor:
    """A monitor.sock that answers each connection's requests with ``answer(request)``."""

    def __init__(self, state_dir: Path, answer: Any) -> None:
        self.path = state_dir / "monitor.sock"
        self.answer = answer
        self.server: asyncio.base_events.Server | None = None

    async def __aenter__(self) -> FakeMonitor:
        self.server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = framing.Decoder()
        while data := await reader.read(65536):
            for kind, payload in decoder.feed(data):
                req = m.decode_request(json.loads(payload)) if kind == framing.JSON else None
                for reply in self.answer(req):
                    writer.write(framing.encode_json(m.encode(reply)))
                await writer.drain()
        writer.close()


def test_requests_with_answers_use_a_connection_of_their_own(tmp_path: Path) -> None:
    def answer(req: m.Request | None) -> list[m.Event]:
        match req:
            case m.Hello():
                return [m.State(status="running", pid=42)]
            case m.GetState():
                return [m.State(status="running", pid=42, paused=True)]
            case m.Pause():
                return [m.Reply()]
            case m.Update():
                return [m.Reply(error="container c1 is not running", kind="Conflict")]
            case m.Resume():
                return [m.Reply(error="EBUSY", kind="SystemFailure")]
        return []

    async def case() -> None:
        task, monitor = await _task(tmp_path)
        async with FakeMonitor(tmp_path, answer):
            assert (await task.state()).paused
            await task.pause()
            with pytest.raises(Conflict):
                await task.update({"pids": {"limit": 1}})
            with pytest.raises(SystemFailure):
                await task.resume()
        monitor.close()
        task.close()

    asyncio.run(case())


def test_a_monitor_that_is_gone_is_unavailable(tmp_path: Path) -> None:
    async def case() -> None:
        task, monitor = await _task(tmp_path)
        with pytest.raises(Unavailable):
            await task.state()
        with pytest.raises(Unavailable):
            await Task.connect("c1", tmp_path)
        monitor.close()
        task.close()

    asyncio.run(case())


def test_exec_failures_carry_the_exit_status(tmp_path: Path) -> None:
    def answer(req: m.Request | None) -> list[m.Event]:
        if isinstance(req, m.Exec):
            if req.process["args"] == ["nope"]:
                return [m.ExecFailed(message='exec: "nope": executable file not found in $PATH', exit_code=127)]
            if req.process["args"] == ["broken"]:
                return [m.ExecFailed(message="OCI runtime exec failed: ENOMEM", exit_code=126)]
            return [m.ExecStarted(pid=9), m.ExecExited(exit_code=4)]
        return []

    async def case() -> None:
        task, monitor = await _task(tmp_path)
        async with FakeMonitor(tmp_path, answer):
            with pytest.raises(CommandNotRunnable) as e:
                await task.exec("e", {"args": ["nope"]}, stdin=False, console_size=None)
            assert e.value.exit_code == 127
            with pytest.raises(CommandNotRunnable):
                await task.exec("e", {"args": ["broken"]}, stdin=False, console_size=None)
            ex = await task.exec("e", {"args": ["true"]}, stdin=False, console_size=(24, 80))
            assert ex.pid == 9
            assert [x async for x in ex.output()] == []
            assert ex.exit_code == 4
        monitor.close()
        task.close()

    asyncio.run(case())


def test_create_reports_a_failed_start(tmp_path: Path) -> None:
    class FakeZygote:
        def __init__(self, event: m.Event) -> None:
            self.event = event

        async def spawn(self, cfg: Any) -> tuple[int, Channel]:
            ours, monitor = socket.socketpair()
            _send(monitor, self.event)
            monitor.close()
            return 1, await Channel.from_socket(ours)

    from ballena.shim.config import MonitorConfig

    cfg = MonitorConfig(id="c", bundle="/b", state_dir=str(tmp_path), exit_file="/e", cgroup_path="")

    async def case() -> None:
        with pytest.raises(RuntimeFailure):
            await Task.create(FakeZygote(m.Failed(message="mount: EPERM", exit_code=128)), cfg)  # type: ignore[arg-type]
        with pytest.raises(CommandNotRunnable):
            await Task.create(FakeZygote(m.Failed(message="x: executable file not found", exit_code=127)), cfg)  # type: ignore[arg-type]
        task = await Task.create(FakeZygote(m.Started(pid=77)), cfg)  # type: ignore[arg-type]
        assert task.pid == 77 and not task.created
        task.close()

    asyncio.run(case())


def test_exit_status_from_the_exit_file() -> None:
    assert ExitStatus.from_record({"exit_code": 1, "oom_killed": True}) == ExitStatus(exit_code=1, oom_killed=True)
    assert ExitStatus.from_record({}).exit_code == 255


def test_an_init_that_fails_after_created_is_reported_by_start_and_init_failure(tmp_path: Path) -> None:
    """The monitor says Created as soon as the init's namespaces exist; the init can still fail
    (a mount, a sysctl, a missing command) and its monitor leave before the daemon says Start."""

    async def case() -> None:
        task, monitor = await _task(tmp_path)
        _send(monitor, m.Failed(message='exec: "nope": executable file not found in $PATH', exit_code=127))
        monitor.shutdown(socket.SHUT_WR)  # the monitor's last word; it waits for the daemon's
        await asyncio.sleep(0.01)
        with pytest.raises(CommandNotRunnable) as e:
            await task.start()
        assert e.value.exit_code == 127
        monitor.settimeout(2)
        frame = framing.recv(monitor)
        assert frame is not None and m.decode_request(json.loads(frame[1])) == m.Start()
        monitor.close()

        task, monitor = await _task(tmp_path)
        monitor.close()  # gone without a word: Start cannot be sent, and nothing says why
        with pytest.raises(SystemFailure):
            await task.start()

        task, monitor = await _task(tmp_path)
        _send(monitor, m.Failed(message="OCI runtime create failed: write sysctl key x: ENOENT", exit_code=128))
        monitor.close()
        err = await task.init_failure()
        assert isinstance(err, RuntimeFailure) and "write sysctl key" in err.message

        task, monitor = await _task(tmp_path)
        monitor.close()  # gone without a word
        assert isinstance(await task.init_failure(), SystemFailure)

    asyncio.run(case())
