"""Load: containers started in bursts, each with a published port and a healthcheck, then
removed; thousands of API calls from concurrent clients. Nothing leaks (descriptors, mounts,
interfaces, firewall rules, cgroups, processes) and the daemon's memory comes back.

CI runs a small load; the full one (and its calls per second, printed):

    BALLENA_LOAD_CONTAINERS=200 BALLENA_LOAD_CALLS=5000 .venv/bin/python -m pytest tests/load -q -s
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, daemon_with_busybox

CONTAINERS = int(os.environ.get("BALLENA_LOAD_CONTAINERS", "40"))
CALLS = int(os.environ.get("BALLENA_LOAD_CALLS", "1000"))
BURST = 20
CLIENTS = 8

pytestmark = pytest.mark.timeout(1800)


@pytest.fixture()
def daemon_under_load() -> Iterator[Daemon]:
    yield from daemon_with_busybox()


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _mounts_under(root: Path) -> int:
    return sum(1 for line in Path("/proc/self/mounts").read_text().splitlines() if str(root) in line)


def _nft_rules(d: Daemon) -> int:
    """The rules in this daemon's own table (named after its bridge): other test daemons still
    alive (a session's, with containers that restart) change the host's ruleset meanwhile."""
    table = "ballena_" + re.sub(r"[^A-Za-z0-9_]", "_", d.bridge)
    out = subprocess.run(["nft", "list", "table", "ip", table], capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if line.strip() and not line.strip().startswith(("table", "chain", "}", "type", "policy")))  # fmt: skip


def _children(pid: int) -> int:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return len(out.split())


def test_bursts_of_containers_and_concurrent_calls_leave_nothing(daemon_under_load: Daemon) -> None:
    import docker

    d = daemon_under_load
    assert d.proc is not None
    pid = d.proc.pid
    warm = docker.DockerClient(base_url=d.host, version="auto", timeout=120)

    def start(i: int) -> str:
        c = warm.containers.run(
            "busybox", ["httpd", "-f", "-p", "80"], name=f"load{i}" if i >= 0 else f"warm{-i}", detach=True, ports={"80/tcp": None},
            healthcheck={"test": ["CMD", "true"], "interval": 500_000_000}, init=True,
        )  # fmt: skip
        return str(c.id)

    # A round of everything first, so that what is loaded or cached on first use (modules,
    # the event history, the database's pages) is in the baseline, not counted as a leak.
    for i in range(BURST):
        cid = start(-1 - i)
        warm.api.containers(all=True)
        warm.api.inspect_container(cid)
        time.sleep(0.1)
        warm.api.remove_container(cid, force=True)
    time.sleep(6)  # one memory trim of the daemon's
    fds0, rss0, mounts0, rules0, kids0 = _fds(pid), _rss_kib(pid), _mounts_under(d.root), _nft_rules(d), _children(pid)

    def one_round() -> tuple[float, float, int]:
        t0 = time.monotonic()
        ids: list[str] = []
        with concurrent.futures.ThreadPoolExecutor(BURST) as pool:
            for first in range(0, CONTAINERS, BURST):
                ids += list(pool.map(start, range(first, min(first + BURST, CONTAINERS))))
        started = time.monotonic() - t0
        assert len(set(ids)) == CONTAINERS
        ports = {c.attrs["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"] for c in warm.containers.list()}
        assert len(ports) == CONTAINERS  # a host port each
        assert _nft_rules(d) > rules0  # the count sees this daemon's port rules: not vacuous

        def calls(n: int) -> int:
            client = docker.DockerClient(base_url=d.host, version="auto", timeout=120)
            try:
                for i in range(n):
                    if i % 3 == 0:
                        client.api.containers(all=True)
                    elif i % 3 == 1:
                        client.api.inspect_container(ids[i % len(ids)])
                    else:
                        client.api.version()
            finally:
                client.close()
            return n

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            done = sum(pool.map(calls, [CALLS // CLIENTS] * CLIENTS))
        rate = done / (time.monotonic() - t0)
        with concurrent.futures.ThreadPoolExecutor(BURST) as pool:
            list(pool.map(lambda cid: warm.api.remove_container(cid, force=True), ids))
        time.sleep(6)  # a memory trim of the daemon's
        return started, rate, _rss_kib(pid)

    started, rate, rss1 = one_round()
    _, _, rss2 = one_round()
    warm.close()
    print(
        f"\n{CONTAINERS} containers started in bursts of {BURST} in {started:.1f} s; {CALLS} API calls from "
        f"{CLIENTS} clients at {rate:.0f}/s; daemon RSS {rss0 // 1024} MiB at the start, "
        f"{rss1 // 1024} MiB after one round, {rss2 // 1024} MiB after two"
    )

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (_mounts_under(d.root) > mounts0 or _children(pid) > kids0):
        time.sleep(0.2)
    assert _mounts_under(d.root) == mounts0
    assert _nft_rules(d) == rules0
    assert _children(pid) <= kids0
    assert _fds(pid) <= fds0 + 5  # a few lazily opened (sockets of the executor threads)
    # No leak: a second round ends where the first did (within 5 %). The first round's growth
    # over the start is CPython keeping the memory it used (its allocator's arenas).
    assert rss2 <= rss1 * 1.05, (rss0, rss1, rss2)
