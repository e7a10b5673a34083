"""Frames: the one wire format between Ballena's processes (daemon, zygote, monitor, the
container's init and the file helper)::

    kind (1 byte) | length (4 bytes, big endian) | payload

Kinds: ``J`` a JSON message (``messages`` gives them types); ``0`` bytes for a process's
stdin; ``1``/``2`` bytes it wrote to stdout/stderr (``1`` only, with a TTY). File descriptors
(SCM_RIGHTS) ride on a frame's header: ``send`` attaches them to the first five bytes, so they
always arrive with the frame they belong to, however the payload is split.

``Decoder`` is the sans-I/O half: feed it bytes, take whole frames; the daemon's asyncio side
and every test use it without a socket. ``send``/``recv`` are the blocking half for the
single-threaded processes (zygote, monitor, init, helpers). Both send whole frames: a frame
larger than the socket buffer is written in as many calls as it takes (``sendall``), never
cut short, so one big message cannot leave a peer waiting for the rest of it.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from typing import Any

__all__ = ["HEADER", "JSON", "MAX_FRAME", "STDERR", "STDIN", "STDOUT", "Decoder", "FrameError", "encode", "encode_json"]

JSON = b"J"
STDIN = b"0"
STDOUT = b"1"
STDERR = b"2"
KINDS = frozenset((JSON, STDIN, STDOUT, STDERR))
HEADER = struct.Struct(">cI")
# A container's whole configuration travels in one frame; the API refuses bodies far smaller
# than this, so only a corrupt or hostile stream reaches the limit.
MAX_FRAME = 64 << 20


class FrameError(ValueError):
    """The byte stream is not a sequence of frames (unknown kind, oversized, cut short)."""


def encode(kind: bytes, payload: bytes) -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def encode_json(obj: Any) -> bytes:
    return encode(JSON, json.dumps(obj, separators=(",", ":")).encode())


class Decoder:
    """Incremental frame parser: feed bytes, take complete frames. Raises FrameError on a
    stream that is not made of frames."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= HEADER.size:
            kind, size = HEADER.unpack_from(self.buf)
            if kind not in KINDS:
                raise FrameError(f"unknown frame kind {kind!r}")
            if size > MAX_FRAME:
                raise FrameError(f"frame of {size} bytes is larger than {MAX_FRAME}")
            end = HEADER.size + size
            if len(self.buf) < end:
                break
            out.append((kind, bytes(self.buf[HEADER.size : end])))
            del self.buf[:end]
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held back."""
        return len(self.buf)


# -- the blocking half ------------------------------------------------------------------------------


def send(sock: socket.socket, kind: bytes, payload: bytes, fds: list[int] | tuple[int, ...] = ()) -> None:
    """Write one whole frame (blocking socket), with ``fds`` attached to its header."""
    header = HEADER.pack(kind, len(payload))
    if fds:
        sent = socket.send_fds(sock, [header], list(fds))
        if sent < len(header):
            sock.sendall(header[sent:])
        sock.sendall(payload)
    else:
        sock.sendall(header + payload)


def send_json(sock: socket.socket, obj: Any, fds: list[int] | tuple[int, ...] = ()) -> None:
    send(sock, JSON, json.dumps(obj, separators=(",", ":")).encode(), fds)


def _exact(sock: socket.socket, n: int, first: bytes = b"") -> bytes:
    buf = bytearray(first)
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise FrameError("the stream ended in the middle of a frame")
        buf += chunk
    return bytes(buf)


def recv(sock: socket.socket, max_fds: int = 4) -> tuple[bytes, bytes, list[int]] | None:
    """Read one whole frame (blocking socket) and the fds that came with it; None at a clean
    end of stream. Raises FrameError on a malformed or truncated frame."""
    head, fds, _flags, _addr = socket.recv_fds(sock, HEADER.size, max_fds)
    if not head:
        for fd in fds:
            _close(fd)
        return None
    head = _exact(sock, HEADER.size, head)
    kind, size = HEADER.unpack(head)
    if kind not in KINDS or size > MAX_FRAME:
        for fd in fds:
            _close(fd)
        raise FrameError(f"bad frame header {head!r}")
    return kind, _exact(sock, size), list(fds)


def recv_json(sock: socket.socket, max_fds: int = 4) -> tuple[dict[str, Any] | None, list[int]]:
    """The next JSON frame and its fds, skipping data frames; (None, []) at end of stream."""
    while True:
        frame = recv(sock, max_fds)
        if frame is None:
            return None, []
        kind, payload, fds = frame
        if kind == JSON:
            obj = json.loads(payload)
            if not isinstance(obj, dict):
                raise FrameError("a JSON frame must hold an object")
            return obj, fds
        for fd in fds:
            _close(fd)


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
