"""An HTTP/1.1 server on asyncio built on h11 (sans-I/O), with what the Engine API needs
beyond request/response: chunked streaming with backpressure, and hijacking a connection for
attach and exec (``101 UPGRADED`` with ``Upgrade: tcp``, or docker-py's plain ``200``).

Why not aiohttp: it closes the whole connection when the client half-closes its side, so output
a container writes after stdin's EOF is lost. asyncio streams keep the write side open after
EOF (``StreamReaderProtocol.eof_received`` returns True), which is exactly TCP half-close.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import h11

from ballena.api.errors import message_for, status_for
from ballena.errors import BallenaError, InvalidArgument
from ballena.pkg import trace
from ballena.pkg.httpbody import HandedBody

log = logging.getLogger("ballena.api")

_MAX_HEAD = 1 << 20
_READ_SIZE = 1 << 16


class Request:
    """One request. The body is read lazily (image load and build stream gigabytes)."""

    def __init__(self, conn: _Connection, method: str, target: str, headers: list[tuple[bytes, bytes]]) -> None:
        self._conn = conn
        self.method = method
        raw_path, _, query = target.partition("?")
        self.path = urllib.parse.unquote(raw_path)
        self.query: dict[str, list[str]] = urllib.parse.parse_qs(query, keep_blank_values=True)
        self.headers: dict[str, str] = {}
        for k, v in headers:
            self.headers[k.decode("latin-1").lower()] = v.decode("latin-1")
        self.params: dict[str, str] = {}
        self.api_version = ""
        self._body_done = False

    # -- query helpers (Docker's httputils) ----------------------------------------------------

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def params_all(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def bool_param(self, name: str, default: bool = False) -> bool:
        values = self.query.get(name)
        if not values:
            return default
        s = values[0].strip().lower()
        return s not in ("", "0", "no", "false", "none")

    def int_param(self, name: str, default: int | None = None) -> int | None:
        value = self.param(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise InvalidArgument(f"invalid value for {name}: {value!r}") from None

    @property
    def upgrade(self) -> bool:
        return "upgrade" in self.headers.get("connection", "").lower() and bool(self.headers.get("upgrade"))

    # -- body ----------------------------------------------------------------------------------

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self._body_done:
            event = await self._conn.next_event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._body_done = True
            elif isinstance(event, h11.ConnectionClosed):
                self._body_done = True
                raise InvalidArgument("unexpected EOF in request body")
            else:
                self._body_done = True

    async def body(self, limit: int = 64 << 20) -> bytes:
        parts: list[bytes] = []
        total = 0
        async for chunk in self.chunks():
            total += len(chunk)
            if total > limit:
                raise InvalidArgument("request body too large")
            parts.append(chunk)
        return b"".join(parts)

    async def json(self, *, required: bool = False) -> Any:
        """The JSON body, as Docker's CheckForJSON + decoder: empty is None (or an error)."""
        ctype = self.headers.get("content-type", "")
        data = await self.body()
        if not data.strip():
            if required:
                raise InvalidArgument("invalid JSON: EOF" if False else "request body is empty")
            return None
        if ctype and "json" not in ctype:
            raise InvalidArgument(f"unsupported Content-Type header ({ctype}): must be 'application/json'")
        try:
            return json.loads(data)
        except ValueError as e:
            raise InvalidArgument(f"invalid JSON: {e}") from None
        except RecursionError:  # Go's decoder has a nesting limit too
            raise InvalidArgument("invalid JSON: exceeded max depth") from None

    async def drain(self) -> None:
        async for _ in self.chunks():
            pass

    def connection_fd(self) -> int | None:
        """A duplicate of the connection's socket, for another process to write the answer's
        body on (the connection closes after it); None on TLS, where only this process can
        encrypt. The caller owns the descriptor."""
        conn = self._conn
        sock = conn.writer.get_extra_info("socket")
        if sock is None or isinstance(conn.writer, _TLSWriter):
            return None
        conn.handed_over = True
        return os.dup(sock.fileno())

    def hand_over_body(self) -> HandedBody | None:
        """The body, left unread on its connection for another process to read
        (``pkg.httpbody``): a duplicate of the socket's descriptor, what was read past the
        head, and the framing. The connection closes after this request's answer (nothing
        else can know where the body ended). None when it cannot be handed over: a TLS
        connection (the bytes are ciphertext), a body already started, or none at all."""
        conn = self._conn
        if self._body_done or conn.handed_over or isinstance(conn.writer, _TLSWriter):
            return None
        sock = conn.writer.get_extra_info("socket")
        transport = conn.writer.transport
        buffered = getattr(conn.reader, "_buffer", None)  # StreamReader's: no public way to take it
        if sock is None or not isinstance(transport, asyncio.Transport) or not isinstance(buffered, bytearray):
            return None
        length = self.headers.get("content-length", "")
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            framing = "chunked"
        elif length.isdigit() and int(length) > 0:
            framing = f"length {int(length)}"
        else:
            return None
        transport.pause_reading()
        prefix = bytes(conn.h11.trailing_data[0]) + bytes(buffered)
        buffered.clear()
        fd = os.dup(sock.fileno())
        self._body_done = True
        conn.handed_over = True
        return HandedBody(fd=fd, prefix=prefix, framing=framing)


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(obj: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status=status, body=(json.dumps(obj, separators=(",", ":")) + "\n").encode(), headers=headers or [])


