"""The userland proxy for published ports on the host's own addresses (127.0.0.1 above all),
as docker-proxy does: DNAT rules carry traffic from elsewhere, this carries local traffic.

Its listening socket also reserves the port: a second container asking for it fails at start
with Docker's "port is already allocated".
"""

from __future__ import annotations

import asyncio
import errno
import socket
from dataclasses import dataclass

from ballena.errors import Conflict


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    proto: str
    host_ip: str
    host_port: int
    container_ip: str
    container_port: int


class PortProxy:
    def __init__(self) -> None:
        self._servers: dict[tuple[str, str, int], asyncio.base_events.Server | asyncio.BaseTransport] = {}

    @staticmethod
    def reserve(proto: str, host_ip: str, host_port: int) -> socket.socket:
        """Bind the host port (0 picks a free one). Raises Conflict in Docker's words."""
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        s = socket.socket(socket.AF_INET, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host_ip or "0.0.0.0", host_port))
        except OSError as e:
            s.close()
            if e.errno == errno.EADDRINUSE:
                raise Conflict(
                    f"Bind for {host_ip or '0.0.0.0'}:{host_port} failed: port is already allocated"
                ) from None
            if e.errno == errno.EADDRNOTAVAIL:
                raise Conflict(f"listen {proto} {host_ip}:{host_port}: bind: cannot assign requested address") from None
            raise
        if kind == socket.SOCK_STREAM:
            s.listen(128)
        s.setblocking(False)
        return s

    async def start(self, b: Binding, sock: socket.socket) -> None:
        key = (b.proto, b.host_ip, b.host_port)
        if b.proto == "tcp":
            server = await asyncio.start_server(lambda r, w: self._pipe(b, r, w), sock=sock)
            self._servers[key] = server
        else:
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(lambda: _UDPRelay(b), sock=sock)
            self._servers[key] = transport

    def stop(self, proto: str, host_ip: str, host_port: int) -> None:
        s = self._servers.pop((proto, host_ip, host_port), None)
        if s is not None:
            s.close()

    def stop_all(self) -> None:
        for key in list(self._servers):
            self.stop(*key)

    @staticmethod
    async def _pipe(b: Binding, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(b.container_ip, b.container_port)
        except OSError:
            writer.close()
            return

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
                if dst.can_write_eof():
                    dst.write_eof()
            except (ConnectionError, OSError):
                dst.close()

        await asyncio.gather(copy(reader, up_w), copy(up_r, writer), return_exceptions=True)
        writer.close()
        up_w.close()


class _UDPRelay(asyncio.DatagramProtocol):
    """Each client address gets its own upstream socket, like docker-proxy's UDP mode."""

    def __init__(self, b: Binding) -> None:
        self.b = b
        self.transport: asyncio.DatagramTransport | None = None
        self.clients: dict[tuple[str, int], asyncio.DatagramTransport] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        upstream = self.clients.get(addr)
        if upstream is not None:
            upstream.sendto(data)
            return

        relay = self

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, d: bytes, _a: tuple[str, int]) -> None:
                if relay.transport is not None:
                    relay.transport.sendto(d, addr)

        async def open_upstream() -> None:
            loop = asyncio.get_running_loop()
            t, _ = await loop.create_datagram_endpoint(Back, remote_addr=(self.b.container_ip, self.b.container_port))
            self.clients[addr] = t  # type: ignore[assignment]
            t.sendto(data)  # type: ignore[attr-defined]

        asyncio.ensure_future(open_upstream())

    def connection_lost(self, exc: Exception | None) -> None:
        for t in self.clients.values():
            t.close()
