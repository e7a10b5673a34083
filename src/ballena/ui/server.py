"""The dashboard's web server: the built page, a token gate, and the Engine API passed through.

The engine API is root-equivalent, so nothing reaches it through here without the token that
``ballena ui`` prints (as Jupyter does). The first visit carries it in the URL
(``/?token=...``); the server answers with a session cookie (HttpOnly, SameSite=Strict) and
sends the browser on to ``/`` without it, so the token leaves the address bar and the history.

Three more guards, each for one attack a browser allows:

- the ``Host`` header must name this server (on loopback: localhost, 127.0.0.1 or [::1]), so a
  page whose DNS name is made to resolve to 127.0.0.1 (DNS rebinding) cannot read the API;
- a request that changes something (not GET/HEAD) or opens a WebSocket must come from our own
  origin, when the browser says where it comes from (``Origin``);
- the page's Content-Security-Policy lets it load and connect to this server only.

``/api/<path>`` goes to the daemon as ``/<path>``, byte for byte after the request head: one
connection to the daemon per request, closed after its answer (``Connection: close``), so a
streamed answer (stats, logs, events), a pull's progress and a WebSocket upgrade (the
terminal's ``/ballena/exec/{id}/ws``) all pass through unchanged, with no HTTP client here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import mimetypes
import secrets
import urllib.parse
from pathlib import Path

import h11

from ballena.client.api import Endpoint

__all__ = ["Dashboard", "STATIC_DIR"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
COOKIE = "ballena-ui"
_READ = 1 << 16
_HEAD_LIMIT = 64 << 10
# Headers of the browser's request the daemon has no business seeing (the session cookie,
# where the page came from) or that this proxy sets itself.
_DROPPED = {b"host", b"cookie", b"connection", b"keep-alive", b"referer", b"origin", b"proxy-connection"}
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "[::1]"}


async def open_endpoint(where: Endpoint) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """An asyncio connection to the daemon at ``where``."""
    if where.unix_path is not None:
        return await asyncio.open_unix_connection(where.unix_path, limit=_READ)
    return await asyncio.open_connection(
        where.hostname, where.port, ssl=where.tls, server_hostname=where.hostname if where.tls else None, limit=_READ
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Dashboard:
    """Serves ``static_dir`` and ``/api/`` to browsers holding ``token``; see the module doc."""

    def __init__(self, *, upstream: Endpoint, static_dir: Path = STATIC_DIR, token: str | None = None) -> None:
        self.upstream = upstream
        self.static_dir = static_dir.resolve()
        self.token = token or secrets.token_hex(24)
        # What the cookie holds: not the token itself, so a cookie that leaks is no login link.
        self._session = secrets.token_hex(24)
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.host = ""
        self.port = 0

    # -- life --------------------------------------------------------------------------------

    async def listen(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = await asyncio.start_server(self._on_client, host=host, port=port, limit=_READ)
        self.host = host
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}/?token={self.token}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    # -- one browser connection ----------------------------------------------------------------

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            await self._serve(h11.Connection(h11.SERVER, max_incomplete_event_size=_HEAD_LIMIT), reader, writer)
        except (ConnectionError, asyncio.CancelledError, h11.ProtocolError):
            pass
        except Exception:
            log.exception("dashboard connection failed")
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()

    async def _serve(self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            event = conn.next_event()
            while event is h11.NEED_DATA:
                conn.receive_data(await reader.read(_READ))
                event = conn.next_event()
            if not isinstance(event, h11.Request):
                return
            method = event.method.decode()
            target = event.target.decode("latin-1")
            headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
            path, _, query = target.partition("?")
            token = urllib.parse.parse_qs(query).get("token", [None])[0] if path == "/" else None
            refusal = self._refusal(method, path, headers, logging_in=token is not None)
            if refusal is not None:
                await self._answer(conn, writer, refusal[0], refusal[1].encode(), "text/plain; charset=utf-8")
            elif path.startswith("/api/"):
                await self._proxy(conn, reader, writer, event, target[len("/api") :])
                return
            elif method not in ("GET", "HEAD"):
                await self._answer(conn, writer, 405, b"method not allowed\n", "text/plain; charset=utf-8")
            elif token is not None:
                await self._login(conn, writer, token)
            else:
                await self._static(conn, writer, path, head_only=method == "HEAD")
            # Whatever body the browser sent with a refused or static request is read and dropped.
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(_READ))
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    break
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    def _refusal(self, method: str, path: str, headers: dict[str, str], *, logging_in: bool) -> tuple[int, str] | None:
        """Why this request is not served (status, text), or None."""
        host = headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if is_loopback(self.host) and name not in _LOOPBACK_NAMES:
            return 403, f"the dashboard answers to localhost only, not to {host!r}\n"
        origin = headers.get("origin")
        changes = method not in ("GET", "HEAD") or headers.get("upgrade", "").lower() == "websocket"
        if changes and origin is not None and urllib.parse.urlsplit(origin).netloc != host:
            return 403, f"cross-origin request from {origin} refused\n"
        if logging_in and method == "GET":
            return None
        if not self._has_session(headers.get("cookie", "")):
            return 403, "open the dashboard with the URL `ballena ui` printed (it carries the token)\n"
        return None

    def _has_session(self, cookie_header: str) -> bool:
        for part in cookie_header.split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and hmac.compare_digest(value.encode(), self._session.encode()):
                return True
        return False

    async def _login(self, conn: h11.Connection, writer: asyncio.StreamWriter, token: str) -> None:
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            await self._answer(conn, writer, 403, b"wrong token\n", "text/plain; charset=utf-8")
            return
        cookie = f"{COOKIE}={self._session}; Path=/; HttpOnly; SameSite=Strict"
        await self._answer(conn, writer, 303, b"", None, [("Location", "/"), ("Set-Cookie", cookie)])

    async def _static(self, conn: h11.Connection, writer: asyncio.StreamWriter, path: str, *, head_only: bool) -> None:
        rel = urllib.parse.unquote(path).lstrip("/") or "index.html"
        file = (self.static_dir / rel).resolve()
        if not file.is_relative_to(self.static_dir) or not file.is_file():
            await self._answer(conn, writer, 404, b"not found\n", "text/plain; charset=utf-8")
            return
        body = await asyncio.to_thread(file.read_bytes)
        ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype == "application/javascript":
            ctype += "; charset=utf-8"
        # Vite names the assets by their content: they never change under a name.
        cache = "max-age=31536000, immutable" if rel.startswith("assets/") else "no-cache"
        await self._answer(conn, writer, 200, body, ctype, [("Cache-Control", cache)], head_only=head_only)

    async def _answer(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        ctype: str | None,
        extra: list[tuple[str, str]] | None = None,
        *,
        head_only: bool = False,
    ) -> None:
        headers = [
            ("Content-Length", str(len(body))),
            ("Content-Security-Policy", _CSP),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer"),
            *(extra or []),
        ]
        if ctype:
            headers.append(("Content-Type", ctype))
        writer.write(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
        if body and not head_only:
            writer.write(conn.send(h11.Data(data=body)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()

    # -- the API, passed through -----------------------------------------------------------

    async def _proxy(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: h11.Request,
        target: str,
    ) -> None:
        try:
            up_reader, up_writer = await open_endpoint(self.upstream)
        except OSError as e:
            await self._answer(conn, writer, 502, f"cannot reach the daemon: {e}\n".encode(), "text/plain")
            return
        websocket = any(k.lower() == b"upgrade" for k, _ in request.headers)
        head = [f"{request.method.decode()} {target} HTTP/1.1".encode(), b"Host: ballena-ui"]
        head += [k + b": " + v for k, v in request.headers if k.lower() not in _DROPPED]
        head.append(b"Connection: Upgrade" if websocket else b"Connection: close")
        up_writer.write(b"\r\n".join(head) + b"\r\n\r\n")
        # What h11 read past the head is the start of the body (or of the WebSocket's frames).
        up_writer.write(bytes(conn.trailing_data[0]))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(_READ):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(OSError, RuntimeError):
                    if dst.can_write_eof():
                        dst.write_eof()

        upload = asyncio.ensure_future(pipe(reader, up_writer))
        try:
            # The daemon closes after its answer: then this connection ends too.
            await pipe(up_reader, writer)
        finally:
            upload.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await upload
            up_writer.close()


# The page loads and talks to this server only; xterm.js and uPlot set inline styles.
_CSP = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