def no_content(status: int = 204) -> Response:
    return Response(status=status, content_type=None)


def text_response(text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> Response:
    return Response(status=status, body=text.encode(), content_type=content_type)


@dataclass
class StreamResponse:
    """A chunked response fed by an async iterator; each item is flushed as it comes."""

    chunks: AsyncIterator[bytes]
    content_type: str = "application/json"
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)


class RawStream:
    """Both directions of a hijacked connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, buffered: bytes) -> None:
        self._reader = reader
        self._writer = writer
        self._buffered = buffered

    async def read(self, n: int = _READ_SIZE) -> bytes:
        """Client input; b"" once the client has closed (or half-closed) its side."""
        if self._buffered:
            data, self._buffered = self._buffered[:n], self._buffered[n:]
            return data
        try:
            return await self._reader.read(n)
        except (ConnectionError, OSError):
            return b""

    async def write(self, data: bytes) -> None:
        """Raises ConnectionError when the client is gone."""
        self._writer.write(data)
        await self._writer.drain()

    def is_closing(self) -> bool:
        return self._writer.is_closing()

    async def close_write(self) -> None:
        try:
            if self._writer.can_write_eof():
                self._writer.write_eof()
        except (OSError, RuntimeError):
            pass


@dataclass
class Hijack:
    """Take the connection over after the response head (attach, exec start)."""

    handler: Callable[[RawStream], Awaitable[None]]
    content_type: str = "application/vnd.docker.raw-stream"
    # Called once the head has gone out, before the handler: e.g. to start the container.
    on_ready: Callable[[], Awaitable[None]] | None = None
    # A WebSocket upgrade (attach/ws): the Sec-WebSocket-Accept the 101 answer carries.
    websocket_accept: str | None = None
    # More headers of a plain (not upgraded) answer whose body the handler writes raw.
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], Awaitable["Response | StreamResponse | Hijack"]]


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD)
        self.handed_over = False  # a request's body went to another process: close after it

    async def next_event(self) -> Any:
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                try:
                    data = await self.reader.read(_READ_SIZE)
                except (ConnectionError, OSError):
                    data = b""
                self.h11.receive_data(data)
                continue
            return event

    async def send(self, event: Any) -> None:
        data = self.h11.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()


class Server:
    """Serves one handler function on any number of listening sockets."""

    def __init__(
        self,
        dispatch: Callable[[Request], Awaitable[Response | StreamResponse | Hijack]],
        common_headers: Callable[[], list[tuple[str, str]]],
    ) -> None:
        self._dispatch = dispatch
        self._common_headers = common_headers
        self._servers: list[asyncio.base_events.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def listen_unix(self, path: str) -> None:
        server = await asyncio.start_unix_server(self._on_client, path=path, limit=_READ_SIZE)
        self._servers.append(server)

    async def listen_tcp(self, host: str, port: int, ssl: Any = None) -> None:
        if ssl is None:
            server = await asyncio.start_server(self._on_client, host=host, port=port, limit=_READ_SIZE)
        else:
            # Each connection is looked at before the TLS handshake: a client speaking plain
            # HTTP to the TLS port gets Go's answer ("Client sent an HTTP request to an HTTPS
            # server.") instead of a dropped connection.
            server = await asyncio.start_server(
                lambda r, w: self._on_tls_candidate(r, w, ssl), host=host, port=port, limit=_READ_SIZE
            )
        self._servers.append(server)

    async def _on_tls_candidate(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ctx: Any) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            try:
                head = await asyncio.wait_for(reader.read(1), 30)
            except (TimeoutError, ConnectionError):
                writer.close()
                return
            if head and head != b"\x16":  # not a TLS handshake record: plain text
                writer.write(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
                try:
                    await writer.drain()
                finally:
                    writer.close()
                return
            # The byte read goes back in front of the stream the TLS layer reads.
            inner = _Prepended(head, reader, writer)
            await inner.serve_tls(ctx, self._on_client)
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]

    async def close(self) -> None:
        for s in self._servers:
            s.close()
        for t in list(self._tasks):
            t.cancel()
        for s in self._servers:
            try:
                await asyncio.wait_for(s.wait_closed(), 2)
            except TimeoutError:
                pass

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            await self._serve(_Connection(reader, writer))
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("connection failed")
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            try:
                writer.close()
            except RuntimeError:
                pass

    async def _serve(self, conn: _Connection) -> None:
        while True:
            try:
                event = await conn.next_event()
            except h11.RemoteProtocolError as e:
                await self._send_error_raw(conn, e.error_status_hint, str(e))
                return
            if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return
            if not isinstance(event, h11.Request):
                return
            req = Request(conn, event.method.decode(), event.target.decode("latin-1"), list(event.headers))
            if trace.ON:
                trace.mark(f"api: {req.method} {req.path}")
            try:
                result = await self._dispatch(req)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                status = status_for(exc)
                if not isinstance(exc, BallenaError):
                    log.error("%s %s: %s", req.method, req.path, message_for(exc), exc_info=exc)
                elif status >= 500:
                    log.error("%s %s -> %d %s", req.method, req.path, status, message_for(exc))
                else:
                    log.debug("%s %s -> %d %s", req.method, req.path, status, message_for(exc))
                result = (
                    Response(status=304, content_type=None)
                    if status == 304
                    else json_response({"message": message_for(exc)}, status=status)
                )
            if isinstance(result, Hijack):
                if trace.ON:
                    trace.mark(f"api: hijacked {req.method} {req.path}")
                await self._hijack(conn, req, result)
                return
            try:
                await req.drain()
            except Exception:
                return
            if conn.handed_over:
                result.headers = [*result.headers, ("Connection", "close")]
            if isinstance(result, StreamResponse):
                await self._stream(conn, req, result)
            else:
                await self._respond(conn, req, result)
            if trace.ON:
                trace.mark(f"api: answered {req.method} {req.path}")
            if conn.handed_over:
                return
            if conn.h11.our_state is h11.MUST_CLOSE or conn.h11.their_state is h11.MUST_CLOSE:
                return
            try:
                conn.h11.start_next_cycle()
            except h11.LocalProtocolError:
                return

    def _head(self, status: int, content_type: str | None, extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
        headers = list(self._common_headers())
        if content_type:
            headers.append(("Content-Type", content_type))
        headers.extend(extra)
        return headers

    async def _respond(self, conn: _Connection, req: Request, resp: Response) -> None:
        headers = self._head(resp.status, resp.content_type, resp.headers)
        no_body = resp.status in (204, 304) or 100 <= resp.status < 200
        explicit_length = any(k.lower() == "content-length" for k, _ in resp.headers)
        if not no_body and not explicit_length and (req.method != "HEAD" or resp.body):
            headers.append(("Content-Length", str(len(resp.body))))
        await conn.send(h11.Response(status_code=resp.status, headers=headers))
        if resp.body and req.method != "HEAD" and not no_body:
            await conn.send(h11.Data(data=resp.body))
        await conn.send(h11.EndOfMessage())

    async def _stream(self, conn: _Connection, req: Request, resp: StreamResponse) -> None:
        headers = self._head(resp.status, resp.content_type, resp.headers)
        await conn.send(h11.Response(status_code=resp.status, headers=headers))
        # The client ends a stream (docker events, logs -f) by closing the connection.
        gone = asyncio.ensure_future(self._wait_closed(conn))
        try:
            it = resp.chunks.__aiter__()
            while True:
                nxt = asyncio.ensure_future(it.__anext__())
                done, _ = await asyncio.wait({nxt, gone}, return_when=asyncio.FIRST_COMPLETED)
                if nxt not in done:
                    nxt.cancel()
                    try:
                        await nxt
                    except (asyncio.CancelledError, StopAsyncIteration, Exception):
                        pass
                    break
                try:
                    chunk = nxt.result()
                except StopAsyncIteration:
                    await conn.send(h11.EndOfMessage())
                    break
                if chunk:
                    await conn.send(h11.Data(data=chunk))
        finally:
            gone.cancel()
            try:
                await gone
            except (asyncio.CancelledError, Exception):
                pass
            aclose = getattr(resp.chunks, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:
                    pass
        if conn.h11.our_state is not h11.DONE:
            conn.writer.close()

    @staticmethod
    async def _wait_closed(conn: _Connection) -> None:
        """Returns when the client closes. Bytes that arrive meanwhile (a pipelined request)
        are kept in h11's buffer for the next cycle, never dropped."""
        try:
            while data := await conn.reader.read(_READ_SIZE):
                conn.h11.receive_data(data)
        except (ConnectionError, OSError):
            pass

    async def _hijack(self, conn: _Connection, req: Request, hj: Hijack) -> None:
        buffered = bytes(conn.h11.trailing_data[0])
        if hj.websocket_accept is not None:
            head = [
                "HTTP/1.1 101 Switching Protocols",
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Accept: {hj.websocket_accept}",
            ]
        elif req.upgrade:
            head = ["HTTP/1.1 101 UPGRADED", f"Content-Type: {hj.content_type}", "Connection: Upgrade", "Upgrade: tcp"]
        else:
            head = ["HTTP/1.1 200 OK", f"Content-Type: {hj.content_type}", *(f"{k}: {v}" for k, v in hj.headers)]
        head += [f"{k}: {v}" for k, v in self._common_headers()]
        conn.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        await conn.writer.drain()
        if hj.on_ready is not None:
            await hj.on_ready()
        await hj.handler(RawStream(conn.reader, conn.writer, buffered))
        try:
            await conn.writer.drain()
        except (ConnectionError, OSError):
            pass

    async def _send_error_raw(self, conn: _Connection, status: int, message: str) -> None:
        try:
            body = (json.dumps({"message": message}) + "\n").encode()
            await conn.send(
                h11.Response(
                    status_code=status,
                    headers=[
                        ("Content-Type", "application/json"),
                        ("Content-Length", str(len(body))),
                        ("Connection", "close"),
                    ],
                )
            )
            await conn.send(h11.Data(data=body))
            await conn.send(h11.EndOfMessage())
        except Exception:
            pass


