"""The runc driver: any runc-compatible binary (``--runtime runc``, or one named in
daemon.json's ``runtimes``), called the way containerd's shim calls it.

``runc create`` makes the container with its init waiting, ``runc start`` lets it run, ``runc
exec --detach`` adds a process, ``runc delete --force`` forgets it. With a terminal, runc sends
the pty master over a console socket we listen on. runc only ever reports failures as text (its
JSON log), so the exit status Docker records is read from the words (``exit_code_for``).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from ballena.errors import RuntimeFailure, start_failure
from ballena.shim.config import MonitorConfig
from ballena.shim.drivers.base import Process
from ballena.shim.stdio import ChildStdio, close_child_ends, pipes, terminal

__all__ = ["RuncDriver"]

_CONSOLE_TIMEOUT = 10.0


def short_unix_path(dirfd: int, name: str) -> str:
    """A unix socket path short enough for sun_path whatever the directory's length."""
    return f"/proc/self/fd/{dirfd}/{name}"


class RuncDriver:
    def __init__(self, cfg: MonitorConfig, *, dirfd: int) -> None:
        self.cfg = cfg
        self.dirfd = dirfd
        self.pid = 0
        self._log = os.path.join(cfg.state_dir, "runc.log")

    def create(self, *, on_namespaces: Callable[[int], None] | None = None) -> Process:
        # runc makes the namespaces and the mounts in one call: nothing to announce early.
        cfg = self.cfg
        pid_file = os.path.join(cfg.state_dir, "init.pid")
        args = ["create", "--bundle", cfg.bundle, "--pid-file", pid_file]
        if cfg.tty:
            master = self._with_console(args + [cfg.id], stdio=None)
            io = terminal(master, stdin=cfg.open_stdin, console_size=cfg.console_size)
        else:
            child, io = pipes(stdin=cfg.open_stdin)
            try:
                self._runc(*args, cfg.id, stdio=child)
            except BaseException:
                io.close()
                raise
            finally:
                close_child_ends(child)
        try:
            with open(pid_file) as f:
                self.pid = int(f.read().strip())
        except (OSError, ValueError) as e:
            io.close()
            raise RuntimeFailure(f"OCI runtime create failed: no init pid: {e}") from None
        return Process(pid=self.pid, io=io)

    def start(self) -> None:
        self._runc("start", self.cfg.id)

    def exec(self, process: dict[str, Any], *, exec_id: str, stdin: bool, console_size: list[int] | None) -> Process:
        pfile = os.path.join(self.cfg.state_dir, f"exec-{exec_id or time.monotonic_ns()}.json")
        with open(pfile, "w") as f:
            json.dump(process, f)
        pid_file = pfile + ".pid"
        args = ["exec", "--process", pfile, "--pid-file", pid_file, "--detach"]
        try:
            if process.get("terminal"):
                master = self._with_console([*args, self.cfg.id], stdio=None)
                io = terminal(master, stdin=stdin, console_size=console_size)
            else:
                child, io = pipes(stdin=stdin)
                try:
                    self._runc(*args, self.cfg.id, stdio=child)
                except BaseException:
                    io.close()
                    raise
                finally:
                    close_child_ends(child)
            with open(pid_file) as f:
                return Process(pid=int(f.read().strip()), io=io)
        finally:
            for p in (pfile, pid_file):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass

    def delete(self) -> None:
        try:
            self._runc("delete", "--force", self.cfg.id, check=False)
        except RuntimeFailure:
            pass

    # -- helpers ------------------------------------------------------------------------------

    def _runc(self, *args: str, stdio: ChildStdio | None = None, check: bool = True) -> int:
        """Run runc; the container inherits ``stdio``, so runc's own errors come from its log."""
        rt = self.cfg.runtime
        cmd = [rt.path or rt.name, *rt.args, "--root", rt.root, "--log", self._log, "--log-format", "json", *args]
        null = None
        if stdio is None:
            null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
            stdio = (null, null, null)
        try:
            # The state directory is inherited at the same fd number, so /proc/self/fd/N paths
            # (short enough for a socket address) mean the same to runc as to us. subprocess is
            # imported here: its threading costs every native monitor ~0.3 MB.
            import subprocess

            code = subprocess.run(
                cmd, stdin=stdio[0], stdout=stdio[1], stderr=stdio[2], check=False, pass_fds=(self.dirfd,)
            ).returncode
        except OSError as e:
            raise RuntimeFailure(f"OCI runtime {args[0]} failed: {rt.path or rt.name}: {e.strerror}", 127) from None
        finally:
            if null is not None:
                os.close(null)
        if check and code != 0:
            text = _last_error(self._log) or f"runc {args[0]} failed with status {code}"
            raise start_failure(f"OCI runtime {args[0]} failed: {text}")
        return code

    def _with_console(self, args: list[str], *, stdio: ChildStdio | None) -> int:
        """Run ``runc args`` with a console socket; returns the pty master it sends."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = short_unix_path(self.dirfd, f"console-{time.monotonic_ns()}.sock")
        listener.bind(path)
        listener.listen(1)
        # runc connects while it runs (before it exits): accept on a thread, only here.
        import threading

        box: dict[str, Any] = {}

        def accept() -> None:
            try:
                listener.settimeout(_CONSOLE_TIMEOUT)
                conn, _ = listener.accept()
                with conn:
                    _msg, fds, _f, _a = socket.recv_fds(conn, 4096, 1)
                box["fd"] = fds[0] if fds else None
            except OSError as e:
                box["error"] = e

        t = threading.Thread(target=accept)
        t.start()
        try:
            self._runc(*args[:1], "--console-socket", path, *args[1:], stdio=stdio)
        finally:
            t.join(_CONSOLE_TIMEOUT)
            listener.close()
            try:
                os.unlink(os.path.join(self.cfg.state_dir, os.path.basename(path)))
            except OSError:
                pass
        if box.get("fd") is None:
            raise RuntimeFailure(f"OCI runtime {args[0]} failed: no terminal from runc: {box.get('error')}")
        return int(box["fd"])


def _last_error(log: str) -> str:
    try:
        with open(log) as f:
            lines = f.readlines()
    except OSError:
        return ""
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("level") in ("error", "fatal"):
            return str(entry.get("msg", ""))
    return ""
