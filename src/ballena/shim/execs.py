"""Processes run in a running container besides its init: ``docker exec`` (streams on the
connection that asked) and the healthcheck's probes (output captured for ``State.Health``).

An exec ends when its process has exited *and* its output is drained (a pty reports EIO when
the last writer is gone), so the client gets every byte before the exit code.
"""

from __future__ import annotations

import errno
import os
import select
import selectors
from collections.abc import Callable

from ballena.errors import BallenaError
from ballena.pkg import framing, linux
from ballena.shim import messages
from ballena.shim.connections import HIGH_WATER, READ_SIZE, Conn, Connections
from ballena.shim.drivers import RuntimeDriver
from ballena.shim.stdio import ProcessIO, nonblocking

__all__ = ["ExecProcess", "Execs"]


class ExecProcess:
    """One exec: its process, where its output goes, and how it ended."""

    __slots__ = ("id", "pid", "conn", "io", "exit_code", "capture", "capture_limit", "on_exit")

    def __init__(
        self,
        exec_id: str,
        *,
        conn: Conn | None = None,
        capture_limit: int = 0,
        on_exit: Callable[[ExecProcess], None] | None = None,
    ) -> None:
        self.id = exec_id
        self.pid = 0
        self.conn = conn  # streams go there (docker exec)
        self.io = ProcessIO()
        self.exit_code: int | None = None
        self.capture: bytearray | None = bytearray() if capture_limit else None  # or are kept (a probe)
        self.capture_limit = capture_limit
        self.on_exit = on_exit


class Execs:
    """The running execs of one container, by PID."""

    def __init__(self, *, sel: selectors.BaseSelector, conns: Connections) -> None:
        self.sel = sel
        self.conns = conns
        self.by_pid: dict[int, ExecProcess] = {}

    def start(self, ex: ExecProcess, driver: RuntimeDriver, req: messages.Exec) -> bool:
        """Start ``req.process`` for ``ex``. Tells the connection (if any) ExecStarted or
        ExecFailed; returns whether it runs."""
        try:
            proc = driver.exec(req.process, exec_id=req.id, stdin=req.stdin, console_size=req.console_size)
        except BallenaError as e:
            self._failed(ex, e.message, getattr(e, "exit_code", 126))
            return False
        except OSError as e:
            self._failed(ex, f"OCI runtime exec failed: {e}", 126)
            return False
        ex.pid, ex.io = proc.pid, proc.io
        for fd, kind in ex.io.outputs.items():
            self.sel.register(fd, selectors.EVENT_READ, ("exec_out", (ex, kind)))
        if ex.io.stdin is not None:
            nonblocking(ex.io.stdin)
        self.by_pid[ex.pid] = ex
        self._tell(ex, messages.ExecStarted(pid=ex.pid))
        return True

    def _failed(self, ex: ExecProcess, message: str, code: int) -> None:
        ex.exit_code = code
        self._tell(ex, messages.ExecFailed(message=message, exit_code=code))
        if ex.capture is not None:  # a probe: the reason is its output
            ex.capture += message.encode()[: ex.capture_limit]
        if ex.on_exit is not None:
            ex.on_exit(ex)

    def _tell(self, ex: ExecProcess, msg: messages.Event) -> None:
        if ex.conn is not None:
            self.conns.send_message(ex.conn, msg)

    # -- output and input -----------------------------------------------------------------------

    def read_output(self, fd: int, ex: ExecProcess, kind: bytes) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != errno.EIO:  # EIO: the pty's last writer is gone
                raise
            data = b""
        if not data:
            self._close_output(ex, fd)
            self._maybe_finish(ex)
            return
        if ex.capture is not None:
            room = ex.capture_limit - len(ex.capture)
            if room > 0:
                ex.capture += data[:room]
        elif ex.conn is not None:
            self.conns.send(ex.conn, framing.encode(kind, data))
            if len(ex.conn.wbuf) > HIGH_WATER:
                # Back-pressure: let the socket drain before reading more of this exec's output.
                self.conns.flush_blocking(ex.conn)

    def _close_output(self, ex: ExecProcess, fd: int) -> None:
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass
        os.close(fd)
        ex.io.outputs.pop(fd, None)
        if fd == ex.io.master:
            ex.io.master = None

    def write_stdin(self, ex: ExecProcess, data: bytes) -> None:
        if ex.io.stdin is None:
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(ex.io.stdin, view)
                view = view[n:]
            except BlockingIOError:
                self._pump_once(ex)  # the process reads slowly: drain its output meanwhile
            except OSError:
                self.close_stdin(ex)
                return

    def _pump_once(self, ex: ExecProcess) -> None:
        if ex.io.stdin is None:
            return
        readable, _, _ = select.select(list(ex.io.outputs), [ex.io.stdin], [], 0.05)
        for fd in readable:
            self.read_output(fd, ex, ex.io.outputs.get(fd, framing.STDOUT))
        if ex.conn is not None and ex.conn.wbuf:
            self.conns.flush_blocking(ex.conn)

    def close_stdin(self, ex: ExecProcess) -> None:
        if ex.io.stdin is None:
            return
        if ex.io.master is not None:
            try:
                os.write(ex.io.stdin, b"\x04")  # end of input on a terminal is ^D
            except OSError:
                pass
        os.close(ex.io.stdin)
        ex.io.stdin = None

    # -- ends ---------------------------------------------------------------------------------------

    def on_exit(self, pid: int, code: int) -> bool:
        """A child exited: if it is an exec, record it. Returns whether it was one."""
        ex = self.by_pid.get(pid)
        if ex is None:
            return False
        ex.exit_code = code
        self._maybe_finish(ex)
        return True

    def _maybe_finish(self, ex: ExecProcess) -> None:
        if ex.exit_code is None or ex.io.outputs:
            return
        self._tell(ex, messages.ExecExited(exit_code=ex.exit_code))
        self.close_stdin(ex)
        self.by_pid.pop(ex.pid, None)
        if ex.on_exit is not None:
            ex.on_exit(ex)

    def end_all(self, code: int = 137) -> None:
        """The container is gone: every exec ends, its output closed, with ``code`` unless it
        already had one."""
        for ex in list(self.by_pid.values()):
            for fd in list(ex.io.outputs):
                self._close_output(ex, fd)
            if ex.exit_code is None:
                ex.exit_code = code
            self._maybe_finish(ex)

    def resize(self, ex: ExecProcess, height: int, width: int) -> None:
        if ex.io.master is not None:
            try:
                linux.set_winsize(ex.io.master, height, width)
            except OSError:
                pass
