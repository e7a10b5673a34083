"""The course's daemon: one per session, whose builds reach the Debian mirror (the host's
resolvers, not --dns 127.0.0.1), with busybox bootstrapped and the library built on demand."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, daemon_with_busybox


def host_resolver() -> str | None:
    """The host's own resolver, if containers can reach it (not a loopback one): given to the
    daemon explicitly, so that a host with none never sends a build to dockerd's public fallback."""
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        return None
    servers = [ln.split()[1] for ln in lines if ln.startswith("nameserver") and len(ln.split()) > 1]
    return next((s for s in servers if not s.startswith("127.") and s != "::1"), None)


@pytest.fixture(scope="session")
def lib() -> Iterator[Daemon]:
    resolver = host_resolver()
    if resolver is None:
        pytest.skip("the host's resolver is on loopback: library builds could not reach the Debian mirror")
    yield from daemon_with_busybox(dns=resolver)


@pytest.fixture
def course(lib: Daemon) -> Iterator[Daemon]:
    yield lib
    lib.cleanup_containers()


@contextlib.contextmanager
def user_network(d: Daemon, name: str) -> Iterator[None]:
    """A lesson's user network; its containers and it are removed after the lesson."""
    d.docker("network", "create", name, check=True)
    try:
        yield
    finally:
        d.cleanup_containers()
        d.docker("network", "rm", name)


def bootstrap(d: Daemon, *names: str) -> str:
    r = d.ballena("bootstrap", *names, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check, timeout: float = 60, what: str = "") -> object:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except OSError as e:
            last = e
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: {last}")


def redis_ping(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"PING\r\n")
        return s.recv(64)
