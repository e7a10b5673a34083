"""The monitor of one container (containerd's shim, podman's conmon): its loop.

Forked from the zygote, it mounts the root filesystem, makes the container's cgroup, has its
``RuntimeDriver`` create and start the container, then lives as long as the container does: it
copies the container's output into the json-file log and to attached clients, feeds stdin,
runs execs (``execs``), resizes terminals, delivers signals, freezes and updates the cgroup,
and when the first process exits it drains the output, makes the exit status durable, releases
the mount and the cgroup, tells the daemon and exits.

The daemon talks to it in ``messages`` over ``framing`` frames: first through the socket the
zygote handed over, after a daemon restart through ``monitor.sock`` in the state directory.
Nothing here needs the daemon alive. The loop is single-threaded (``selectors``), so forking
for an exec is safe.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import time
from collections.abc import Callable
from typing import Any, NoReturn

from ballena.errors import BallenaError, Conflict, RuntimeFailure, SystemFailure, kind_name
from ballena.pkg import framing, linux, trace
from ballena.runtime import native
from ballena.runtime.cgroups import Cgroup
from ballena.shim import messages
from ballena.shim.config import MonitorConfig
from ballena.shim.connections import HIGH_WATER, LOW_WATER, READ_SIZE, Conn, Connections
from ballena.shim.drivers import RuntimeDriver, driver_for
from ballena.shim.execs import ExecProcess, Execs
from ballena.shim.health import MAX_OUTPUT, HealthChecker
from ballena.shim.logfile import LogWriter
from ballena.shim.stdio import ProcessIO, nonblocking

__all__ = ["Monitor", "run"]

# Output still arriving this long after the first process exited is held open by something
# outside the container (a process that inherited the pipe): stop waiting for its end.
_DRAIN_AFTER_EXIT = 2.0
# How long a monitor whose container failed after "created" waits for the daemon's Start or
# Cancel before it leaves anyway (the daemon is wiring the network: milliseconds, as a rule).
_DAEMON_WORD_TIMEOUT = 30.0


class Monitor:
    def __init__(self, cfg: MonitorConfig) -> None:
        self.cfg = cfg
        self.sel = selectors.DefaultSelector()
        self.conns = Connections(self.sel)
        self.execs = Execs(sel=self.sel, conns=self.conns)
        self.io = ProcessIO()  # the container's streams
        self.stdin_buf = bytearray()
        self.pid = 0
        self.status = "creating"  # created running exiting exited
        self.paused = False
        self.exit_info: dict[str, Any] | None = None
        self.exiting_since = 0.0
        self.outputs_paused = False
        self.log: LogWriter | None = None
        self.cgroup = Cgroup(cfg.cgroup_path) if cfg.cgroup_path else None
        self.rootfs = os.path.join(cfg.bundle, "rootfs")
        self.mounted = False
        if cfg.spec is not None:
            self.spec: dict[str, Any] = cfg.spec
        else:
            with open(os.path.join(cfg.bundle, "config.json")) as f:
                self.spec = json.load(f)
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.dirfd = -1
        self.driver: RuntimeDriver | None = None
        self.health: HealthChecker | None = None
        self._probes = 0

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
        self.dirfd = os.open(self.cfg.state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        # Our working directory names our container (the leak checks look for it there).
        os.chdir(self.cfg.state_dir)
        self._listen()
        if control is not None:
            os.set_inheritable(control.fileno(), False)
            c = self.conns.add(control, "control")
            c.out, c.err, c.stdin = self.cfg.attach_stdout, self.cfg.attach_stderr, self.cfg.open_stdin
        if self.cfg.log is not None:
            log = self.cfg.log
            self.log = LogWriter(log.path, max_size=log.max_size, max_file=log.max_file)
        self.driver = driver_for(self.cfg, spec=self.spec, cgroup=self.cgroup, dirfd=self.dirfd)
        try:
            self._create_and_start()
        except Exception as e:
            if isinstance(e, BallenaError):
                message, code = e.message, int(getattr(e, "exit_code", 128))
            else:
                message, code = f"OCI runtime create failed: {e}", 128
            self.conns.broadcast(messages.Failed(message=message, exit_code=code))
            self._release_after_failed_start()
            self._exit(await_daemon=self.status == "created")

    def _listen(self) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            os.unlink(os.path.join(self.cfg.state_dir, "monitor.sock"))
        except FileNotFoundError:
            pass
        self.listener.bind(f"/proc/self/fd/{self.dirfd}/monitor.sock")  # short whatever the path
        self.listener.listen(16)
        self.listener.setblocking(False)
        self.sel.register(self.listener, selectors.EVENT_READ, ("listen", None))

    def _mount_rootfs(self) -> None:
        os.makedirs(self.rootfs, exist_ok=True)
        for m in self.cfg.rootfs_mounts:
            flags, _prop, data = native.parse_mount_options(list(m.options))
            linux.mount(m.source or m.type, self.rootfs, None if flags & linux.MS_BIND else m.type, flags, data or None)
        self.mounted = True

    def _make_cgroup(self) -> None:
        """The cgroup (usually made a moment ago by the zygote, see ``Zygote.make_cgroup``:
        what is missing is made here) and its limits."""
        if self.cgroup is None:
            return
        try:
            self.cgroup.create()
            self.cgroup.set_resources((self.spec.get("linux") or {}).get("resources") or {})
        except OSError as e:
            raise RuntimeFailure(f"OCI runtime create failed: cgroup: {e}") from None

    def _create_and_start(self) -> None:
        assert self.driver is not None
        self._mount_rootfs()
        trace.mark("monitor: rootfs mounted")
        self._make_cgroup()
        trace.mark("monitor: cgroup made")
        # The daemon has work to do between creation and start (networking): it is told as soon
        # as the init's namespaces exist, and does it while the init mounts its root.
        announce = None if self.cfg.autostart else self._announce_created
        proc = self.driver.create(on_namespaces=announce)
        self.pid, self.io = proc.pid, proc.io
        if not self.cfg.autostart:
            if self.status != "created":
                self._announce_created(proc.pid)
            if not self._wait_for_start():
                raise RuntimeFailure("start cancelled by the daemon", 1)
        self.driver.start()
        for fd, kind in self.io.outputs.items():
            self.sel.register(fd, selectors.EVENT_READ, ("out", kind))
        if self.io.stdin is not None:
            nonblocking(self.io.stdin)
        self.status = "running"
        self.conns.broadcast(messages.Started(pid=self.pid))
        trace.mark("monitor: running")
        if self.cfg.health is not None:
            self.health = HealthChecker(
                self.cfg.health,
                started_at_ns=time.time_ns(),
                start_probe=self._start_probe,
                kill=_kill_quietly,
                publish=lambda state: self.conns.broadcast(messages.HealthReport(health=state)),
            )

    def _announce_created(self, pid: int) -> None:
        self.pid = pid
        self.status = "created"
        self.conns.broadcast(messages.Created(pid=pid))

    def _wait_for_start(self) -> bool:
        """Block until the daemon says Start (or Cancel, or goes away, or the init dies)."""
        control = next((c for c in self.conns.all if c.role == "control"), None)
        if control is None:
            return False
        control.sock.setblocking(True)
        try:
            while True:
                for key, _ in self.sel.select(None):
                    kind, obj = key.data
                    if kind == "conn" and obj is control:
                        data = control.sock.recv(READ_SIZE)
                        if not data:
                            return False
                        for fkind, payload in control.decoder.feed(data):
                            if fkind != framing.JSON:
                                continue
                            match messages.decode_request(json.loads(payload)):
                                case messages.Start():
                                    return True
                                case messages.Cancel():
                                    return False
                    elif kind == "wake":
                        _drain(self.wake_r)
                        try:
                            pid, _status = os.waitpid(self.pid, os.WNOHANG)
                        except ChildProcessError:
                            return False
                        if pid:
                            return False
        finally:
            control.sock.setblocking(False)

    # -- the loop -----------------------------------------------------------------------------

    def loop(self) -> NoReturn:
        while True:
            timeout = self.health.due() if self.health is not None else None
            if self.status == "exiting":
                timeout = 0.05
                if time.monotonic() - self.exiting_since > _DRAIN_AFTER_EXIT and self.io.outputs:
                    for fd in list(self.io.outputs):
                        self._close_output(fd)
            for key, events in self.sel.select(timeout):
                kind, obj = key.data
                if kind == "wake":
                    _drain(self.wake_r)
                    self._reap()
                elif kind == "listen":
                    try:
                        sock, _ = self.listener.accept()
                    except BlockingIOError:
                        continue
                    self.conns.add(sock)
                elif kind == "conn":
                    if events & selectors.EVENT_WRITE:
                        self.conns.flush(obj)
                    if events & selectors.EVENT_READ and not obj.closed:
                        self._read_conn(obj)
                elif kind == "out":
                    self._read_output(key.fd, obj)
                elif kind == "exec_out":
                    self.execs.read_output(key.fd, *obj)
            if self.health is not None:
                self.health.tick()
            self._apply_backpressure()
            if self.status == "exiting" and not self.io.outputs:
                self._finish()

    def _apply_backpressure(self) -> None:
        pending = self.conns.output_backlog()
        if not self.outputs_paused and pending > HIGH_WATER:
            for fd in self.io.outputs:
                self.sel.unregister(fd)
            self.outputs_paused = True
        elif self.outputs_paused and pending < LOW_WATER:
            for fd, kind in self.io.outputs.items():
                self.sel.register(fd, selectors.EVENT_READ, ("out", kind))
            self.outputs_paused = False

    # -- the container's streams --------------------------------------------------------------

    def _read_output(self, fd: int, kind: bytes) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != 5:  # EIO: the pty's last writer is gone
                raise
            data = b""
        if not data:
            self._close_output(fd)
            return
        if self.log is not None:
            self.log.write("stderr" if kind == framing.STDERR else "stdout", data)
        frame = framing.encode(kind, data)
        for c in self.conns.all:
            if (kind == framing.STDOUT and c.out) or (kind == framing.STDERR and c.err):
                self.conns.send(c, frame)

    def _close_output(self, fd: int) -> None:
        if fd not in self.io.outputs:
            return
        del self.io.outputs[fd]
        if not self.outputs_paused:
            try:
                self.sel.unregister(fd)
            except (KeyError, ValueError):
                pass
        os.close(fd)
        if fd == self.io.master:
            self.io.master = None

    def _write_stdin(self, data: bytes) -> None:
        if self.io.stdin is None:
            return
        self.stdin_buf += data
        while self.stdin_buf and self.io.stdin is not None:
            try:
                n = os.write(self.io.stdin, self.stdin_buf)
                del self.stdin_buf[:n]
            except BlockingIOError:
                time.sleep(0.001)  # the container reads slowly; stdin is rarely large
            except OSError:
                self.stdin_buf.clear()
                self._close_stdin()

    def _close_stdin(self) -> None:
        if self.io.stdin is None:
            return
        if self.cfg.tty:
            try:
                os.write(self.io.stdin, b"\x04")  # end of input on a terminal is ^D
            except OSError:
                pass
        os.close(self.io.stdin)
        self.io.stdin = None

    # -- requests -----------------------------------------------------------------------------

    def _read_conn(self, c: Conn) -> None:
        try:
            data = c.sock.recv(READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            if c.exec is not None and c.exec.exit_code is None:
                # The daemon half-closed: the exec's stdin ends; its output still flows back.
                self.execs.close_stdin(c.exec)
                c.read_closed = True
                self.conns.interest(c)
                return
            self.conns.close(c)
            return
        try:
            frames = c.decoder.feed(data)
        except framing.FrameError:
            self.conns.close(c)
            return
        for kind, payload in frames:
            if kind == framing.JSON:
                try:
                    obj = json.loads(payload)
                except ValueError:
                    continue
                req = messages.decode_request(obj) if isinstance(obj, dict) else None
                if req is not None:
                    self._handle(c, req)
            elif kind == framing.STDIN:
                if c.exec is not None:
                    self.execs.write_stdin(c.exec, payload)
                elif c.stdin:
                    self._write_stdin(payload)

    def _handle(self, c: Conn, req: messages.Request) -> None:
        match req:
            case messages.Hello(role=role):
                c.role = role
                self.conns.send_message(c, self._state())
            case messages.Attach(stdout=out, stderr=err, stdin=inp):
                c.role = c.role or "control"
                c.out, c.err, c.stdin = out, err, inp
            case messages.CloseStdin():
                if c.exec is not None:
                    self.execs.close_stdin(c.exec)
                else:
                    self._close_stdin()
            case messages.Kill(signal=sig, all=all_):
                self._kill(sig, all_)
            case messages.Resize(height=h, width=w):
                if c.exec is not None:
                    self.execs.resize(c.exec, h, w)
                elif self.io.master is not None:
                    try:
                        linux.set_winsize(self.io.master, h, w)
                    except OSError:
                        pass
            case messages.Exec():
                self._start_exec(c, req)
            case messages.GetState():
                self.conns.send_message(c, self._state())
            case messages.GetHealth():
                self.conns.send_message(c, messages.HealthReport(health=self.health.state if self.health else None))
            case messages.Update(resources=resources):
                self._reply(c, lambda: self._cgroup_do("update", resources))
            case messages.Pause():
                self._reply(c, lambda: self._cgroup_do("pause"))
            case messages.Resume():
                self._reply(c, lambda: self._cgroup_do("resume"))
            case _:
                pass  # Start/Cancel mean nothing once the container runs

    def _reply(self, c: Conn, action: Any) -> None:
        try:
            action()
            reply = messages.Reply()
        except BallenaError as e:
            reply = messages.Reply(error=e.message, kind=kind_name(e))
        except OSError as e:
            reply = messages.Reply(error=e.strerror or str(e), kind="SystemFailure")
        self.conns.send_message(c, reply)

    def _cgroup_do(self, what: str, resources: dict[str, Any] | None = None) -> None:
        if self.status != "running":
            raise Conflict(f"Container {self.cfg.id} is not running")
        if self.cgroup is None:
            raise SystemFailure(f"container {self.cfg.id} has no cgroup")
        if what == "update":
            self.cgroup.set_resources(resources or {})
        elif what == "pause":
            self.cgroup.freeze()
            self.paused = True
        else:
            self.cgroup.thaw()
            self.paused = False
        if self.health is not None and what != "update":
            self.health.pause(self.paused)

    def _state(self) -> messages.State:
        return messages.State(status=self.status, pid=self.pid, paused=self.paused, exit=self.exit_info)

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

    def _start_probe(self, argv: tuple[str, ...], done: Callable[[int, bytes], None]) -> int | None:
        """A healthcheck probe: an exec of ``argv`` as the container's own process (its user,
        environment, capabilities), its output kept for State.Health, not sent anywhere."""
        assert self.driver is not None
        self._probes += 1
        process = {**(self.spec.get("process") or {}), "args": list(argv), "terminal": False}
        ex = ExecProcess(
            f"health-{self._probes}",
            capture_limit=MAX_OUTPUT,
            on_exit=lambda ex: done(ex.exit_code if ex.exit_code is not None else -1, bytes(ex.capture or b"")),
        )
        req = messages.Exec(id=ex.id, process=process, stdin=False, console_size=None)
        if not self.execs.start(ex, self.driver, req):
            return None  # on_exit has told the checker why
        return ex.pid

    def _start_exec(self, c: Conn, req: messages.Exec) -> None:
        c.role = "exec"
        ex = ExecProcess(req.id, conn=c)
        c.exec = ex
        if self.status != "running" or self.driver is None:
            self.conns.send_message(
                c, messages.ExecFailed(message=f"container {self.cfg.id} is not running", exit_code=126)
            )
            return
        self.execs.start(ex, self.driver, req)

    # -- the end --------------------------------------------------------------------------------

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
            else:
                self.execs.on_exit(pid, code)

    def _on_init_exit(self, code: int, status: int) -> None:
        self.health = None  # no more probes; a running one ends with the container
        oom = False
        if self.cgroup is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            oom = self.cgroup.oom_kills() > 0
        self.exit_info = {"exit_code": code, "oom_killed": oom, "finished_at": time.time_ns()}
        self.status = "exiting"
        self.exiting_since = time.monotonic()
        if self.cgroup is not None:
            if self.paused:
                self.cgroup.thaw()
            self.cgroup.kill_all()  # --pid=host leaves others behind; a container ends whole
        self._close_stdin()

    def _finish(self) -> NoReturn:
        """Output drained: make the exit durable, release the host's resources, tell the daemon."""
        self.execs.end_all()
        if self.log is not None:
            self.log.close()
            self.log = None
        self._release()
        info = dict(self.exit_info or {})
        _write_json_atomic(self.cfg.exit_file, info)
        self.status = "exited"
        self.conns.broadcast(
            messages.Exited(
                exit_code=int(info.get("exit_code", 0)),
                oom_killed=bool(info.get("oom_killed")),
                finished_at=int(info.get("finished_at", 0)),
            )
        )
        self._exit()

    def _release(self) -> None:
        if self.driver is not None:
            self.driver.delete()
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

    def _release_after_failed_start(self) -> None:
        self.io.close()
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
        self._release()

    def _exit(self, *, await_daemon: bool = False) -> NoReturn:
        """Leave, after the last byte queued for each connection. ``await_daemon``: the daemon
        was told "created" and is about to say Start or Cancel; wait for that word (or for it to
        hang up) first, since its write to a monitor already gone would fail, and its side of
        the connection would drop the Failed it has not read yet."""
        try:
            os.unlink(os.path.join(self.cfg.state_dir, "monitor.sock"))
        except FileNotFoundError:
            pass
        self.conns.drain_all(time.monotonic() + 5)
        control = next((c for c in self.conns.all if c.role == "control" and not c.closed), None)
        if await_daemon and control is not None:
            try:
                control.sock.settimeout(_DAEMON_WORD_TIMEOUT)
                control.sock.recv(1)
            except OSError:
                pass
        os._exit(0)


def _kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _drain(fd: int) -> None:
    try:
        os.read(fd, 4096)
    except BlockingIOError:
        pass


def _write_json_atomic(path: str, obj: Any) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def run(cfg: MonitorConfig, control: socket.socket | None) -> NoReturn:
    """The monitor's life, in a freshly forked child of the zygote."""
    linux.set_process_name("ballena-shim")
    m = Monitor(cfg)
    m.start(control)
    del cfg
    m.loop()
