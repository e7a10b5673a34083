"""The monitor of one container (like containerd's shim or podman's conmon).

Forked from the zygote, it mounts the root filesystem, starts the container through its runtime
(native or runc), then lives as long as the container: it copies the container's output into the
json-file log and to attached clients, feeds stdin, runs ``exec`` processes, resizes terminals,
delivers signals, and when the container's first process exits it records the exit status,
unmounts, removes the cgroup, tells the daemon and exits.

The daemon talks to it over ``protocol`` frames: first through the socket the zygote handed over,
and after a daemon restart through ``monitor.sock`` in the container's state directory. Nothing
here depends on the daemon being alive. The loop is single-threaded (selectors), so forking
for exec is safe.
"""

from __future__ import annotations

import base64
import errno
import fcntl
import json
import os
import selectors
import signal
import socket
import time
from typing import Any, NoReturn

from ballena.pkg import linux, trace
from ballena.runtime import native
from ballena.runtime.cgroups import Cgroup
from ballena.shim import protocol as proto
from ballena.shim.logfile import LogWriter

_READ = 1 << 16
_HIGH_WATER = 4 << 20
_LOW_WATER = 1 << 20


def short_unix_path(dirfd: int, name: str) -> str:
    """A unix socket path short enough for sun_path whatever the directory's length."""
    return f"/proc/self/fd/{dirfd}/{name}"


def _nonblock(fd: int) -> None:
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)


class Conn:
    __slots__ = (
        "sock",
        "decoder",
        "wbuf",
        "role",
        "out",
        "err",
        "stdin",
        "exec",
        "closed",
        "read_closed",
        "registered",
    )

    def __init__(self, sock: socket.socket, role: str = "") -> None:
        self.sock = sock
        self.decoder = proto.Decoder()
        self.wbuf = bytearray()
        self.role = role
        self.out = self.err = self.stdin = False
        self.exec: Exec | None = None
        self.closed = False
        self.read_closed = False  # the peer half-closed: only writes remain
        self.registered = 0  # the selector events currently asked for


class Exec:
    __slots__ = ("id", "pid", "conn", "stdin", "outputs", "master", "status", "exit_code")

    def __init__(self, exec_id: str, conn: Conn) -> None:
        self.id = exec_id
        self.pid = 0
        self.conn: Conn | None = conn
        self.stdin: int | None = None
        self.outputs: dict[int, bytes] = {}  # fd -> frame type
        self.master: int | None = None
        self.status = "starting"
        self.exit_code: int | None = None


