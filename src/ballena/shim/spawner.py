"""The daemon's side of the zygote (``shim.zygote``): starting it, asking it for children, and
replacing it when it dies or stops answering.

Requests are sent whole without ever blocking the event loop: the file descriptor rides on
the frame's five-byte header, the rest follows with ``sock_sendall`` however large it is. A
zygote that has not answered within ``SPAWN_TIMEOUT`` is killed and replaced, so no start ever
waits on a stuck one (and no other start waits behind it).
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from ballena.errors import SystemFailure
from ballena.pkg import framing
from ballena.shim.channel import Channel
from ballena.shim.config import FileHelperConfig, MonitorConfig, spawn_request

__all__ = ["SPAWN_TIMEOUT", "Zygote"]

# A fork takes a millisecond; a zygote that has not answered in this long is stuck (or gone).
SPAWN_TIMEOUT = 10.0


class Zygote:
    """The fork server process, seen from the daemon: started lazily, replaced when it dies
    or stops answering."""

    def __init__(self, *, log_path: Path, file_helpers: bool = False) -> None:
        """``file_helpers``: the zygote of the file helpers, which has ``shim.fsops`` imported."""
        self._file_helpers = file_helpers
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._lock = asyncio.Lock()
        self._log_path = log_path

    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        theirs_fd = theirs.fileno()
        log = open(self._log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "ballena.shim.zygote", str(theirs_fd)]
                + (["--file-helpers"] if self._file_helpers else []),
                pass_fds=(theirs_fd,),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                close_fds=True,
            )
        finally:
            log.close()
            theirs.close()
        ours.setblocking(False)
        self._sock = ours

    def start(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            self._start()

    async def spawn(self, cfg: MonitorConfig | FileHelperConfig, *, pass_fd: int | None = None) -> tuple[int, Channel]:
        """Fork a child running ``cfg``; returns its PID and a channel already connected to it
        (no race: the socket exists before the child does). ``pass_fd`` goes to the child as
        the first message on that channel (a handed-over request body's connection). Raises
        SystemFailure when the zygote cannot (and then replaces it)."""
        frame = framing.encode_json(spawn_request(cfg))
        async with self._lock:
            self.start()
            daemon_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                reply = await asyncio.wait_for(self._exchange(frame, child_end.fileno()), SPAWN_TIMEOUT)
            except (OSError, ValueError, framing.FrameError, TimeoutError) as e:
                self._replace()
                daemon_end.close()
                reason = "it did not answer" if isinstance(e, TimeoutError) else str(e)
                raise SystemFailure(f"cannot start container monitor: {reason}") from None
            finally:
                child_end.close()
        if "error" in reply:
            daemon_end.close()
            raise SystemFailure(f"cannot start container monitor: {reply['error']}")
        if pass_fd is not None:
            # A few bytes on a new, empty socket: this send cannot block. It can find the child
            # gone: a file helper that fails before it needs the descriptor (no such path)
            # reports that and exits at once, and its report is on the channel, to be read.
            try:
                framing.send_json(daemon_end, {"fd": "passed"}, [pass_fd])
            except (BrokenPipeError, ConnectionResetError):
                pass
        return int(reply["pid"]), await Channel.from_socket(daemon_end)

    async def make_cgroup(self, path: str) -> None:
        """Have the zygote make a container's cgroup now, ahead of the monitor's fork.

        Why: moving the container's init into its cgroup waits for an RCU grace period unless
        a migration happened just before (``cgroups.warm_migrations``); the daemon starts one
        on a thread while it writes the bundle, but that write holds the kernel's cgroup mutex
        for the whole wait, and a cgroup mkdir meanwhile would wait too. So the directories
        come first, made on the monitor's side of the fork. Raises SystemFailure."""
        frame = framing.encode_json({"kind": "cgroup", "path": path})
        async with self._lock:
            self.start()
            try:
                reply = await asyncio.wait_for(self._exchange(frame, None), SPAWN_TIMEOUT)
            except (OSError, ValueError, framing.FrameError, TimeoutError) as e:
                self._replace()
                raise SystemFailure(f"cannot make the cgroup {path}: {e or 'the zygote did not answer'}") from None
        if "error" in reply:
            raise SystemFailure(str(reply["error"]))

    async def _exchange(self, frame: bytes, fd: int | None) -> dict[str, Any]:
        """Send a whole request frame (the fd rides on its header) and read the whole answer,
        without ever blocking the event loop on a full socket buffer."""
        sock = self._sock
        assert sock is not None
        loop = asyncio.get_running_loop()
        header, payload = frame[: framing.HEADER.size], frame[framing.HEADER.size :]
        while True:
            try:
                sent = socket.send_fds(sock, [header], [fd] if fd is not None else [])
                break
            except BlockingIOError:
                await _writable(loop, sock)
        await loop.sock_sendall(sock, header[sent:] + payload)
        decoder = framing.Decoder()
        while True:
            chunk = await loop.sock_recv(sock, 65536)
            if not chunk:
                raise OSError("the zygote exited")
            for kind, data in decoder.feed(chunk):
                if kind == framing.JSON:
                    obj = json.loads(data)
                    if isinstance(obj, dict):
                        return obj

    def _replace(self) -> None:
        """Drop a zygote that failed us: the next spawn starts a new one."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
                try:
                    self._proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass
            self._proc = None

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None


async def _writable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    fut: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    loop.add_writer(sock, ready)
    try:
        await fut
    finally:
        loop.remove_writer(sock)
