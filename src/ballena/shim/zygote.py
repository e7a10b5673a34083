"""The zygote: a fork server for monitors and file helpers, started once by the daemon.

Why: a fresh Python process costs ~45 ms and ~4.5 MB of private memory here; a child forked
from this already-initialised process costs ~1 ms and shares all but ~1 MB with it. The daemon
itself must never fork (it is threaded); the zygote is single-threaded, so it may.

Started as ``python -m ballena.shim.zygote FD`` by the daemon's ``spawner.Zygote``, and a
second one with ``--file-helpers`` for the helpers that read and write a container's files
(with what they import already imported). A request
is one JSON frame (``config.spawn_request``) with the child's end of a fresh socket pair
attached; the answer is ``{"pid": N}`` or ``{"error": ...}``. When the daemon goes away the
zygote exits; monitors live on. Everything imported here is in every monitor's memory: the
daemon's side (asyncio, subprocess) lives in ``spawner``.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import sys

from ballena.pkg import framing, linux
from ballena.runtime import cgroups
from ballena.shim import monitor
from ballena.shim.config import FileHelperConfig, MonitorConfig, from_spawn_request

__all__ = ["serve"]


def serve(sock: socket.socket) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps our children for us
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Facts every monitor needs, learned once here so that each fork inherits them.
    linux.last_cap()
    cgroups.layout()
    cgroups.own_procs_file()
    gc.freeze()  # keep the collector from touching (and un-sharing) inherited objects
    while True:
        try:
            request, fds = framing.recv_json(sock, max_fds=1)
        except (OSError, framing.FrameError, ValueError):
            return
        if request is None:
            return
        if request.get("kind") == "cgroup":
            framing.send_json(sock, _make_cgroup(request.get("path")))
            continue
        control = socket.socket(fileno=fds[0]) if fds else None
        try:
            cfg = from_spawn_request(request)
        except Exception as e:
            if control is not None:
                control.close()
            framing.send_json(sock, {"error": f"bad spawn request: {e}"})
            continue
        try:
            pid = os.fork()
        except OSError as e:
            if control is not None:
                control.close()
            framing.send_json(sock, {"error": f"fork: {e.strerror}"})
            continue
        if pid == 0:
            _child(sock, cfg, control)
        if control is not None:
            control.close()
        framing.send_json(sock, {"pid": pid})


def _make_cgroup(path: object) -> dict[str, str]:
    """A container's cgroup, made ahead of its monitor (see ``Zygote.make_cgroup``); the monitor
    makes whatever is still missing and owns it from then on."""
    if not isinstance(path, str) or not path.startswith("/") or ".." in path.split("/"):
        return {"error": f"bad cgroup path {path!r}"}
    try:
        cgroups.Cgroup(path).create()
    except OSError as e:
        return {"error": f"cgroup {path}: {e.strerror}"}
    return {}


def _child(sock: socket.socket, cfg: MonitorConfig | FileHelperConfig, control: socket.socket | None) -> None:
    try:
        sock.close()
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if isinstance(cfg, FileHelperConfig):
            # Already imported in the file helpers' zygote (``main``); not in the monitors' one,
            # where tarfile and its company would sit in (and spread out) the memory every
            # monitor is forked from: 2.4 -> 2.6 MiB private per monitor, measured.
            from ballena.shim import fsops

            linux.set_process_name("ballena-fsop")
            assert control is not None
            fsops.run(cfg, control)
            os._exit(0)
        monitor.run(cfg, control)
    except BaseException as e:
        try:
            sys.stderr.write(f"ballena {cfg.KIND} {cfg.id}: {e}\n")
        except Exception:
            pass
    finally:
        os._exit(1)


def main() -> None:
    fd = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    if "--file-helpers" in sys.argv[2:]:
        # The zygote of the file helpers (``docker cp``, ``docker export``): each would
        # otherwise import tarfile and h11 after its fork, 10.7 ms of every `docker cp`, twice.
        from ballena.shim import fsops  # noqa: F401
    sock = socket.socket(fileno=fd)
    os.set_inheritable(fd, False)
    serve(sock)


if __name__ == "__main__":
    main()
