"""``ballena ui``: the web dashboard (``ballena.ui``), served from this process until Ctrl-C.

It prints its URL with a token, as Jupyter does, and opens nothing by itself. It listens on
127.0.0.1 and a free port unless told otherwise; listening off loopback is allowed with
``--host`` and said loudly, since whoever holds the URL drives the daemon as root.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from ballena.cli.common import die, flags
from ballena.client.api import Client, ConnectionFailed

TYPE_CHECKING = False
if TYPE_CHECKING:  # h11 and the server load only when the dashboard starts
    from ballena.ui.server import Dashboard


def ui(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS]", min_args=0, max_args=0)
    p.str("host", None, "Address to listen on", default="127.0.0.1")
    p.int("port", "p", "Port to listen on (default: a free one)", default=0)
    a = p.parse(argv)
    from ballena.ui.server import STATIC_DIR, Dashboard, is_loopback

    if not (STATIC_DIR / "index.html").is_file():
        die(f"the dashboard is not built ({STATIC_DIR} has no index.html): run scripts/setup.sh")
    try:
        client.get("/_ping")
    except ConnectionFailed as e:
        die(str(e))
    if not is_loopback(a.host):
        print(
            f"WARNING: the dashboard listens on {a.host}, off this machine's loopback: anyone who can reach it"
            " and holds the URL below controls the daemon as root.",
            file=sys.stderr,
        )
    return asyncio.run(_serve(Dashboard(upstream=client.endpoint()), a.host, a.port))


async def _serve(dashboard: Dashboard, host: str, port: int) -> int:
    try:
        await dashboard.listen(host, port)
    except OSError as e:
        die(f"cannot listen on {host}:{port}: {e.strerror or e}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print("The Ballena dashboard is running. Open it with this URL (it carries the login token):", flush=True)
    print(f"    {dashboard.url}", flush=True)
    print("Press Ctrl-C to stop it.", file=sys.stderr, flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await stop.wait()
    await dashboard.close()
    return 0
