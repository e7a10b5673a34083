"""The userland proxy relays a published port on loopback to the container's address (here a
server on another loopback port stands in for the container)."""

from __future__ import annotations

import asyncio

from ballena.network.portproxy import Binding, PortProxy


def test_tcp_relay_both_ways_and_half_close() -> None:
    async def case() -> None:
        async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            data = await r.read()  # until the client's half-close arrives through the proxy
            w.write(data.upper())
            await w.drain()
            w.close()

        upstream = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = upstream.sockets[0].getsockname()[1]
        proxy = PortProxy()
        sock = proxy.reserve("tcp", "127.0.0.1", 0)
        b = Binding(
            proto="tcp",
            host_ip="127.0.0.1",
            host_port=sock.getsockname()[1],
            container_ip="127.0.0.1",
            container_port=port,
        )
        await proxy.start(b, sock)
        r, w = await asyncio.open_connection("127.0.0.1", b.host_port)
        w.write(b"hello")
        w.write_eof()
        assert await asyncio.wait_for(r.read(), 5) == b"HELLO"
        w.close()
        proxy.stop_all()
        upstream.close()

    asyncio.run(case())


def test_udp_relay() -> None:
    async def case() -> None:
        loop = asyncio.get_running_loop()

        class Echo(asyncio.DatagramProtocol):
            def connection_made(self, t: asyncio.BaseTransport) -> None:
                self.t = t

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                self.t.sendto(data[::-1], addr)  # type: ignore[attr-defined]

        echo, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        port = echo.get_extra_info("sockname")[1]
        proxy = PortProxy()
        sock = proxy.reserve("udp", "127.0.0.1", 0)
        b = Binding(
            proto="udp",
            host_ip="127.0.0.1",
            host_port=sock.getsockname()[1],
            container_ip="127.0.0.1",
            container_port=port,
        )
        await proxy.start(b, sock)
        got: asyncio.Future[bytes] = loop.create_future()

        class Client(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                got.set_result(data)

        client, _ = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", b.host_port))
        client.sendto(b"abc")  # type: ignore[attr-defined]
        assert await asyncio.wait_for(got, 5) == b"cba"
        client.close()
        echo.close()
        proxy.stop_all()

    asyncio.run(case())
