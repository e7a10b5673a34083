"""The CLI's API client against a small server played by the test: JSON, errors, chunked
streams, keep-alive and version negotiation."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ballena.client.api import APIError, Client, quote


class Server:
    """Answers each request line with ``handler(method, target, body)`` -> raw response bytes."""

    def __init__(self, path: Path, handler: Callable[[str, str, bytes], bytes]) -> None:
        self.path = path
        self.handler = handler
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.seen: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method, target, _ = lines[0].split(" ")
                headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
                n = int(headers.get("content-length", "0"))
                while len(buf) < n:
                    buf += conn.recv(65536)
                body, buf = buf[:n], buf[n:]
                self.seen.append(f"{method} {target}")
                conn.sendall(self.handler(method, target, body))

    def close(self) -> None:
        self.sock.close()


def _json(status: int, obj: object, extra: str = "") -> bytes:
    body = json.dumps(obj).encode()
    return (
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nApi-Version: 1.56\r\n{extra}Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def _chunked(parts: list[bytes]) -> bytes:
    out = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    for p in parts:
        out += f"{len(p):x}\r\n".encode() + p + b"\r\n"
    return out + b"0\r\n\r\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    def handler(method: str, target: str, body: bytes) -> bytes:
        if target.endswith("/_ping"):
            return b"HTTP/1.1 200 OK\r\nApi-Version: 1.56\r\nContent-Length: 2\r\n\r\nOK"
        if "/containers/json" in target:
            return _json(200, [{"Id": "abc"}])
        if "/containers/create" in target:
            return _json(201, {"Id": "new", "echo": json.loads(body)})
        if "/events" in target:
            return _chunked([b'{"a":1}\n{"b"', b":2}\n"])
        return _json(404, {"message": "No such container: x"})

    s = Server(tmp_path / "d.sock", handler)
    yield s
    s.close()


def _client(server: Server) -> Client:
    return Client(f"unix://{server.path}")


def test_json_requests_and_keep_alive(server: Server) -> None:
    c = _client(server)
    assert c.get("/containers/json") == [{"Id": "abc"}]
    assert c.post("/containers/create", body={"Image": "x"}, params={"name": "web"})["echo"] == {"Image": "x"}
    assert c.get("/containers/json") == [{"Id": "abc"}]
    c.close()
    assert any("name=web" in s for s in server.seen)


def test_errors_carry_status_and_dockers_message(server: Server) -> None:
    c = _client(server)
    with pytest.raises(APIError) as e:
        c.get("/containers/x/json")
    assert e.value.status == 404 and "No such container: x" in str(e.value)
    c.close()


def test_chunked_json_streams_split_anywhere(server: Server) -> None:
    c = _client(server)
    assert list(c.stream_json("GET", "/events")) == [{"a": 1}, {"b": 2}]
    c.close()


def test_quote() -> None:
    assert quote("a b/c") == "a%20b%2Fc"
