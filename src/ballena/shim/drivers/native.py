"""The native driver: our own runtime (``runtime.native``), run from inside the monitor.

The monitor forks the container's init itself: it makes (or joins) the PID namespace first,
since only children enter a new one, forks, and waits on a socket pair: the child reports
its namespaces made (the daemon may wire its network while it mounts; the monitor moves it
into its cgroup meanwhile), then ready (everything set up but ``execve``). ``start``
says go; the child's end of the socket is close-on-exec, so end of stream means the exec
succeeded and a message means it failed. ``exec`` forks a child that joins the container.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable
from typing import Any

from ballena.errors import BallenaError, RuntimeFailure, start_failure
from ballena.pkg import framing, linux, trace
from ballena.runtime import native
from ballena.runtime.cgroups import Cgroup
from ballena.shim.config import MonitorConfig
from ballena.shim.drivers.base import Process
from ballena.shim.stdio import ChildStdio, ProcessIO, close_child_ends, pipes, terminal

__all__ = ["NativeDriver"]

_CHILD_SIGNALS = (signal.SIGCHLD, signal.SIGPIPE, signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class NativeDriver:
    def __init__(self, cfg: MonitorConfig, *, spec: dict[str, Any], cgroup: Cgroup | None) -> None:
        self.cfg = cfg
        self.spec = spec
        self.cgroup = cgroup
        self._sync: socket.socket | None = None
        self.pid = 0

    def create(self, *, on_namespaces: Callable[[int], None] | None = None) -> Process:
        cfg = self.cfg
        child_stdio: ChildStdio | None = None
        io = ProcessIO()
        if not cfg.tty:
            child_stdio, io = pipes(stdin=cfg.open_stdin)
        self._enter_pid_namespace()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        cgroup_dirs = self._cgroup_dirs()
        pid = os.fork()
        if pid == 0:
            try:
                parent.close()
                _reset_signals()
                native.init(
                    self.spec,
                    sync=child,
                    stdio=child_stdio,
                    cgroup_dirs=cgroup_dirs,
                    seccomp_program=cfg.seccomp_bpf,
                )
            finally:
                os._exit(1)
        child.close()
        close_child_ends(child_stdio)
        self.pid = pid
        self._sync = parent
        trace.mark("monitor: init forked")
        try:
            in_cgroup = self.cgroup is None
            while True:
                msg, fds = framing.recv_json(parent)
                if msg is None:
                    raise RuntimeFailure("OCI runtime create failed: container init exited before it was ready")
                if msg.get("terminal"):
                    io = terminal(fds[0], stdin=cfg.open_stdin, console_size=cfg.console_size)
                    continue
                if msg.get("error"):
                    raise start_failure(f"OCI runtime create failed: {msg['error']}", int(msg.get("code", 1)))
                if msg.get("namespaces"):
                    if on_namespaces is not None:
                        on_namespaces(pid)
                    # Only now: a move into the cgroup takes this kernel milliseconds, which
                    # the network's wiring (after on_namespaces) need not wait for. The init
                    # waits for our "go" before it execs, so it runs nothing in the wrong one.
                    self._move_into_cgroup(pid)
                    in_cgroup = True
                    continue
                if msg.get("ready"):
                    if not in_cgroup:
                        self._move_into_cgroup(pid)
                    break
        except BaseException as e:
            io.close()
            self._abandon()
            _kill_and_reap(pid)
            if isinstance(e, OSError):
                raise RuntimeFailure(f"OCI runtime create failed: {e}") from None
            raise
        trace.mark("monitor: init in cgroup and ready")
        return Process(pid=pid, io=io)

    def _move_into_cgroup(self, pid: int) -> None:
        if self.cgroup is not None:
            self.cgroup.add(pid)
            trace.mark("monitor: init moved into its cgroup")

    def start(self) -> None:
        sync = self._sync
        assert sync is not None, "start before create"
        self._sync = None
        try:
            framing.send_json(sync, {"go": True})
            failure, _ = framing.recv_json(sync)
        except (OSError, framing.FrameError) as e:
            failure = {"error": f"container init went away: {e}", "code": 1}
        finally:
            sync.close()
        if failure and failure.get("error"):
            _reap(self.pid)
            raise start_failure(f"OCI runtime create failed: {failure['error']}", int(failure.get("code", 1)))

    def exec(self, process: dict[str, Any], *, exec_id: str, stdin: bool, console_size: list[int] | None) -> Process:
        tty = bool(process.get("terminal"))
        child_stdio: ChildStdio | None = None
        io = ProcessIO()
        if not tty:
            child_stdio, io = pipes(stdin=stdin)
        procs = [os.path.join(d, "cgroup.procs") for d in self.cgroup.dirs()] if self.cgroup is not None else []
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            pid = os.fork()
        except OSError as e:
            io.close()
            close_child_ends(child_stdio)
            parent.close()
            child.close()
            raise RuntimeFailure(f"cannot exec in container: {e.strerror}", 126) from None
        if pid == 0:
            try:
                parent.close()
                _reset_signals()
                native.exec_process(
                    process,
                    target_pid=self.pid,
                    spec=self.spec,
                    sync=child,
                    stdio=child_stdio,
                    cgroup_procs=procs,
                    seccomp_program=self.cfg.seccomp_bpf,
                )
            finally:
                os._exit(1)
        child.close()
        close_child_ends(child_stdio)
        try:
            while True:
                msg, fds = framing.recv_json(parent)
                if msg is None:
                    break  # close-on-exec: the command runs
                if msg.get("terminal"):
                    io = terminal(fds[0], stdin=stdin, console_size=console_size)
                    continue
                if msg.get("error"):
                    _reap(pid)
                    raise start_failure(f"OCI runtime exec failed: {msg['error']}", int(msg.get("code", 126)))
        except BaseException as e:
            io.close()
            if not isinstance(e, BallenaError):
                _kill_and_reap(pid)
                if isinstance(e, OSError | framing.FrameError):
                    raise RuntimeFailure(f"OCI runtime exec failed: {e}", 126) from None
            raise
        finally:
            parent.close()
        return Process(pid=pid, io=io)

    def delete(self) -> None:
        self._abandon()

    # -- helpers ------------------------------------------------------------------------------

    def _enter_pid_namespace(self) -> None:
        """Only a process's children enter a PID namespace it makes or joins: do it before the
        fork (the monitor itself stays where it is)."""
        lx = self.spec.get("linux") or {}
        pidns = next((ns for ns in lx.get("namespaces") or [] if ns["type"] == "pid"), None)
        if pidns is None:
            return
        if pidns.get("path"):
            fd = os.open(pidns["path"], os.O_RDONLY | os.O_CLOEXEC)
            try:
                linux.setns(fd, linux.CLONE_NEWPID)
            finally:
                os.close(fd)
        else:
            linux.unshare(linux.CLONE_NEWPID)

    def _cgroup_dirs(self) -> dict[str, str]:
        """Each v1 hierarchy's directory of this container, for its read-only /sys/fs/cgroup."""
        if self.cgroup is None:
            return {}
        return {os.path.basename(mp): os.path.join(mp, self.cgroup.path) for mp in self.cgroup.layout.v1.values()}

    def _abandon(self) -> None:
        if self._sync is not None:
            self._sync.close()  # an init waiting for "go" reads end of stream and exits
            self._sync = None


def _reset_signals() -> None:
    signal.set_wakeup_fd(-1)
    for s in _CHILD_SIGNALS:
        signal.signal(s, signal.SIG_DFL)


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _reap(pid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
