"""The daemon's side of monitors: spawning them through the zygote and talking to them.

``Zygote.spawn`` returns a ``MonitorConn`` already wired to the new monitor (no connect race:
the socket exists before the monitor does). ``MonitorConn.connect`` reaches a running monitor
through its ``monitor.sock`` (after a daemon restart, or for an exec).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

from ballena.errors import SystemError, Unavailable
from ballena.shim import protocol as proto


class MonitorConn:
    """One framed connection to a monitor."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._decoder = proto.Decoder()
        self._pending: list[tuple[bytes, bytes]] = []

    @classmethod
    async def from_socket(cls, sock: socket.socket) -> MonitorConn:
        sock.setblocking(False)
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=1 << 20)
        return cls(reader, writer)

    @classmethod
    async def connect(cls, state_dir: Path) -> MonitorConn:
        """Raises Unavailable when no monitor listens there (it exited)."""
        path = state_dir / "monitor.sock"
        fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(f"/proc/self/fd/{fd}/monitor.sock")
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError) as e:
            s.close()
            raise Unavailable(f"monitor at {path} is gone: {e}") from None
        finally:
            os.close(fd)
        return await cls.from_socket(s)

    async def send_json(self, obj: Any) -> None:
        self.writer.write(proto.encode_json(obj))
        await self.writer.drain()

    async def send_stdin(self, data: bytes) -> None:
        self.writer.write(proto.encode(proto.STDIN, data))
        await self.writer.drain()

    async def next_frame(self) -> tuple[bytes, bytes] | None:
        """The next frame, or None when the monitor closed the connection."""
        while not self._pending:
            try:
                data = await self.reader.read(1 << 16)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                return None
            self._pending.extend(self._decoder.feed(data))
        return self._pending.pop(0)

    async def next_json(self) -> dict[str, Any] | None:
        """Skip output frames until the next JSON message (used before output flows)."""
        while True:
            frame = await self.next_frame()
            if frame is None:
                return None
            if frame[0] == proto.JSON:
                return json.loads(frame[1])

    def close(self) -> None:
        try:
            self.writer.close()
        except RuntimeError:
            pass


class Zygote:
    """The fork server process; started lazily, restarted if it dies."""

    def __init__(self, *, log_path: Path) -> None:
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
                [sys.executable, "-m", "ballena.shim.zygote", str(theirs_fd)],
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

    async def spawn(self, cfg: dict[str, Any]) -> tuple[int, MonitorConn]:
        """Fork a monitor for ``cfg``. Raises SystemError when the zygote cannot."""
        async with self._lock:
            self.start()
            assert self._sock is not None
            daemon_end, monitor_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                data = json.dumps(cfg).encode()
                payload = struct.pack(">I", len(data)) + data
                loop = asyncio.get_running_loop()
                try:
                    socket.send_fds(self._sock, [payload], [monitor_end.fileno()])
                except BlockingIOError:
                    await loop.sock_sendall(self._sock, b"")
                    socket.send_fds(self._sock, [payload], [monitor_end.fileno()])
                reply = await self._read_reply(loop)
            except (OSError, ValueError) as e:
                self._proc = None
                daemon_end.close()
                raise SystemError(f"cannot start container monitor: {e}") from None
            finally:
                monitor_end.close()
        if "error" in reply:
            daemon_end.close()
            raise SystemError(f"cannot start container monitor: {reply['error']}")
        return int(reply["pid"]), await MonitorConn.from_socket(daemon_end)

    async def _read_reply(self, loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
        assert self._sock is not None
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
            chunk = await loop.sock_recv(self._sock, 65536)
            if not chunk:
                raise OSError("the zygote exited")
            buf += chunk
        size = struct.unpack(">I", buf[:4])[0]
        return json.loads(buf[4 : 4 + size])  # type: ignore[no-any-return]

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
