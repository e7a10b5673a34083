"""A request body read by another process than the one that parsed its head.

``docker cp`` into a container sends a whole tar archive as the body of one ``PUT``. Relayed by
the daemon (its HTTP parser, our framing, a second socket) every byte is copied four more times
on the way to the file helper that writes it; handed over, the helper reads the client's own
connection. The daemon passes the connection's file descriptor (SCM_RIGHTS), the body bytes it
had already read past the head (``prefix``), and how the body is framed.

Why not h11 here, which the daemon's server uses: every byte would be copied three more times on
its way to the file (h11's receive buffer, its Data event, the reader's buffer), which held
``docker cp`` to 600-800 MB/s. ``BodyReader`` receives into one buffer and strips the chunked
framing by noting where the payload lies in it (``_spans``); ``copy_to`` then writes those
slices to a file with one ``writev`` per buffer: the bytes cross user space once.
"""

from __future__ import annotations

import io
import os
import socket
from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = ["HandedBody", "BodyReader"]

# One receive: large enough that a 32 KiB chunk's framing and the per-call costs stay small,
# small enough to stay in the CPU's cache between the receive and the write.
RECV_SIZE = 1 << 18
# A chunk-size line (with extensions) or a trailer longer than this is not HTTP we accept.
MAX_LINE = 4096
_HEX = b"0123456789abcdefABCDEF"
_MAX_SLICES = 512  # IOV_MAX is 1024 on Linux


@dataclass(frozen=True, slots=True)
class HandedBody:
    """The rest of a request body, on its connection: ``fd`` (the taker owns and closes it),
    the bytes read past the head already, and the framing: ``chunked`` or ``length N``."""

    fd: int
    prefix: bytes
    framing: str


