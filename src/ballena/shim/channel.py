"""The daemon's end of one framed connection to a monitor or a file helper (asyncio).

``Channel.connect`` reaches a running monitor through its ``monitor.sock`` (after a daemon
restart, for an exec, for a request); the zygote hands over a channel already wired to a new
child. ``frames()`` is the one place frames are taken apart on the daemon's side.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ballena.errors import SystemFailure, Unavailable
from ballena.pkg import framing
from ballena.shim import messages

__all__ = ["Channel", "Output"]

# An output frame, as (stream, data): 1 stdout (everything with a TTY), 2 stderr.
Output = tuple[int, bytes]


class Channel:
    """One framed connection. Sends are whole frames; reads decode with ``framing.Decoder``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._decoder = framing.Decoder()
        self._pending: list[tuple[bytes, bytes]] = []

    @classmethod
    async def from_socket(cls, sock: socket.socket) -> Channel:
        sock.setblocking(False)
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=1 << 20)
        return cls(reader, writer)

    @classmethod
    async def connect(cls, state_dir: Path) -> Channel:
        """A new connection to the monitor of ``state_dir``. Raises Unavailable when none
        listens there (it exited, or never ran)."""
        fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(f"/proc/self/fd/{fd}/monitor.sock")  # short whatever the path's length
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError) as e:
            s.close()
            raise Unavailable(f"monitor at {state_dir} is gone: {e}") from None
        finally:
            os.close(fd)
        return await cls.from_socket(s)

    # -- sending ------------------------------------------------------------------------------

    async def send(self, msg: messages.Request | dict[str, Any]) -> None:
        """Send a request (or, to a file helper, a plain JSON object). Raises Unavailable when
        the peer is gone."""
        obj = messages.encode(msg) if isinstance(msg, messages.Request) else msg
        await self._write(framing.encode_json(obj))

    async def send_stdin(self, data: bytes) -> None:
        await self._write(framing.encode(framing.STDIN, data))

    async def _write(self, frame: bytes) -> None:
        try:
            self.writer.write(frame)
            await self.writer.drain()
        except (ConnectionError, OSError, RuntimeError) as e:
            raise Unavailable(f"the monitor went away: {e}") from None

    # -- receiving ----------------------------------------------------------------------------

    async def next_frame(self) -> tuple[bytes, bytes] | None:
        """The next frame, or None when the peer closed the connection (or broke the stream)."""
        while not self._pending:
            try:
                data = await self.reader.read(1 << 16)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                return None
            try:
                self._pending.extend(self._decoder.feed(data))
            except framing.FrameError:
                return None
        return self._pending.pop(0)

    async def next_json(self) -> dict[str, Any] | None:
        """The next JSON object, skipping output frames; None at the end."""
        while True:
            frame = await self.next_frame()
            if frame is None:
                return None
            if frame[0] == framing.JSON:
                obj = json.loads(frame[1])
                if isinstance(obj, dict):
                    return obj

    async def next_event(self) -> messages.Event | None:
        """The next event the monitor sent, skipping output frames; None at the end."""
        while True:
            obj = await self.next_json()
            if obj is None:
                return None
            ev = messages.decode_event(obj)
            if ev is not None:
                return ev

    async def frames(self) -> AsyncIterator[Output | messages.Event | dict[str, Any]]:
        """Everything the peer sends until it closes: output as ``(stream, data)``, events
        decoded, other JSON objects as they are."""
        while True:
            frame = await self.next_frame()
            if frame is None:
                return
            kind, payload = frame
            if kind == framing.JSON:
                try:
                    obj = json.loads(payload)
                except ValueError:
                    raise SystemFailure("malformed message from a monitor") from None
                ev = messages.decode_event(obj) if isinstance(obj, dict) else None
                yield ev if ev is not None else obj
            else:
                yield (2 if kind == framing.STDERR else 1), payload

    def close(self) -> None:
        try:
            self.writer.close()
        except RuntimeError:
            pass
