"""A process's standard streams, seen from its monitor: pipes without a terminal, one pty
master with one. The container's init and every exec get theirs from here, whichever runtime
made the process, so the terminal is set up in one place.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field

from ballena.pkg import framing, linux

__all__ = ["ChildStdio", "ProcessIO", "close_child_ends", "nonblocking", "pipes", "terminal"]

# The three descriptors a child dup2()s onto 0, 1 and 2 (None: it makes its own terminal).
ChildStdio = tuple[int, int, int]


@dataclass(slots=True)
class ProcessIO:
    """The monitor's ends of one process's streams.

    ``outputs`` maps each readable fd to the frame kind its bytes travel as (a pty has only
    stdout); ``stdin`` is where input goes (the master itself, dup'ed, on a pty); ``master``
    is the pty master while it is open (for resizes and the ^D of a closed stdin)."""

    outputs: dict[int, bytes] = field(default_factory=dict)
    stdin: int | None = None
    master: int | None = None

    def close(self) -> None:
        for fd in [*self.outputs, *([self.stdin] if self.stdin is not None else [])]:
            try:
                os.close(fd)
            except OSError:
                pass
        self.outputs.clear()
        self.stdin = None
        self.master = None


def nonblocking(fd: int) -> None:
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)


def pipes(*, stdin: bool) -> tuple[ChildStdio, ProcessIO]:
    """Pipes for a process without a terminal: the child's three ends (close them in the
    parent once the child has them) and ours. Without ``stdin`` the child reads /dev/null."""
    io = ProcessIO()
    if stdin:
        child_in, io.stdin = os.pipe2(os.O_CLOEXEC)
    else:
        child_in = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    for fd in (out_r, err_r):
        nonblocking(fd)
    io.outputs = {out_r: framing.STDOUT, err_r: framing.STDERR}
    return (child_in, out_w, err_w), io


def close_child_ends(child: ChildStdio | None) -> None:
    for fd in child or ():
        try:
            os.close(fd)
        except OSError:
            pass


def terminal(master: int, *, stdin: bool, console_size: tuple[int, ...] | list[int] | None) -> ProcessIO:
    """Our side of a process's pty (the runtime made it inside the container and sent us the
    master): output and, with ``stdin``, input both go through the master."""
    nonblocking(master)
    io = ProcessIO(outputs={master: framing.STDOUT}, master=master)
    if stdin:
        io.stdin = os.dup(master)
    if console_size and len(console_size) == 2 and any(console_size):
        linux.set_winsize(master, int(console_size[0]), int(console_size[1]))
    return io
