"""Timestamps of the steps of a container's start, for whoever wants to see where time goes.

Set ``BALLENA_TRACE=/path/to/file`` in ballenad's environment: the daemon, the zygote, the
monitors and the container's init (until it execs) append ``<unix time> <pid> <step>`` lines
there. Unset, ``mark`` costs one global lookup. The file is opened once per process, before
pivot_root, so the container's init can still write to it afterwards.
"""

from __future__ import annotations

import os
import time

_PATH = os.environ.get("BALLENA_TRACE") or None
# For callers whose step name costs something to build (an f-string per API request).
ON = _PATH is not None
_fd: list[int] = []


def mark(step: str) -> None:
    if _PATH is None:
        return
    if not _fd or _fd[0] < 0:
        try:
            _fd[:] = [os.open(_PATH, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)]
        except OSError:
            _fd[:] = [-1]
            return
    try:
        os.write(_fd[0], f"{time.time():.6f} {os.getpid()} {step}\n".encode())
    except OSError:
        pass
