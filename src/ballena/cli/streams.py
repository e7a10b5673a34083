"""Client side of hijacked streams: demultiplex stdcopy frames, pump stdin, raw terminals."""

from __future__ import annotations

import _socket
import os
import signal
import struct
import sys
import threading
from collections.abc import Callable


def demux_to(sock: _socket.socket, initial: bytes, *, tty: bool, stdout: int = 1, stderr: int = 2) -> None:
    """Copy the daemon's output to our stdout/stderr until it closes the connection."""
    buf = bytearray(initial)

    def write(fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                continue
            view = view[n:]

    while True:
        if tty:
            if buf:
                write(stdout, bytes(buf))
                buf.clear()
        else:
            while len(buf) >= 8:
                kind, size = struct.unpack(">BxxxI", buf[:8])
                if len(buf) < 8 + size:
                    break
                data = bytes(buf[8 : 8 + size])
                del buf[: 8 + size]
                write(stderr if kind == 2 else stdout, data)
        try:
            chunk = sock.recv(1 << 16)
        except (ConnectionResetError, OSError):
            chunk = b""
        if not chunk:
            return
        buf += chunk


def pump_stdin(sock: _socket.socket, *, on_eof: Callable[[], None] | None = None) -> threading.Thread:
    """Send our stdin to the daemon; half-close the connection at EOF."""

    def run() -> None:
        fd = sys.stdin.fileno()
        try:
            while True:
                data = os.read(fd, 1 << 16)
                if not data:
                    break
                sock.sendall(data)
        except OSError:
            pass
        try:
            sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass
        if on_eof is not None:
            on_eof()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


class RawTerminal:
    """Put the local terminal in raw mode while attached to a container's TTY."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved: list[object] | None = None

    def __enter__(self) -> RawTerminal:
        if os.isatty(self.fd):
            import termios
            import tty

            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)  # type: ignore[arg-type]


def terminal_size() -> tuple[int, int] | None:
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
        return size.lines, size.columns
    except OSError:
        return None


def on_resize(callback: Callable[[], None]) -> None:
    try:
        signal.signal(signal.SIGWINCH, lambda *_: callback())
    except (ValueError, OSError):
        pass