class Monitor:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.id: str = cfg["id"]
        self.bundle: str = cfg["bundle"]
        self.state_dir: str = cfg["state_dir"]
        self.runtime: dict[str, Any] = cfg.get("runtime") or {"name": "native"}
        self.native = self.runtime.get("name", "native") == "native"
        self.tty = bool(cfg.get("tty"))
        self.sel = selectors.DefaultSelector()
        self.conns: list[Conn] = []
        self.execs: dict[int, Exec] = {}
        self.outputs: dict[int, bytes] = {}  # container output fd -> frame type
        self.stdin_fd: int | None = None
        self.stdin_buf = bytearray()
        self.master: int | None = None
        self.pid = 0
        self.status = "creating"
        self.exit_info: dict[str, Any] | None = None
        self.exiting_since = 0.0
        self.paused_outputs = False
        self.log: LogWriter | None = None
        self.cgroup = Cgroup(cfg["cgroup_path"]) if cfg.get("cgroup_path") else None
        self.rootfs = os.path.join(self.bundle, "rootfs")
        self.mounted = False
        # The daemon compiles the seccomp filter once per profile and sends it along with the
        # spec minus that (long) section: parsing it again here cost every monitor ~0.1 MB.
        self.seccomp_program = base64.b64decode(cfg["seccomp_bpf"]) if cfg.get("seccomp_bpf") else None
        if cfg.get("spec") is not None:
            self.spec: dict[str, Any] = cfg["spec"]
        else:
            with open(os.path.join(self.bundle, "config.json")) as f:
                self.spec = json.load(f)
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    # -- set-up -------------------------------------------------------------------------------

    def start(self, control: socket.socket | None) -> None:
        trace.mark("monitor: forked")
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)  # only the daemon, through the socket, ends a container
        self.sel.register(self.wake_r, selectors.EVENT_READ, ("wake", None))
        self.dirfd = os.open(self.state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock_path = short_unix_path(self.dirfd, "monitor.sock")
        try:
            os.unlink(os.path.join(self.state_dir, "monitor.sock"))
        except FileNotFoundError:
            pass
        self.listener.bind(sock_path)
        self.listener.listen(16)
        self.listener.setblocking(False)
        self.sel.register(self.listener, selectors.EVENT_READ, ("listen", None))
        if control is not None:
            os.set_inheritable(control.fileno(), False)
            c = self._add_conn(control, "control")
            att = self.cfg.get("attach") or {}
            c.out, c.err, c.stdin = bool(att.get("stdout")), bool(att.get("stderr")), bool(att.get("stdin"))
        log = self.cfg.get("log")
        if log:
            self.log = LogWriter(
                log["path"], max_size=int(log.get("max_size", 0)), max_file=int(log.get("max_file", 1))
            )
        try:
            self._create_and_start()
        except Exception as e:
            code = getattr(e, "exit_code", 1)
            self._broadcast({"event": "error", "message": str(e), "code": code})
            self.exit_info = None
            self._cleanup_after_failed_start()
            self._flush_and_exit(0)

    def _mount_rootfs(self) -> None:
        os.makedirs(self.rootfs, exist_ok=True)
        for m in self.cfg.get("rootfs_mounts") or []:
            flags, _prop, data = native.parse_mount_options(list(m.get("options") or []))
            linux.mount(
                m.get("source") or m["type"],
                self.rootfs,
                None if flags & linux.MS_BIND else m["type"],
                flags,
                data or None,
            )
        self.mounted = True

    def _stdio(self) -> tuple[int, int, int] | None:
        """Pipes for a non-TTY container (the TTY is made inside the container by the runtime)."""
        if self.tty:
            if self.cfg.get("open_stdin"):
                return None
            return None
        if self.cfg.get("open_stdin"):
            r, w = os.pipe2(os.O_CLOEXEC)
            self.stdin_fd = w
            child_in = r
        else:
            child_in = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        for fd in (out_r, err_r):
            _nonblock(fd)
        self.outputs = {out_r: proto.STDOUT, err_r: proto.STDERR}
        return child_in, out_w, err_w

    def _create_and_start(self) -> None:
        self._mount_rootfs()
        trace.mark("monitor: rootfs mounted")
        stdio = self._stdio()
        sync = None
        if self.native:
            sync = self._native_create(stdio)
        else:
            self._runc_create(stdio)
        if stdio is not None:
            for fd in stdio:
                os.close(fd)
        if not self.cfg.get("autostart", True):
            # The daemon has work to do between creation and start (networking).
            self.status = "created"
            self._broadcast({"event": "created", "pid": self.pid})
            if not self._wait_for_start():
                raise _StartError("start cancelled by the daemon", 1)
        if self.native:
            assert sync is not None
            self._native_run(sync)
        else:
            self._runc("start", self.id)
        for fd, kind in self.outputs.items():
            self.sel.register(fd, selectors.EVENT_READ, ("out", kind))
        if self.stdin_fd is not None:
            _nonblock(self.stdin_fd)
        self.status = "running"
        self._broadcast({"event": "started", "pid": self.pid})
        trace.mark("monitor: running")

    # -- native runtime ----------------------------------------------------------------------

    def _cgroup_dirs(self) -> dict[str, str]:
        if self.cgroup is None:
            return {}
        out: dict[str, str] = {}
        for mp in self.cgroup.layout.v1.values():
            out[os.path.basename(mp)] = os.path.join(mp, self.cgroup.path)
        return out

    def _wait_for_start(self) -> bool:
        """Block until the daemon says start (or goes away, which cancels)."""
        control = next((c for c in self.conns if c.role == "control"), None)
        if control is None:
            return False
        control.sock.setblocking(True)
        try:
            while True:
                for key, _ in self.sel.select(None):
                    if key.data[0] == "conn" and key.data[1] is control:
                        data = control.sock.recv(_READ)
                        if not data:
                            return False
                        for kind, payload in control.decoder.feed(data):
                            if kind == proto.JSON:
                                op = json.loads(payload).get("op")
                                if op == "start":
                                    return True
                                if op == "cancel":
                                    return False
                    elif key.data[0] == "wake":
                        try:
                            os.read(self.wake_r, 4096)
                        except BlockingIOError:
                            pass
                        try:
                            pid, _status = os.waitpid(self.pid, os.WNOHANG)
                        except ChildProcessError:
                            return False
                        if pid:
                            return False
        finally:
            control.sock.setblocking(False)

    def _native_create(self, stdio: tuple[int, int, int] | None) -> socket.socket:
        lx = self.spec.get("linux") or {}
        if self.cgroup is not None:
            self.cgroup.create()
            self.cgroup.set_resources(lx.get("resources") or {})
        pidns = next((ns for ns in lx.get("namespaces") or [] if ns["type"] == "pid"), None)
        if pidns is not None:
            if pidns.get("path"):
                fd = os.open(pidns["path"], os.O_RDONLY | os.O_CLOEXEC)
                linux.setns(fd, linux.CLONE_NEWPID)
                os.close(fd)
            else:
                linux.unshare(linux.CLONE_NEWPID)
        trace.mark("monitor: cgroup made")
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        cgroup_dirs = self._cgroup_dirs()
        pid = os.fork()
        if pid == 0:
            try:
                parent.close()
                signal.set_wakeup_fd(-1)
                for s in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    signal.signal(s, signal.SIG_DFL)
                native.init(
                    self.spec,
                    sync=child,
                    stdio=stdio,
                    cgroup_dirs=cgroup_dirs,
                    seccomp_program=self.seccomp_program,
                )
            finally:
                os._exit(1)
        child.close()
        self.pid = pid
        trace.mark("monitor: init forked")
        if self.cgroup is not None:
            self.cgroup.add(pid)
            trace.mark("monitor: init moved into its cgroup")
        self._sync_wait(parent, expect_ready=True)
        trace.mark("monitor: init in cgroup and ready")
        return parent

    def _native_run(self, parent: socket.socket) -> None:
        pid = self.pid
        native.send_msg(parent, {"go": True})
        # EOF: execve succeeded (the socket is close-on-exec); a message: it failed.
        failure, _ = native.recv_msg(parent)
        parent.close()
        if failure and failure.get("error"):
            self._reap_now(pid)
            raise _StartError(f"OCI runtime create failed: {failure['error']}", failure.get("code", 1))

    def _sync_wait(self, sock: socket.socket, *, expect_ready: bool) -> dict[str, Any]:
        while True:
            msg, fds = native.recv_msg(sock)
            if msg is None:
                raise _StartError("OCI runtime create failed: container init exited before it was ready", 1)
            if msg.get("terminal"):
                self.master = fds[0]
                _nonblock(self.master)
                self.outputs = {self.master: proto.STDOUT}
                if self.cfg.get("open_stdin"):
                    self.stdin_fd = os.dup(self.master)
                size = self.cfg.get("console_size")
                if size:
                    linux.set_winsize(self.master, size[0], size[1])
                continue
            if msg.get("error"):
                self._reap_now(self.pid)
                raise _StartError(f"OCI runtime create failed: {msg['error']}", msg.get("code", 1))
            if msg.get("ready") or not expect_ready:
                return msg

    def _reap_now(self, pid: int) -> None:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass

    # -- runc -------------------------------------------------------------------------------------

    def _runc(self, *args: str, stdio: tuple[int, int, int] | None = None, check: bool = True) -> int:
        """Run runc; the container inherits ``stdio``, so runc's own errors come from its log."""
        log = os.path.join(self.state_dir, "runc.log")
        cmd = [
            self.runtime.get("path") or "runc",
            *self.runtime.get("args", []),
            "--root",
            self.runtime["root"],
            "--log",
            log,
            "--log-format",
            "json",
            *args,
        ]
        null = None
        if stdio is None:
            null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
            stdio = (null, null, null)
        try:
            # The state directory is inherited at the same fd number, so /proc/self/fd/N paths (short
            # enough for a socket address) mean the same to runc as to us.
            import subprocess  # only for runc: threading costs every monitor ~0.3 MB

            code = subprocess.run(
                cmd, stdin=stdio[0], stdout=stdio[1], stderr=stdio[2], check=False, pass_fds=(self.dirfd,)
            ).returncode
        finally:
            if null is not None:
                os.close(null)
        if check and code != 0:
            text = _last_runc_error(log) or f"runc {args[0]} failed with status {code}"
            raise _StartError(f"OCI runtime {args[0]} failed: {text}", _exec_code(text))
        return code

    def _console_socket(self) -> tuple[socket.socket, str]:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = short_unix_path(self.dirfd, f"console-{time.monotonic_ns()}.sock")
        s.bind(path)
        s.listen(1)
        return s, path

    def _recv_console(self, s: socket.socket) -> int:
        s.settimeout(10)
        conn, _ = s.accept()
        _msg, fds, _f, _a = socket.recv_fds(conn, 4096, 1)
        conn.close()
        return fds[0]

    def _runc_create(self, stdio: tuple[int, int, int] | None) -> None:
        pid_file = os.path.join(self.state_dir, "init.pid")
        args = ["create", "--bundle", self.bundle, "--pid-file", pid_file]
        console = None
        if self.tty:
            console, cpath = self._console_socket()
            args += ["--console-socket", cpath]
        args.append(self.id)
        if console is not None:
            import threading

            box: dict[str, int] = {}
            t = threading.Thread(target=lambda: box.setdefault("fd", self._recv_console(console)))
            t.start()
            try:
                self._runc(*args, stdio=stdio)
            finally:
                t.join(10)
                console.close()
            self.master = box["fd"]
            _nonblock(self.master)
            self.outputs = {self.master: proto.STDOUT}
            if self.cfg.get("open_stdin"):
                self.stdin_fd = os.dup(self.master)
            size = self.cfg.get("console_size")
            if size:
                linux.set_winsize(self.master, size[0], size[1])
        else:
            self._runc(*args, stdio=stdio)
        with open(pid_file) as f:
            self.pid = int(f.read().strip())

    # -- the loop ---------------------------------------------------------------------------------

    def _add_conn(self, sock: socket.socket, role: str = "") -> Conn:
        sock.setblocking(False)
        c = Conn(sock, role)
        self.conns.append(c)
        self._interest(c)
        return c

    def _interest(self, c: Conn) -> None:
        """Ask the selector for what this connection needs now: reads until the peer
        half-closes, writes while output is queued."""
        if c.closed:
            return
        want = (0 if c.read_closed else selectors.EVENT_READ) | (selectors.EVENT_WRITE if c.wbuf else 0)
        if want == 0 and c.read_closed:
            self._close_conn(c)  # nothing more to read or write
            return
        if want == c.registered:
            return
        if c.registered and want:
            self.sel.modify(c.sock, want, ("conn", c))
        elif want:
            self.sel.register(c.sock, want, ("conn", c))
        else:
            self.sel.unregister(c.sock)
        c.registered = want

    def _send(self, c: Conn, data: bytes) -> None:
        if c.closed:
            return
        if not c.wbuf:
            try:
                n = c.sock.send(data)
                data = data[n:]
            except BlockingIOError:
                pass
            except OSError:
                self._close_conn(c)
                return
            if not data:
                return
        c.wbuf += data
        self._interest(c)

    def _broadcast(self, obj: dict[str, Any]) -> None:
        frame = proto.encode_json(obj)
        for c in list(self.conns):
            if c.role == "control":
                self._send(c, frame)

    def _close_conn(self, c: Conn) -> None:
        if c.closed:
            return
        c.closed = True
        if c.registered:
            try:
                self.sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.registered = 0
        c.sock.close()
        if c in self.conns:
            self.conns.remove(c)
        if c.exec is not None:
            c.exec.conn = None

    def loop(self) -> NoReturn:
        while True:
            timeout = None
            if self.status == "exiting":
                timeout = 0.05
                if time.monotonic() - self.exiting_since > 2.0 and self.outputs:
                    # Someone outside the container holds its pipes open: stop waiting for EOF.
                    for fd in list(self.outputs):
                        self._close_output(fd)
            for key, events in self.sel.select(timeout):
                kind, obj = key.data
                if kind == "wake":
                    try:
                        os.read(self.wake_r, 4096)
                    except BlockingIOError:
                        pass
                    self._reap()
                elif kind == "listen":
                    try:
                        sock, _ = self.listener.accept()
                    except BlockingIOError:
                        continue
                    self._add_conn(sock)
                elif kind == "conn":
                    if events & selectors.EVENT_WRITE:
                        self._flush(obj)
                    if events & selectors.EVENT_READ and not obj.closed:
                        self._read_conn(obj)
                elif kind == "out":
                    self._read_output(key.fd, obj)
                elif kind == "exec_out":
                    self._read_exec_output(key.fd, obj)
            self._update_backpressure()
            if self.status == "exiting" and not self.outputs:
                self._finish()

    def _flush(self, c: Conn) -> None:
        try:
            n = c.sock.send(c.wbuf)
            del c.wbuf[:n]
        except BlockingIOError:
            return
        except OSError:
            self._close_conn(c)
            return
        self._interest(c)

    def _update_backpressure(self) -> None:
        pending = max((len(c.wbuf) for c in self.conns if c.out or c.err), default=0)
        if not self.paused_outputs and pending > _HIGH_WATER:
            for fd in self.outputs:
                self.sel.unregister(fd)
            self.paused_outputs = True
        elif self.paused_outputs and pending < _LOW_WATER:
            for fd, kind in self.outputs.items():
                self.sel.register(fd, selectors.EVENT_READ, ("out", kind))
            self.paused_outputs = False

    # -- container output and input ---------------------------------------------------------

    def _read_output(self, fd: int, kind: bytes) -> None:
        try:
            data = os.read(fd, _READ)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != errno.EIO:  # EIO: the pty's last slave closed
                raise
            data = b""
        if not data:
            self._close_output(fd)
            return
        if self.log is not None:
            self.log.write("stderr" if kind == proto.STDERR else "stdout", data)
        frame = proto.encode(kind, data)
        for c in self.conns:
            if (kind == proto.STDOUT and c.out) or (kind == proto.STDERR and c.err):
                self._send(c, frame)

    def _close_output(self, fd: int) -> None:
        if fd in self.outputs:
            del self.outputs[fd]
            if not self.paused_outputs:
                try:
                    self.sel.unregister(fd)
                except (KeyError, ValueError):
                    pass
            os.close(fd)
            if fd == self.master:
                self.master = None

    def _write_stdin(self, data: bytes) -> None:
        if self.stdin_fd is None:
            return
        self.stdin_buf += data
        self._drain_stdin()

    def _drain_stdin(self) -> None:
        while self.stdin_buf and self.stdin_fd is not None:
            try:
                n = os.write(self.stdin_fd, self.stdin_buf)
                del self.stdin_buf[:n]
            except BlockingIOError:
                time.sleep(0.001)  # the container reads slowly; stdin is rarely large
            except OSError:
                self.stdin_buf.clear()
                self._close_stdin()

    def _close_stdin(self) -> None:
        if self.stdin_fd is not None:
            if self.tty:
                try:
                    os.write(self.stdin_fd, b"\x04")  # EOF on a terminal is ^D
                except OSError:
                    pass
            os.close(self.stdin_fd)
            self.stdin_fd = None

    # -- requests -----------------------------------------------------------------------------------

    def _read_conn(self, c: Conn) -> None:
        try:
            data = c.sock.recv(_READ)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            if c.exec is not None and c.exec.exit_code is None:
                # The daemon half-closed: that is the exec's stdin EOF. Its output still flows back.
                self._close_exec_stdin(c.exec)
                c.read_closed = True
                self._interest(c)
                return
            self._close_conn(c)
            return
        try:
            frames = c.decoder.feed(data)
        except ValueError:
            self._close_conn(c)
            return
        for kind, payload in frames:
            if kind == proto.JSON:
                self._handle(c, json.loads(payload))
            elif kind == proto.STDIN:
                if c.exec is not None:
                    self._exec_stdin(c.exec, payload)
                elif c.stdin:
                    self._write_stdin(payload)

    def _handle(self, c: Conn, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if op == "hello":
            c.role = msg.get("role", "control")
            self._send(c, proto.encode_json(self._state()))
        elif op == "attach":
            c.role = c.role or "control"
            c.out, c.err, c.stdin = bool(msg.get("stdout")), bool(msg.get("stderr")), bool(msg.get("stdin"))
        elif op == "detach":
            c.out = c.err = c.stdin = False
        elif op == "close_stdin":
            if c.exec is not None:
                self._close_exec_stdin(c.exec)
            else:
                self._close_stdin()
        elif op == "kill":
            self._kill(int(msg.get("signal", signal.SIGKILL)), bool(msg.get("all")))
        elif op == "resize":
            fd = c.exec.master if c.exec is not None else self.master
            if fd is not None:
                try:
                    linux.set_winsize(fd, int(msg["height"]), int(msg["width"]))
                except OSError:
                    pass
        elif op == "exec":
            self._start_exec(c, msg)
        elif op == "state":
            self._send(c, proto.encode_json(self._state()))

    def _state(self) -> dict[str, Any]:
        return {"event": "state", "status": self.status, "pid": self.pid, "exit": self.exit_info}

    def _kill(self, sig: int, all_: bool) -> None:
        if self.status not in ("running", "exiting") or not self.pid:
            return
        if all_ and self.cgroup is not None:
            if sig == signal.SIGKILL:
                self.cgroup.kill_all()
            else:
                for p in self.cgroup.pids():
                    try:
                        os.kill(p, sig)
                    except ProcessLookupError:
                        pass
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    # -- exec ---------------------------------------------------------------------------------------

    def _start_exec(self, c: Conn, msg: dict[str, Any]) -> None:
        c.role = "exec"
        ex = Exec(str(msg.get("id", "")), c)
        c.exec = ex
        if self.status != "running":
            self._send(
                c,
                proto.encode_json({"event": "exec_error", "message": f"container {self.id} is not running", "code": 1}),
            )
            return
        process = msg["process"]
        tty = bool(process.get("terminal"))
        stdio: tuple[int, int, int] | None = None
        if not tty:
            if msg.get("stdin"):
                r, w = os.pipe2(os.O_CLOEXEC)
                ex.stdin = w
                child_in = r
            else:
                child_in = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            stdio = (child_in, out_w, err_w)
            ex.outputs = {out_r: proto.STDOUT, err_r: proto.STDERR}
        try:
            if self.native:
                ex.pid = self._native_exec(
                    ex, process, stdio, tty=tty, stdin=bool(msg.get("stdin")), console_size=msg.get("console_size")
                )
            else:
                ex.pid = self._runc_exec(
                    ex, process, stdio, tty=tty, stdin=bool(msg.get("stdin")), console_size=msg.get("console_size")
                )
        except _StartError as e:
            if stdio is not None:
                for fd in stdio:
                    os.close(fd)
                for fd in ex.outputs:
                    os.close(fd)
            if ex.stdin is not None:
                os.close(ex.stdin)
            self._send(c, proto.encode_json({"event": "exec_error", "message": str(e), "code": e.exit_code}))
            return
        if stdio is not None:
            for fd in stdio:
                os.close(fd)
        for fd, kind in ex.outputs.items():
            _nonblock(fd)
            self.sel.register(fd, selectors.EVENT_READ, ("exec_out", (ex, kind)))
        if ex.stdin is not None:
            _nonblock(ex.stdin)
        ex.status = "running"
        self.execs[ex.pid] = ex
        self._send(c, proto.encode_json({"event": "exec_started", "pid": ex.pid}))

    def _native_exec(
        self,
        ex: Exec,
        process: dict[str, Any],
        stdio: tuple[int, int, int] | None,
        *,
        tty: bool,
        stdin: bool,
        console_size: list[int] | None,
    ) -> int:
        procs = []
        if self.cgroup is not None:
            procs = [os.path.join(d, "cgroup.procs") for d in self.cgroup.dirs()]
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            pid = os.fork()
        except OSError as e:
            raise _StartError(f"cannot exec in container: {e.strerror}", 126) from None
        if pid == 0:
            try:
                parent.close()
                signal.set_wakeup_fd(-1)
                for s in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    signal.signal(s, signal.SIG_DFL)
                native.exec_process(
                    process,
                    target_pid=self.pid,
                    spec=self.spec,
                    sync=child,
                    stdio=stdio,
                    cgroup_procs=procs,
                    seccomp_program=self.seccomp_program,
                )
            finally:
                os._exit(1)
        child.close()
        while True:
            msg, fds = native.recv_msg(parent)
            if msg is None:
                break
            if msg.get("terminal"):
                ex.master = fds[0]
                _nonblock(ex.master)
                ex.outputs = {ex.master: proto.STDOUT}
                if stdin:
                    ex.stdin = os.dup(ex.master)
                if console_size:
                    linux.set_winsize(ex.master, console_size[0], console_size[1])
                continue
            if msg.get("error"):
                parent.close()
                self._reap_now(pid)
                raise _StartError(f"OCI runtime exec failed: {msg['error']}", msg.get("code", 126))
        parent.close()
        return pid

    def _runc_exec(
        self,
        ex: Exec,
        process: dict[str, Any],
        stdio: tuple[int, int, int] | None,
        *,
        tty: bool,
        stdin: bool,
        console_size: list[int] | None,
    ) -> int:
        pfile = os.path.join(self.state_dir, f"exec-{ex.id or time.monotonic_ns()}.json")
        with open(pfile, "w") as f:
            json.dump(process, f)
        pid_file = pfile + ".pid"
        args = ["exec", "--process", pfile, "--pid-file", pid_file, "--detach"]
        console = None
        if tty:
            console, cpath = self._console_socket()
            args += ["--console-socket", cpath]
        args.append(self.id)
        try:
            if console is not None:
                import threading

                box: dict[str, int] = {}
                t = threading.Thread(target=lambda: box.setdefault("fd", self._recv_console(console)))
                t.start()
                try:
                    self._runc(*args)
                finally:
                    t.join(10)
                    console.close()
                ex.master = box["fd"]
                _nonblock(ex.master)
                ex.outputs = {ex.master: proto.STDOUT}
                if stdin:
                    ex.stdin = os.dup(ex.master)
                if console_size:
                    linux.set_winsize(ex.master, console_size[0], console_size[1])
            else:
                self._runc(*args, stdio=stdio)
            with open(pid_file) as f:
                return int(f.read().strip())
        finally:
            for p in (pfile, pid_file):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass

    def _read_exec_output(self, fd: int, target: tuple[Exec, bytes]) -> None:
        ex, kind = target
        try:
            data = os.read(fd, _READ)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self.sel.unregister(fd)
            os.close(fd)
            ex.outputs.pop(fd, None)
            if fd == ex.master:
                ex.master = None
            self._maybe_finish_exec(ex)
            return
        if ex.conn is not None:
            self._send(ex.conn, proto.encode(kind, data))
            if len(ex.conn.wbuf) > _HIGH_WATER:
                # Backpressure: let the socket drain before reading more of this exec's output.
                self._flush_blocking(ex.conn)

    def _flush_blocking(self, c: Conn) -> None:
        deadline = time.monotonic() + 30
        if c.registered:
            self.sel.unregister(c.sock)
            c.registered = 0
        c.sock.setblocking(True)
        c.sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            while len(c.wbuf) > _LOW_WATER:
                n = c.sock.send(c.wbuf)
                del c.wbuf[:n]
        except OSError:
            self._close_conn(c)
            return
        finally:
            if not c.closed:
                c.sock.setblocking(False)
                self._interest(c)

    def _exec_stdin(self, ex: Exec, data: bytes) -> None:
        if ex.stdin is None:
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(ex.stdin, view)
                view = view[n:]
            except BlockingIOError:
                # The process reads slowly: wait for it while still draining its output.
                self._pump_exec_once(ex)
            except OSError:
                self._close_exec_stdin(ex)
                return

    def _pump_exec_once(self, ex: Exec) -> None:
        fds = list(ex.outputs)
        if ex.stdin is not None:
            import select as _select

            readable, _, _ = _select.select(fds, [ex.stdin], [], 0.05)
            for fd in readable:
                self._read_exec_output(fd, (ex, ex.outputs.get(fd, proto.STDOUT)))
            if ex.conn is not None and ex.conn.wbuf:
                self._flush_blocking(ex.conn)

    def _close_exec_stdin(self, ex: Exec) -> None:
        if ex.stdin is not None:
            if ex.master is not None:
                try:
                    os.write(ex.stdin, b"\x04")
                except OSError:
                    pass
            os.close(ex.stdin)
            ex.stdin = None

    def _maybe_finish_exec(self, ex: Exec) -> None:
        if ex.exit_code is None or ex.outputs:
            return
        if ex.conn is not None:
            self._send(ex.conn, proto.encode_json({"event": "exec_exit", "exit_code": ex.exit_code}))
        if ex.stdin is not None:
            os.close(ex.stdin)
            ex.stdin = None
        self.execs.pop(ex.pid, None)

    # -- exits ------------------------------------------------------------------------------------

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code
            if pid == self.pid and self.status == "running":
                self._on_init_exit(code, status)
            elif pid in self.execs:
                ex = self.execs[pid]
                ex.exit_code = code
                if ex.master is not None and ex.master in ex.outputs:
                    pass  # the pty drains until EIO
                self._maybe_finish_exec(ex)

    def _on_init_exit(self, code: int, status: int) -> None:
        oom = False
        if self.cgroup is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            oom = self.cgroup.oom_kills() > 0
        self.exit_info = {"exit_code": code, "oom_killed": oom, "finished_at": time.time_ns()}
        self.status = "exiting"
        self.exiting_since = time.monotonic()
        if self.cgroup is not None:
            self.cgroup.kill_all()  # --pid=host leaves others behind; a container ends whole
        for ex in list(self.execs.values()):
            if ex.exit_code is None:
                ex.exit_code = 137
        self._close_stdin()

    def _finish(self) -> None:
        """Output drained: make the exit durable, release the host resources, tell the daemon."""
        for ex in list(self.execs.values()):
            for fd in list(ex.outputs):
                try:
                    self.sel.unregister(fd)
                except (KeyError, ValueError):
                    pass
                os.close(fd)
            ex.outputs.clear()
            self._maybe_finish_exec(ex)
        if self.log is not None:
            self.log.close()
            self.log = None
        self._release()
        info = dict(self.exit_info or {})
        _write_json_atomic(self.cfg["exit_file"], info)
        self.status = "exited"
        self._broadcast({"event": "exit", **info})
        self._flush_and_exit(0)

    def _release(self) -> None:
        if not self.native:
            self._runc("delete", "--force", self.id, check=False)
        if self.mounted:
            try:
                linux.umount(self.rootfs)
            except OSError:
                try:
                    linux.umount(self.rootfs, linux.MNT_DETACH)
                except OSError:
                    pass
            self.mounted = False
        if self.cgroup is not None:
            self.cgroup.remove()

    def _cleanup_after_failed_start(self) -> None:
        if not self.native and self.pid:
            self._runc("delete", "--force", self.id, check=False)
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap_now(self.pid)
        self._release()

    def _flush_and_exit(self, code: int) -> NoReturn:
        try:
            os.unlink(os.path.join(self.state_dir, "monitor.sock"))
        except FileNotFoundError:
            pass
        deadline = time.monotonic() + 5
        for c in list(self.conns):
            if c.closed:
                continue
            try:
                c.sock.setblocking(True)
                c.sock.settimeout(max(0.01, deadline - time.monotonic()))
                if c.wbuf:
                    c.sock.sendall(c.wbuf)
                c.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        os._exit(code)


class _StartError(Exception):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _last_runc_error(log: str) -> str:
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


def _exec_code(text: str) -> int:
    if "executable file not found" in text or "no such file or directory" in text:
        return 127
    if "permission denied" in text or "is a directory" in text:
        return 126
    return 1


def _write_json_atomic(path: str, obj: Any) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def run(cfg: dict[str, Any], control: socket.socket | None) -> NoReturn:
    """The monitor's life, in a freshly forked child of the zygote."""
    linux.set_process_name("ballena-shim")
    m = Monitor(cfg)
    m.start(control)
    del cfg
    m.loop()
