"""The dashboard's server over a fake daemon (a UNIX socket answering as the Engine API does):
the token gate, the guards, the static files, and the pass-through of requests and streams."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from ballena.client.api import Endpoint
from ballena.ui.server import Dashboard

Check = Callable[[Dashboard, list[bytes]], Awaitable[None]]


async def _fake_daemon(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    seen.append(head)
    if b"content-length: 5" in head.lower():
        seen.append(await reader.readexactly(5))
    if head.startswith(b"GET /events"):  # a stream: chunks as they come, then the end
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        for i in range(3):
            line = f'{{"n":{i}}}\n'.encode()
            writer.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
    else:
        writer.write(
            b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"OK"'
        )
    await writer.drain()
    writer.close()


async def _request(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await reader.read()  # every answer here ends with the connection (close or proxy)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _get(path: str, port: int, extra: str = "", method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{extra}\r\n".encode()


def _run(tmp_path: Path, check: Check) -> None:
    static = tmp_path / "static"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text("<!doctype html><title>Ballena</title>")
    (static / "assets" / "app-1234.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("not served")
    sock = tmp_path / "d.sock"
    seen: list[bytes] = []

    async def main() -> None:
        daemon = await asyncio.start_unix_server(lambda r, w: _fake_daemon(r, w, seen), path=str(sock))
        ui = Dashboard(upstream=Endpoint(unix_path=str(sock)), static_dir=static, token="t0ken")
        await ui.listen("127.0.0.1", 0)
        try:
            await check(ui, seen)
        finally:
            await ui.close()
            daemon.close()

    asyncio.run(main())


async def _login(ui: Dashboard) -> str:
    status, headers, _ = await _request(ui.port, _get("/?token=t0ken", ui.port))
    assert status == 303 and headers["location"] == "/"
    assert "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
    return headers["set-cookie"].split(";", 1)[0]


def test_the_token_opens_a_session_and_nothing_opens_without_it(tmp_path: Path) -> None:
    async def check(ui: Dashboard, seen: list[bytes]) -> None:
        assert ui.url == f"http://127.0.0.1:{ui.port}/?token=t0ken"
        for path in ("/", "/api/_ping", "/assets/app-1234.js"):
            assert (await _request(ui.port, _get(path, ui.port)))[0] == 403
        assert (await _request(ui.port, _get("/?token=wrong", ui.port)))[0] == 403
        cookie = await _login(ui)
        assert "t0ken" not in cookie  # the cookie is a session, not the login link
        status, headers, body = await _request(ui.port, _get("/", ui.port, f"Cookie: {cookie}\r\n"))
        assert status == 200 and b"<title>Ballena" in body and headers["cache-control"] == "no-cache"
        assert "default-src 'self'" in headers["content-security-policy"]
        status, headers, _ = await _request(ui.port, _get("/assets/app-1234.js", ui.port, f"Cookie: {cookie}\r\n"))
        assert status == 200 and "immutable" in headers["cache-control"]
        assert headers["content-type"].startswith(("text/javascript", "application/javascript"))
        wrong = "ballena-ui=" + "0" * 48
        assert (await _request(ui.port, _get("/api/_ping", ui.port, f"Cookie: {wrong}\r\n")))[0] == 403
        assert seen == []  # nothing refused reached the daemon

    _run(tmp_path, check)


def test_rebinding_cross_origin_and_traversal_are_refused(tmp_path: Path) -> None:
    async def check(ui: Dashboard, seen: list[bytes]) -> None:
        cookie = await _login(ui)
        evil_host = f"GET /api/_ping HTTP/1.1\r\nHost: evil.example:{ui.port}\r\nConnection: close\r\nCookie: {cookie}\r\n\r\n".encode()
        assert (await _request(ui.port, evil_host))[0] == 403
        post = _get("/api/containers/prune", ui.port, f"Cookie: {cookie}\r\nOrigin: http://evil.example\r\n", "POST")
        assert (await _request(ui.port, post))[0] == 403
        for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/../../secret.txt"):
            status, _, body = await _request(ui.port, _get(path, ui.port, f"Cookie: {cookie}\r\n"))
            assert status == 404 and b"not served" not in body
        assert seen == []
        # Our own origin may change things.
        own = _get(
            "/api/containers/prune", ui.port, f"Cookie: {cookie}\r\nOrigin: http://127.0.0.1:{ui.port}\r\n", "POST"
        )
        assert (await _request(ui.port, own))[0] == 200

    _run(tmp_path, check)


def test_the_api_passes_through_with_its_body_and_streams(tmp_path: Path) -> None:
    async def check(ui: Dashboard, seen: list[bytes]) -> None:
        cookie = await _login(ui)
        post = _get("/api/v1.45/containers/x/start?a=1", ui.port,
                    f"Cookie: {cookie}\r\nContent-Length: 5\r\nContent-Type: application/json\r\n", "POST") + b"{\"a\"}"  # fmt: skip
        status, _, body = await _request(ui.port, post)
        assert status == 200 and body == b'"OK"'
        head, sent = seen[0], seen[1]
        assert head.startswith(b"POST /v1.45/containers/x/start?a=1 HTTP/1.1\r\n")
        assert b"cookie" not in head.lower() and cookie.split("=")[1].encode() not in head  # the session stays here
        assert b"Connection: close" in head and sent == b'{"a"}'
        status, headers, body = await _request(ui.port, _get("/api/events", ui.port, f"Cookie: {cookie}\r\n"))
        assert status == 200 and headers["transfer-encoding"] == "chunked"
        assert b'{"n":0}' in body and b'{"n":2}' in body and body.endswith(b"0\r\n\r\n")

    _run(tmp_path, check)


def test_without_a_daemon_the_api_answers_502(tmp_path: Path) -> None:
    async def check(ui: Dashboard, seen: list[bytes]) -> None:
        cookie = await _login(ui)
        ui.upstream = Endpoint(unix_path=str(tmp_path / "nobody.sock"))
        status, _, body = await _request(ui.port, _get("/api/_ping", ui.port, f"Cookie: {cookie}\r\n"))
        assert status == 502 and b"cannot reach the daemon" in body

    _run(tmp_path, check)
