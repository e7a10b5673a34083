"""Execs in the monitor, with a driver that runs real host processes (no container)."""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
from typing import Any

from ballena.errors import start_failure
from ballena.pkg import framing
from ballena.shim import messages as m
from ballena.shim.connections import Connections
from ballena.shim.drivers.base import Process
from ballena.shim.execs import ExecProcess, Execs
from ballena.shim.stdio import close_child_ends, pipes


class HostDriver:
    """Runs the process's args on the host, as a driver would in the container."""

    def exec(self, process: dict[str, Any], *, exec_id: str, stdin: bool, console_size: list[int] | None) -> Process:
        if process["args"][0] == "nope":
            raise start_failure('exec: "nope": executable file not found in $PATH', 127)
        child, io = pipes(stdin=stdin)
        p = subprocess.Popen(process["args"], stdin=child[0], stdout=child[1], stderr=child[2])
        close_child_ends(child)
        return Process(pid=p.pid, io=io)


def _run(
    args: list[str], *, stdin: bytes | None = None, capture: int = 0
) -> tuple[ExecProcess, list[tuple[bytes, bytes]]]:
    sel = selectors.DefaultSelector()
    conns = Connections(sel)
    ours, theirs = socket.socketpair()
    c = conns.add(ours, "exec")
    execs = Execs(sel=sel, conns=conns)
    ex = ExecProcess("e", conn=None if capture else c, capture_limit=capture)
    execs.start(ex, HostDriver(), m.Exec(id="e", process={"args": args}, stdin=stdin is not None))  # type: ignore[arg-type]
    if stdin is not None:
        execs.write_stdin(ex, stdin)
        execs.close_stdin(ex)
    while ex.io.outputs or ex.exit_code is None:
        for key, _ in sel.select(1):
            if key.data[0] == "exec_out":
                execs.read_output(key.fd, *key.data[1])
        if ex.exit_code is None:
            pid, status = os.waitpid(ex.pid, os.WNOHANG)
            if pid:
                execs.on_exit(pid, os.waitstatus_to_exitcode(status))
    conns.close(c)
    frames: list[tuple[bytes, bytes]] = []
    theirs.setblocking(False)
    decoder = framing.Decoder()
    try:
        while data := theirs.recv(1 << 16):
            frames += decoder.feed(data)
    except BlockingIOError:
        pass
    theirs.close()
    return ex, frames


def test_output_then_the_exit_code_last() -> None:
    ex, frames = _run(["sh", "-c", "echo out; echo err >&2; exit 4"])
    kinds = {k for k, _ in frames}
    assert framing.STDOUT in kinds and framing.STDERR in kinds
    assert frames[0][0] == framing.JSON and m.decode_event(__import__("json").loads(frames[0][1])) == m.ExecStarted(
        pid=ex.pid
    )
    assert m.decode_event(__import__("json").loads(frames[-1][1])) == m.ExecExited(exit_code=4)


def test_stdin_reaches_the_process_and_eof_ends_it() -> None:
    ex, frames = _run(["cat"], stdin=b"hello through stdin")
    out = b"".join(p for k, p in frames if k == framing.STDOUT)
    assert out == b"hello through stdin" and ex.exit_code == 0


def test_a_probe_captures_its_output_up_to_a_limit() -> None:
    ex, frames = _run(["sh", "-c", "printf '%s' 0123456789abcdef"], capture=8)
    assert ex.capture == bytearray(b"01234567") and frames == []


def test_a_command_that_cannot_start() -> None:
    sel = selectors.DefaultSelector()
    conns = Connections(sel)
    ours, theirs = socket.socketpair()
    c = conns.add(ours, "exec")
    ex = ExecProcess("e", conn=c)
    assert not Execs(sel=sel, conns=conns).start(ex, HostDriver(), m.Exec(id="e", process={"args": ["nope"]}))  # type: ignore[arg-type]
    obj, _ = framing.recv_json(theirs)
    assert m.decode_event(obj or {}) == m.ExecFailed(
        message='exec: "nope": executable file not found in $PATH', exit_code=127
    )
    assert ex.exit_code == 127