class BodyReader(io.RawIOBase):
    """The decoded body from ``prefix`` then ``sock``. Reads end at the body's end; a
    connection that ends before it, or malformed chunked framing, raises ``EOFError``."""

    def __init__(self, sock: socket.socket, framing: str, prefix: bytes = b"") -> None:
        self.sock = sock
        if framing == "chunked":
            self.chunked, self.left = True, 0
        elif framing.startswith("length ") and framing[7:].isdigit():
            self.chunked, self.left = False, int(framing[7:])
        else:
            raise ValueError(f"unknown body framing {framing!r}")
        self.buf = bytearray(max(RECV_SIZE, len(prefix)))
        self.view = memoryview(self.buf)
        # Where the payload lies in the buffer, in order: (start, end) offsets.
        self.spans: deque[tuple[int, int]] = deque()
        # Chunked decoding: what the next bytes are ("size", "data", "crlf" after data,
        # "trailer"), and a line begun in the previous buffer.
        self.state = "size" if self.chunked else "data"
        self.line = bytearray()
        self.ended = not self.chunked and self.left == 0
        self.position = 0  # body bytes handed out so far
        if prefix:
            self.buf[: len(prefix)] = prefix
            self._decode(len(prefix))

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    # -- decoding -----------------------------------------------------------------------------

    def _receive(self) -> None:
        """Refill the buffer (everything in it has been handed out) and note its payload."""
        want = len(self.buf) if self.chunked else min(len(self.buf), self.left)
        n = self.sock.recv_into(self.view[:want])
        if not n:
            raise EOFError("the client closed the connection before the end of the body")
        self._decode(n)

    def _decode(self, n: int) -> None:
        if not self.chunked:
            take = min(n, self.left)
            if take:
                self.spans.append((0, take))
                self.left -= take
            return
        buf = self.buf
        pos = 0
        while pos < n and not self.ended:
            state = self.state
            if state == "data":
                end = min(n, pos + self.left)
                self.spans.append((pos, end))
                self.left -= end - pos
                pos = end
                if self.left == 0:
                    self.state = "crlf"
                continue
            # The usual framing, whole in this buffer, read where it lies: a chunk's CRLF,
            # then a size line of hex digits only (a 100 MiB copy has 3,200 of each).
            if not self.line:
                if state == "crlf" and pos + 1 < n and buf[pos] == 13 and buf[pos + 1] == 10:
                    pos += 2
                    self.state = state = "size"
                if state == "size":
                    newline = buf.find(b"\n", pos, min(n, pos + 17))
                    if newline > pos + 1 and buf[newline - 1] == 13:
                        size = bytes(self.view[pos : newline - 1])
                        if not size.strip(_HEX):
                            self.left = int(size, 16)
                            self.state = "data" if self.left else "trailer"
                            pos = newline + 1
                            continue
                if pos >= n:
                    break
            # Everything else: extensions, trailers, a line split between two receives, errors.
            newline = self.buf.find(b"\n", pos, n)
            if newline < 0:
                self.line += self.view[pos:n]
                if len(self.line) > MAX_LINE:
                    raise EOFError("malformed request body: a chunk header line too long")
                return
            self.line += self.view[pos : newline + 1]
            pos = newline + 1
            line, self.line = bytes(self.line), bytearray()
            if not line.endswith(b"\r\n") or len(line) > MAX_LINE:
                raise EOFError("malformed request body: a chunk header line not ended by CRLF")
            self._line(line[:-2])

    def _line(self, line: bytes) -> None:
        if self.state == "crlf":
            if line:
                raise EOFError("malformed request body: chunk data longer than its size")
            self.state = "size"
        elif self.state == "size":
            size = line.split(b";", 1)[0].strip(b" \t")
            if not size or size.strip(_HEX) or len(size) > 15:
                raise EOFError(f"malformed request body: bad chunk size {line[:40]!r}")
            self.left = int(size, 16)
            self.state = "data" if self.left else "trailer"
        elif not line:  # the empty line after the last chunk's trailers
            self.ended = True

    def _more(self) -> bool:
        """Whether payload is buffered, receiving if none is; False at the body's end."""
        while not self.spans:
            if self.ended or (not self.chunked and self.left == 0):
                return False
            self._receive()
        return True

    def _next_span(self, limit: int) -> memoryview:
        """Up to ``limit`` payload bytes as a view into the buffer, valid until the next call
        that receives; empty at the body's end."""
        if not self._more():
            return memoryview(b"")
        start, end = self.spans[0]
        if end - start > limit:
            end = start + limit
            self.spans[0] = (end, self.spans[0][1])
        else:
            self.spans.popleft()
        self.position += end - start
        return self.view[start:end]

    # -- reading ------------------------------------------------------------------------------

    def readinto(self, b: Any) -> int:
        span = self._next_span(len(b))
        n = len(span)
        b[:n] = span
        return n

    def read_exact(self, n: int) -> bytes:
        """``n`` bytes, fewer only at the body's end (a tar header, say)."""
        out = bytearray()
        while len(out) < n and (span := self._next_span(n - len(out))):
            out += span
        return bytes(out)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            out = bytearray()
            while span := self._next_span(RECV_SIZE):
                out += span
            return bytes(out)
        return self.read_exact(size)

    def copy_to(self, fd: int, n: int) -> None:
        """Write the next ``n`` body bytes to file ``fd``: the payload slices of each buffer
        in one writev. Raises EOFError when the body ends first."""
        spans, view = self.spans, self.view
        while n:
            if not self._more():
                raise EOFError("the archive ended in the middle of a file")
            slices: list[memoryview] = []
            got = 0
            # What this buffer holds of it (no receive in between), within writev's limit.
            while spans and got < n and len(slices) < _MAX_SLICES:
                start, end = spans[0]
                if end - start > n - got:
                    spans[0] = (start + n - got, end)
                    end = start + n - got
                else:
                    spans.popleft()
                slices.append(view[start:end])
                got += end - start
            self.position += got
            _writev_all(fd, slices)
            n -= got

    def skip(self, n: int) -> None:
        """Pass over ``n`` body bytes. Raises EOFError when the body ends first."""
        while n:
            span = self._next_span(n)
            if not span:
                raise EOFError("the archive ended early")
            n -= len(span)

    def drain(self) -> None:
        """Read to the body's end (what a tar archive leaves after its end-of-archive blocks)."""
        while self._next_span(RECV_SIZE):
            pass


def _writev_all(fd: int, views: list[memoryview]) -> None:
    while views:
        n = os.writev(fd, views)
        while views and n >= len(views[0]):
            n -= len(views[0])
            views.pop(0)
        if n:
            views[0] = views[0][n:]
