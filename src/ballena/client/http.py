"""A minimal HTTP/1.1 client over a socket: requests with a JSON or streamed (chunked) body,
responses with Content-Length, chunked or close-delimited bodies, keep-alive, and hijacking.

Why not http.client: it imports the email package, which costs the CLI ~50 ms at every start;
h11 costs as much. The Engine API needs only this much of HTTP.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself costs the CLI ~5 ms to import

if TYPE_CHECKING:
    from _socket import socket
    from collections.abc import Iterator
    from typing import BinaryIO


class ProtocolError(Exception):
    pass


class Response:
    def __init__(
        self, sock: socket, buf: bytes, status: int, reason: str, headers: dict[str, str], method: str
    ) -> None:
        self.sock = sock
        self._buf = buf
        self.status = status
        self.reason = reason
        self.headers = headers
        te = headers.get("transfer-encoding", "").lower()
        self._chunked = "chunked" in te
        self._remaining: int | None = None
        self._chunk_left = 0
        self._done = False
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            self._done = True
        elif not self._chunked and "content-length" in headers:
            self._remaining = int(headers["content-length"])
            if self._remaining == 0:
                self._done = True
        self.reusable = headers.get("connection", "").lower() != "close" and (
            self._chunked or self._remaining is not None or self._done
        )

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    @property
    def finished(self) -> bool:
        return self._done

    def _fill(self) -> bool:
        data = self.sock.recv(1 << 16)
        if not data:
            return False
        self._buf += data
        return True

    def _readline(self) -> bytes:
        while b"\r\n" not in self._buf:
            if not self._fill():
                raise ProtocolError("connection closed in chunk header")
        line, _, self._buf = self._buf.partition(b"\r\n")
        return line

    def read1(self, n: int = 1 << 16) -> bytes:
        """Some bytes of the body (as soon as any arrive); b"" at its end."""
        if self._done:
            return b""
        if self._chunked:
            if self._chunk_left == 0:
                size_line = self._readline()
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self._readline():  # trailers end with an empty line
                        pass
                    self._done = True
                    return b""
                self._chunk_left = size
            if not self._buf and not self._fill():
                raise ProtocolError("connection closed in the middle of a chunk")
            take = min(n, self._chunk_left, len(self._buf))
            data, self._buf = self._buf[:take], self._buf[take:]
            self._chunk_left -= take
            if self._chunk_left == 0:
                while len(self._buf) < 2:
                    if not self._fill():
                        break
                self._buf = self._buf[2:]
            return data
        if self._remaining is not None:
            if not self._buf and not self._fill():
                raise ProtocolError("connection closed before the end of the body")
            take = min(n, self._remaining, len(self._buf))
            data, self._buf = self._buf[:take], self._buf[take:]
            self._remaining -= take
            if self._remaining == 0:
                self._done = True
            return data
        if not self._buf and not self._fill():
            self._done = True
            return b""
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def read(self) -> bytes:
        parts = []
        while chunk := self.read1():
            parts.append(chunk)
        return b"".join(parts)

    def iter_chunks(self) -> Iterator[bytes]:
        while chunk := self.read1():
            yield chunk

    def take_buffer(self) -> bytes:
        data, self._buf = self._buf, b""
        return data


def send_request(
    sock: socket, method: str, target: str, headers: dict[str, str], body: bytes | BinaryIO | None
) -> None:
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is None:
        if method in ("POST", "PUT"):
            lines.append("Content-Length: 0")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        return
    if isinstance(body, bytes | bytearray):
        lines.append(f"Content-Length: {len(body)}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + bytes(body))
        return
    lines.append("Transfer-Encoding: chunked")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    while chunk := body.read(1 << 16):
        sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    sock.sendall(b"0\r\n\r\n")


def read_response(sock: socket, method: str) -> Response:
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(1 << 16)
        if not data:
            raise ConnectionResetError("the daemon closed the connection")
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ProtocolError(f"malformed status line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return Response(sock, rest, int(parts[1]), parts[2] if len(parts) > 2 else "", headers, method)
