"""``GET /containers/{id}/attach/ws``: a container's streams over a WebSocket (RFC 6455), for
browsers and IDE plugins. The handshake's accept key is computed here; the frames are
wsproto's (the h11 authors' sans-I/O WebSocket library). As dockerd since API 1.42, output
goes out in binary frames (text frames before), raw: no stdout/stderr multiplexing."""

from __future__ import annotations

import asyncio
import base64
import hashlib

from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from ballena.api.http import RawStream, Request
from ballena.errors import InvalidArgument

__all__ = ["WebSocket", "WebSocketStream", "accept_key"]

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(req: Request) -> str:
    """The Sec-WebSocket-Accept for this upgrade request. Raises InvalidArgument when the
    request is no WebSocket handshake."""
    key = req.headers.get("sec-websocket-key", "")
    if req.headers.get("upgrade", "").lower() != "websocket" or not key:
        raise InvalidArgument("attach/ws needs a WebSocket upgrade request (Upgrade: websocket, Sec-WebSocket-Key)")
    return base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()


class WebSocket:
    """Messages over a hijacked connection whose 101 answer has gone out."""

    def __init__(self, raw: RawStream, *, binary: bool) -> None:
        self.raw = raw
        self.binary = binary
        self.conn = Connection(ConnectionType.SERVER)
        self.closed = False

    async def send(self, data: bytes) -> None:
        """Raises ConnectionError when the client is gone."""
        if self.closed:
            raise ConnectionError("websocket closed")
        msg = BytesMessage(data=data) if self.binary else TextMessage(data=data.decode("utf-8", errors="replace"))
        await self.raw.write(self.conn.send(msg))

    async def receive(self) -> bytes | None:
        """The next message's bytes; None once the client closed (its close is answered)."""
        while not self.closed:
            data = await self.raw.read()
            try:
                self.conn.receive_data(data or None)
                events = list(self.conn.events())
            except RemoteProtocolError:
                self.closed = True
                return None
            out = bytearray()
            for ev in events:
                if isinstance(ev, Message):
                    out += ev.data if isinstance(ev.data, bytes) else ev.data.encode()
                elif isinstance(ev, Ping):
                    await self.raw.write(self.conn.send(ev.response()))
                elif isinstance(ev, CloseConnection):
                    try:
                        await self.raw.write(self.conn.send(ev.response()))
                    except (LocalProtocolError, ConnectionError, OSError):
                        pass
                    self.closed = True
            if out:
                return bytes(out)
            if not data:
                self.closed = True
        return None

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            await self.raw.write(self.conn.send(CloseConnection(code=1000)))
        except (LocalProtocolError, ConnectionError, OSError):
            return
        # The closing handshake: the client answers our close with its own, and only then is
        # the connection dropped (else a browser reports 1006, "closed abnormally", and a
        # client still answering writes into a closed socket). A client that never answers
        # is given a second.
        try:
            async with asyncio.timeout(1):
                while data := await self.raw.read():
                    self.conn.receive_data(data)
                    if any(isinstance(ev, CloseConnection) for ev in self.conn.events()):
                        return
        except (TimeoutError, RemoteProtocolError, LocalProtocolError):
            pass


class WebSocketStream:
    """A WebSocket read and written as a hijacked connection's bytes (``RawStream``'s
    ``read``/``write``), so one session loop serves both: messages in, binary frames out."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws

    async def read(self, n: int = 0) -> bytes:
        """The next message's bytes; b"" once the client closed."""
        return await self.ws.receive() or b""

    async def write(self, data: bytes) -> None:
        await self.ws.send(data)
