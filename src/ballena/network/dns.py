"""The embedded DNS server of user-defined networks (Docker's 127.0.0.11).

Each container on a user network gets a UDP and a TCP socket bound to 127.0.0.11:53 *inside its
network namespace*; the daemon serves them all from its event loop. A name is answered from the
networks the asking container is on (container names, network aliases, link aliases, short IDs);
anything else is forwarded to the upstream servers from the host's namespace.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable

from dnslib import AAAA, PTR, QTYPE, RCODE, RR, A, DNSRecord

log = logging.getLogger("ballena.dns")

EMBEDDED_ADDRESS = "127.0.0.11"
TTL = 600

# (asking container ID, name, IP version) -> addresses ([]: known name, no address of that
# version; None: unknown here); (asking container ID, address) -> name for PTR
Lookup = Callable[[str, str, int], list[str] | None]
Reverse = Callable[[str, str], str | None]
Upstreams = Callable[[str], list[str]]


class DNSServer:
    def __init__(self, *, lookup: Lookup, reverse: Reverse, upstreams: Upstreams) -> None:
        self.lookup = lookup
        self.reverse = reverse
        self.upstreams = upstreams
        self._listeners: dict[str, list[asyncio.BaseTransport | asyncio.base_events.Server]] = {}

    async def serve(self, container_id: str, udp: socket.socket, tcp: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _UDP(self, container_id), sock=udp)
        server = await asyncio.start_server(lambda r, w: self._tcp(container_id, r, w), sock=tcp)
        self.stop(container_id)
        self._listeners[container_id] = [transport, server]

    def stop(self, container_id: str) -> None:
        for item in self._listeners.pop(container_id, []):
            item.close()

    def stop_all(self) -> None:
        for cid in list(self._listeners):
            self.stop(cid)

    async def answer(self, container_id: str, data: bytes) -> bytes | None:
        try:
            q = DNSRecord.parse(data)
        except Exception:
            return None
        reply = q.reply()
        qname = str(q.q.qname).rstrip(".")
        qtype = QTYPE[q.q.qtype]
        if qtype == "PTR" and qname.endswith(".in-addr.arpa"):
            ip = ".".join(reversed(qname[: -len(".in-addr.arpa")].split(".")))
            name = self.reverse(container_id, ip)
            if name:
                reply.add_answer(RR(q.q.qname, QTYPE.PTR, rdata=PTR(name + "."), ttl=TTL))
                return reply.pack()
        elif qtype in ("A", "AAAA", "ANY"):
            v4 = self.lookup(container_id, qname.lower(), 4) if qtype in ("A", "ANY") else None
            v6 = self.lookup(container_id, qname.lower(), 6) if qtype in ("AAAA", "ANY") else None
            if qtype == "A" and v4 is not None or qtype == "AAAA" and v6 is not None or v4 or v6:
                for ip in v4 or ():
                    reply.add_answer(RR(q.q.qname, QTYPE.A, rdata=A(ip), ttl=TTL))
                for ip in v6 or ():
                    reply.add_answer(RR(q.q.qname, QTYPE.AAAA, rdata=AAAA(ip), ttl=TTL))
                return reply.pack()  # a known name: its addresses, or NOERROR with none
        return await self._forward(container_id, data, q)

    async def _forward(self, container_id: str, data: bytes, q: DNSRecord) -> bytes:
        loop = asyncio.get_running_loop()
        for server in self.upstreams(container_id):
            try:
                return await asyncio.wait_for(_udp_query(loop, data, server), 2.0)
            except (OSError, TimeoutError):
                continue
        reply = q.reply()
        reply.header.rcode = RCODE.SERVFAIL
        return reply.pack()

    async def _tcp(self, container_id: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readexactly(2)
                data = await reader.readexactly(struct.unpack(">H", head)[0])
                answer = await self.answer(container_id, data)
                if answer is None:
                    break
                writer.write(struct.pack(">H", len(answer)) + answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, server: DNSServer, container_id: str) -> None:
        self.server = server
        self.container_id = container_id
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        async def reply() -> None:
            answer = await self.server.answer(self.container_id, data)
            if answer is not None and self.transport is not None:
                self.transport.sendto(answer, addr)

        asyncio.ensure_future(reply())


async def _udp_query(loop: asyncio.AbstractEventLoop, data: bytes, server: str) -> bytes:
    fut: asyncio.Future[bytes] = loop.create_future()

    class P(asyncio.DatagramProtocol):
        def datagram_received(self, d: bytes, addr: tuple[str, int]) -> None:
            if not fut.done():
                fut.set_result(d)

        def error_received(self, exc: Exception) -> None:
            if not fut.done():
                fut.set_exception(exc)

    host, _, port = server.partition("#")
    transport, _ = await loop.create_datagram_endpoint(P, remote_addr=(host, int(port or 53)))
    try:
        transport.sendto(data)
        return await fut
    finally:
        transport.close()


__all__ = ["EMBEDDED_ADDRESS", "DNSServer"]
