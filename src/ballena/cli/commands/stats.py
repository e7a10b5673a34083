"""``ballena stats``: a live table of containers' resource use, computed from the Engine API's
stats JSON exactly as the docker CLI computes it (see ``ballena.services.stats``)."""

from __future__ import annotations

import sys
import threading
import time

from ballena.cli.common import die, flags, render
from ballena.client.api import APIError, Client
from ballena.pkg.units import bytes_size, human_size_precision

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HEADERS = {
    "Container": "CONTAINER",
    "ID": "CONTAINER ID",
    "Name": "NAME",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}
DEFAULT = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"


def cpu_percent(s: dict[str, Any]) -> float:
    cur, pre = s.get("cpu_stats") or {}, s.get("precpu_stats") or {}
    cpu_delta = (cur.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get("total_usage", 0)
    system_delta = (cur.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    online = cur.get("online_cpus") or len((cur.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    if system_delta > 0 and cpu_delta > 0:
        return cpu_delta / system_delta * online * 100.0
    return 0.0


def memory_usage(mem: dict[str, Any]) -> float:
    """Usage without the page cache the kernel can drop (the docker CLI's rule)."""
    usage = mem.get("usage") or 0
    st = mem.get("stats") or {}
    if "total_inactive_file" in st and st["total_inactive_file"] < usage:
        return float(usage - st["total_inactive_file"])
    if st.get("inactive_file", usage) < usage:
        return float(usage - st["inactive_file"])
    return float(usage)


def row(name: str, s: dict[str, Any], *, no_trunc: bool, given: str) -> dict[str, str]:
    mem = s.get("memory_stats") or {}
    used, limit = memory_usage(mem), float(mem.get("limit") or 0)
    rx = sum(n.get("rx_bytes", 0) for n in (s.get("networks") or {}).values())
    tx = sum(n.get("tx_bytes", 0) for n in (s.get("networks") or {}).values())
    read = write = 0
    for e in (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = str(e.get("op", "")).lower()
        if op == "read":
            read += e.get("value", 0)
        elif op == "write":
            write += e.get("value", 0)
    cid = s.get("id") or ""
    running = s.get("read") not in (None, "0001-01-01T00:00:00Z")
    return {
        "Container": given,
        "ID": cid if no_trunc else cid[:12],
        "Name": (s.get("name") or name).lstrip("/"),
        "CPUPerc": f"{cpu_percent(s):.2f}%" if running else "--",
        "MemUsage": f"{bytes_size(used)} / {bytes_size(limit)}" if running else "-- / --",
        "MemPerc": f"{used / limit * 100:.2f}%" if running and limit else ("0.00%" if running else "--"),
        "NetIO": f"{_io(rx)} / {_io(tx)}" if running else "--",
        "BlockIO": f"{_io(read)} / {_io(write)}" if running else "--",
        "PIDs": str((s.get("pids_stats") or {}).get("current", 0)) if running else "--",
    }


def _io(n: float) -> str:
    return human_size_precision(n, 3)


class _Follower(threading.Thread):
    """Keeps the latest sample of one container from a streaming stats request."""

    def __init__(self, host: str, ref: str) -> None:
        super().__init__(daemon=True)
        self.host, self.ref = host, ref
        self.latest: dict[str, Any] | None = None
        self.error: str | None = None
        self.done = False

    def run(self) -> None:
        try:
            for s in Client(self.host).stream_json("GET", f"/containers/{self.ref}/stats", params={"stream": True}):
                self.latest = s
        except APIError as e:
            self.error = e.message
        except OSError as e:
            self.error = str(e)
        self.done = True


def stats(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] [CONTAINER...]")
    p.bool("all", "a", "Show all containers (default shows just running)")
    p.str("format", None, "Format output using a custom template", default="")
    p.bool("no-stream", None, "Disable streaming stats and only pull the first result")
    p.bool("no-trunc", None, "Do not truncate output")
    a = p.parse(argv)
    fmt = a.format or DEFAULT
    given = list(a.args)

    def targets() -> list[tuple[str, str]]:
        if given:
            return [(n, n) for n in given]
        params = {"all": True} if a.all else None
        return [(c["Id"], (c.get("Names") or ["/"])[0]) for c in client.get("/containers/json", params=params) or []]

    if a.no_stream:
        results: dict[str, dict[str, Any]] = {}
        errors: list[str] = []

        def one(ref: str) -> None:
            try:
                results[ref] = Client(client.host).get(f"/containers/{ref}/stats", params={"stream": False})
            except APIError as e:
                errors.append(f"Error response from daemon: {e.message}")

        wanted = targets()
        workers = [threading.Thread(target=one, args=(ref,)) for ref, _ in wanted]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        if errors:
            die("\n".join(errors))
        rows = [row(name, results[ref], no_trunc=a.no_trunc, given=ref) for ref, name in wanted if ref in results]
        text = render(rows, fmt, default=DEFAULT, headers=HEADERS)
        if text:
            sys.stdout.write(text + "\n")
        return 0

    followers: dict[str, _Follower] = {}
    tty = sys.stdout.isatty()
    try:
        while True:
            current = targets()
            for ref, _name in current:
                if ref not in followers:
                    followers[ref] = _Follower(client.host, ref)
                    followers[ref].start()
            time.sleep(0.5 if not any(f.latest for f in followers.values()) else 1.0)
            failed = [f for f in followers.values() if f.error and given]
            if failed:
                die(f"Error response from daemon: {failed[0].error}")
            rows = [
                row(name, followers[ref].latest or {}, no_trunc=a.no_trunc, given=ref)
                for ref, name in current
                if followers[ref].latest is not None
            ]
            text = render(rows, fmt, default=DEFAULT, headers=HEADERS)
            if tty:
                sys.stdout.write("\033[2J\033[H")  # redraw in place, as docker does
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
            for ref in [r for r, f in followers.items() if f.done and not given]:
                del followers[ref]
    except KeyboardInterrupt:
        return 0