class _Prepended:
    """TLS over a connection whose first byte has already been read: the handshake runs in
    memory (ssl.MemoryBIO) and the plain streams the HTTP layer sees are fed from it."""

    def __init__(self, first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.first = first
        self.reader = reader
        self.writer = writer

    async def serve_tls(
        self, ctx: Any, on_client: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
    ) -> None:
        import ssl as _ssl

        incoming, outgoing = _ssl.MemoryBIO(), _ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing, server_side=True)
        incoming.write(self.first)

        async def flush() -> None:
            data = outgoing.read()
            if data:
                self.writer.write(data)
                await self.writer.drain()

        while True:  # the handshake
            try:
                tls.do_handshake()
                break
            except _ssl.SSLWantReadError:
                await flush()
                data = await self.reader.read(_READ_SIZE)
                if not data:
                    self.writer.close()
                    return
                incoming.write(data)
            except (_ssl.SSLError, OSError):
                await flush()
                self.writer.close()
                return
        await flush()
        loop = asyncio.get_running_loop()
        plain_reader = asyncio.StreamReader(limit=_READ_SIZE)
        plain_transport = _TLSTransport(tls, outgoing, self.writer)
        protocol = asyncio.StreamReaderProtocol(plain_reader)
        protocol.connection_made(plain_transport)
        plain_writer = _TLSWriter(plain_transport, protocol, plain_reader, loop)
        plain_writer.raw = self.writer

        def decrypt() -> bool:
            """Hand on what the TLS layer holds; False once the client closed its side."""
            while True:
                try:
                    chunk = tls.read(_READ_SIZE)
                except _ssl.SSLWantReadError:
                    return True
                except (_ssl.SSLZeroReturnError, _ssl.SSLError):
                    return False
                if not chunk:
                    return False
                protocol.data_received(chunk)

        async def pump() -> None:
            try:
                # A request may have come in the same flight as the handshake's end.
                open_ = decrypt()
                while open_:
                    await flush()
                    data = await self.reader.read(_READ_SIZE)
                    if not data:
                        break
                    incoming.write(data)
                    open_ = decrypt()
            finally:
                protocol.eof_received()

        pumper = asyncio.ensure_future(pump())
        try:
            await on_client(plain_reader, plain_writer)
        finally:
            pumper.cancel()
            self.writer.close()


class _TLSWriter(asyncio.StreamWriter):
    """Drains what the TLS layer wrote to the real connection (back-pressure for big bodies)."""

    raw: asyncio.StreamWriter

    async def drain(self) -> None:
        await self.raw.drain()


class _TLSTransport(asyncio.Transport):
    """The write side of a MemoryBIO TLS session, as a transport for a StreamWriter."""

    def __init__(self, tls: Any, outgoing: Any, raw: asyncio.StreamWriter) -> None:
        super().__init__()
        self._tls = tls
        self._outgoing = outgoing
        self._raw = raw
        self._closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return
        self._tls.write(bytes(data))
        out = self._outgoing.read()
        if out:
            self._raw.write(out)

    def can_write_eof(self) -> bool:
        return False

    def is_closing(self) -> bool:
        return self._closing or self._raw.is_closing()

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            try:
                self._tls.unwrap()
            except Exception:
                pass
            out = self._outgoing.read()
            if out:
                self._raw.write(out)
            self._raw.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peercert":
            return self._tls.getpeercert()
        return self._raw.get_extra_info(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass
