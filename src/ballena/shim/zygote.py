"""The zygote: a fork server for monitors, started once by the daemon.

Why: a fresh Python process costs ~45 ms and ~4.5 MB of private memory here; a child forked
from this already-initialised process costs ~1 ms and shares all but ~1 MB with it. The daemon
itself must never fork (it is threaded); the zygote is single-threaded, so it may.

Protocol on the socket inherited as fd 3: the daemon sends ``length | JSON config`` with the
monitor's control socket attached (SCM_RIGHTS); the zygote replies ``length | {"pid": N}``.
When the daemon goes away the zygote exits; monitors live on.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import struct
import sys

from ballena.pkg import linux
from ballena.runtime import cgroups
from ballena.shim import monitor


def _recv(sock: socket.socket) -> tuple[dict[str, object] | None, list[int]]:
    data, fds, _f, _a = socket.recv_fds(sock, 1 << 20, 4)
    if not data:
        return None, list(fds)
    size = struct.unpack(">I", data[:4])[0]
    while len(data) < 4 + size:
        more = sock.recv(1 << 20)
        if not more:
            return None, list(fds)
        data += more
    return json.loads(data[4 : 4 + size]), list(fds)


def _send(sock: socket.socket, obj: dict[str, object]) -> None:
    data = json.dumps(obj).encode()
    sock.sendall(struct.pack(">I", len(data)) + data)


def serve(sock: socket.socket) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps monitors for us
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Facts every monitor needs, learned once here so that each fork inherits them.
    linux.last_cap()
    cgroups.layout()
    gc.freeze()  # keep the collector from touching (and un-sharing) inherited objects
    while True:
        try:
            cfg, fds = _recv(sock)
        except OSError:
            return
        if cfg is None:
            return
        control = socket.socket(fileno=fds[0]) if fds else None
        for extra in fds[1:]:
            os.close(extra)
        try:
            pid = os.fork()
        except OSError as e:
            if control is not None:
                control.close()
            _send(sock, {"error": f"fork: {e.strerror}"})
            continue
        if pid == 0:
            try:
                sock.close()
                os.setsid()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                if cfg.get("kind") == "fsop":
                    # Imported here, not in the zygote: tarfile and its company would otherwise
                    # sit in (and spread out) the memory every monitor is forked from.
                    from ballena.shim import fsops

                    assert control is not None
                    fsops.run(cfg, control)  # type: ignore[arg-type]
                    os._exit(0)
                monitor.run(cfg, control)  # type: ignore[arg-type]
            except BaseException as e:
                try:
                    sys.stderr.write(f"ballena monitor {cfg.get('id')}: {e}\n")
                except Exception:
                    pass
            finally:
                os._exit(1)
        if control is not None:
            control.close()
        _send(sock, {"pid": pid})


def main() -> None:
    fd = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    sock = socket.socket(fileno=fd)
    os.set_inheritable(fd, False)
    serve(sock)


if __name__ == "__main__":
    main()
