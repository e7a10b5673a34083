"""The monitor's client connections: non-blocking sockets that carry frames, each with a write
buffer, registered with the monitor's selector for exactly what they need (reads until the
peer half-closes, writes while output is queued).

A slow reader never blocks the monitor: output queues in its buffer, and the monitor stops
reading the container's pipes while any attached buffer is above the high-water mark (the
container then blocks on its own writes, as it would on a slow terminal).
"""

from __future__ import annotations

import selectors
import socket
import time
from typing import Any

from ballena.pkg import framing
from ballena.shim import messages

__all__ = ["HIGH_WATER", "LOW_WATER", "Conn", "Connections"]

HIGH_WATER = 4 << 20
LOW_WATER = 1 << 20
READ_SIZE = 1 << 16


class Conn:
    """One client of the monitor: the daemon's control connection, a request, or an exec."""

    __slots__ = (
        "sock",
        "decoder",
        "wbuf",
        "role",
        "out",
        "err",
        "stdin",
        "exec",
        "closed",
        "read_closed",
        "registered",
    )

    def __init__(self, sock: socket.socket, role: str = "") -> None:
        self.sock = sock
        self.decoder = framing.Decoder()
        self.wbuf = bytearray()
        self.role = role  # control | request | exec
        self.out = self.err = self.stdin = False  # which container streams it is attached to
        self.exec: Any = None  # the exec whose streams it carries (shim.execs.ExecProcess)
        self.closed = False
        self.read_closed = False  # the peer half-closed: only writes remain
        self.registered = 0  # the selector events currently asked for


class Connections:
    """Every open connection of one monitor, and the selector they share with it."""

    def __init__(self, sel: selectors.BaseSelector) -> None:
        self.sel = sel
        self.all: list[Conn] = []

    def add(self, sock: socket.socket, role: str = "") -> Conn:
        sock.setblocking(False)
        c = Conn(sock, role)
        self.all.append(c)
        self.interest(c)
        return c

    def interest(self, c: Conn) -> None:
        """Ask the selector for what ``c`` needs now; close it when it needs nothing more."""
        if c.closed:
            return
        want = (0 if c.read_closed else selectors.EVENT_READ) | (selectors.EVENT_WRITE if c.wbuf else 0)
        if want == 0 and c.read_closed:
            self.close(c)
            return
        if want == c.registered:
            return
        if c.registered and want:
            self.sel.modify(c.sock, want, ("conn", c))
        elif want:
            self.sel.register(c.sock, want, ("conn", c))
        else:
            self.sel.unregister(c.sock)
        c.registered = want

    def send(self, c: Conn, data: bytes) -> None:
        """Queue ``data`` (whole frames) for ``c``; written now if the socket takes it."""
        if c.closed:
            return
        if not c.wbuf:
            try:
                n = c.sock.send(data)
                data = data[n:]
            except BlockingIOError:
                pass
            except OSError:
                self.close(c)
                return
            if not data:
                return
        c.wbuf += data
        self.interest(c)

    def send_message(self, c: Conn, msg: messages.Event) -> None:
        self.send(c, framing.encode_json(messages.encode(msg)))

    def broadcast(self, msg: messages.Event) -> None:
        """An event for every control connection (the daemon's)."""
        frame = framing.encode_json(messages.encode(msg))
        for c in list(self.all):
            if c.role == "control":
                self.send(c, frame)

    def flush(self, c: Conn) -> None:
        """Write what the socket takes now (the selector said it is writable)."""
        try:
            n = c.sock.send(c.wbuf)
            del c.wbuf[:n]
        except BlockingIOError:
            return
        except OSError:
            self.close(c)
            return
        self.interest(c)

    def flush_blocking(self, c: Conn, *, down_to: int = LOW_WATER, timeout: float = 30.0) -> None:
        """Wait (up to ``timeout``) until ``c``'s buffer is down to ``down_to`` bytes: the
        back-pressure of an exec whose reader is slower than the process. A reader that takes
        nothing for that long is dropped."""
        deadline = time.monotonic() + timeout
        if c.registered:
            self.sel.unregister(c.sock)
            c.registered = 0
        c.sock.setblocking(True)
        try:
            while len(c.wbuf) > down_to:
                c.sock.settimeout(max(0.01, deadline - time.monotonic()))
                n = c.sock.send(c.wbuf)
                del c.wbuf[:n]
        except OSError:
            self.close(c)
            return
        finally:
            if not c.closed:
                c.sock.setblocking(False)
                self.interest(c)

    def close(self, c: Conn) -> None:
        if c.closed:
            return
        c.closed = True
        if c.registered:
            try:
                self.sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.registered = 0
        c.sock.close()
        if c in self.all:
            self.all.remove(c)
        if c.exec is not None:
            c.exec.conn = None

    def output_backlog(self) -> int:
        """The largest write buffer among connections attached to the container's output."""
        return max((len(c.wbuf) for c in self.all if c.out or c.err), default=0)

    def drain_all(self, deadline: float) -> None:
        """Before the monitor exits: write what is queued (until ``deadline``) and half-close
        each connection, so every reader sees the end after the last byte."""
        for c in list(self.all):
            if c.closed:
                continue
            try:
                c.sock.setblocking(True)
                c.sock.settimeout(max(0.01, deadline - time.monotonic()))
                if c.wbuf:
                    c.sock.sendall(c.wbuf)
                c.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
