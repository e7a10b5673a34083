"""The HTTP layer on its own: streaming, hijacking, and output after the client's half-close."""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
from pathlib import Path

from ballena.api.http import Hijack, RawStream, Request, Response, Server, StreamResponse, json_response
from ballena.api.router import Router
from ballena.errors import NotFound, NotModified


def _router() -> Router:
    r = Router()

    @r.route("GET", "/hello")
    async def hello(req: Request) -> Response:
        return json_response({"hello": req.param("who", "world")})

    @r.route("GET", "/missing")
    async def missing(req: Request) -> Response:
        raise NotFound("No such thing: x")

    @r.route("POST", "/noop")
    async def noop(req: Request) -> Response:
        raise NotModified("already")

    @r.route("GET", "/stream")
    async def stream(req: Request) -> StreamResponse:
        async def gen():  # type: ignore[no-untyped-def]
            for i in range(3):
                yield f"{i}\n".encode()
                await asyncio.sleep(0.01)

        return StreamResponse(gen())

    @r.route("POST", "/echo-then-after")
    async def echo(req: Request) -> Hijack:
        async def handler(raw: RawStream) -> None:
            data = b""
            while chunk := await raw.read():
                data += chunk
            await asyncio.sleep(0.2)  # the client has half-closed long ago
            await raw.write(data + b"-after")

        return Hijack(handler)

    return r


def _run(coro_fn):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        with tempfile.TemporaryDirectory() as d:  # the socket's directory goes with the test
            path = str(Path(d) / "s.sock")
            server = Server(_router().dispatch, lambda: [("Api-Version", "1.56")])
            await server.listen_unix(path)
            try:
                return await asyncio.to_thread(coro_fn, path)
            finally:
                await server.close()

    return asyncio.run(main())


def _request(path: str, raw: bytes) -> bytes:
    """Send one request and read until the server closes (like Go's net/http, the server takes a
    client's EOF during a streamed answer as the client leaving, so we do not half-close)."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(raw)
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    s.close()
    return out


def test_json_and_errors() -> None:
    def client(path: str) -> None:
        out = _request(path, b"GET /v1.44/hello?who=you HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _, body = out.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"Api-Version: 1.56" in head
        assert json.loads(body) == {"hello": "you"}
        out = _request(path, b"GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 404") and out.endswith(b'{"message":"No such thing: x"}\n')
        out = _request(path, b"POST /noop HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 304") and out.endswith(b"\r\n\r\n")
        out = _request(path, b"GET /v1.2/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 400") and b"is too old" in out

    _run(client)


def test_streaming_is_chunked() -> None:
    def client(path: str) -> None:
        out = _request(path, b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert b"Transfer-Encoding: chunked" in out and b"2\r\n0\n\r\n" in out and out.endswith(b"0\r\n\r\n")

    _run(client)


def test_hijack_writes_after_the_client_half_closes() -> None:
    """The reason for h11: output produced after the client's EOF still reaches the client."""

    def client(path: str) -> None:
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        s.sendall(
            b"POST /echo-then-after HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
            b"Content-Length: 0\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(1)
        assert head.startswith(b"HTTP/1.1 101 UPGRADED")
        s.sendall(b"x")
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        assert out == b"x-after"

    _run(client)
