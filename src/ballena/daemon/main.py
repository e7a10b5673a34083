"""``ballenad``: parse the configuration, start the daemon, stop cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time

from ballena import __version__
from ballena.errors import BallenaError
from ballena.pkg import linux


class _Formatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        t = time.gmtime(record.created)
        return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(record.msecs):03d}Z"


def setup_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter("%(asctime)s %(levelname)-5s %(name)s: %(message)s"))
    # Libraries' own debug output (pyroute2 dumps every netlink message) is not ours to show.
    handler.addFilter(lambda r: r.levelno >= logging.WARNING or r.name.startswith(("ballena", "__main__")))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    logging.getLogger("pyroute2").setLevel(logging.WARNING)


async def _run(argv: list[str] | None) -> int:
    from ballena.daemon import config
    from ballena.daemon.app import Daemon

    cfg, args = config.load(argv)
    if args.version:
        print(f"Ballena version {__version__}")
        return 0
    setup_logging(cfg.debug)
    daemon = Daemon(cfg)
    await daemon.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGPIPE, lambda: None)
    await stop.wait()
    logging.getLogger("ballena.daemon").info("shutting down (containers keep running)")
    await daemon.stop()
    return 0


def main(argv: list[str] | None = None) -> None:
    # Before any thread exists: each would otherwise get a malloc arena of its own, whose
    # free space glibc never gives back (see Daemon._trim_memory).
    linux.limit_malloc_arenas(2)
    try:
        code = asyncio.run(_run(argv))
    except BallenaError as e:
        print(f"ballenad: {e.message}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
