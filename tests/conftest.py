"""Shared test fixtures: a ballenad on a temporary socket and data root, clients for it, and
leak checks. The daemon and the busybox base image are made once per session."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
IS_ROOT = os.geteuid() == 0


# Where a test lives says what it needs: tests/unit runs anywhere; the others need root (and
# e2e ones a daemon). A conftest's pytestmark would mark nothing, so the path decides here.
_NEEDS = {
    "e2e": ("e2e", "root"),
    "security": ("e2e", "root"),
    "integration": ("root",),
    "course": ("e2e", "root"),
    "fuzz": ("e2e", "root"),
    "chaos": ("e2e", "root"),
    "load": ("e2e", "root"),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="needs root (namespaces, mounts, cgroups)")
    for item in items:
        parts = Path(str(item.path)).relative_to(ROOT / "tests").parts
        for marker in _NEEDS.get(parts[0], ()) if len(parts) > 1 else ():
            item.add_marker(getattr(pytest.mark, marker))
        if not IS_ROOT and ("root" in item.keywords or "e2e" in item.keywords):
            item.add_marker(skip)


# Daemons alive now, so that a failing test's report carries what they logged meanwhile: CI
# keeps the test output but not the daemons' data roots.
_LIVE: list[Daemon] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for d in _LIVE:
        log = d.root / "ballenad.log"
        try:
            text = log.read_text(errors="replace")
        except OSError:
            continue
        report.sections.append((f"ballenad log ({d.root.name}, last lines)", "\n".join(text.splitlines()[-60:])))


@dataclass
class Daemon:
    """One running ballenad and what it needs to be reached."""

    root: Path
    proc: subprocess.Popen[bytes] | None = None
    extra_args: list[str] = field(default_factory=list)
    bridge: str = ""
    interfaces_before: set[str] = field(default_factory=set)
    # Containers resolve nothing outside by default; a daemon whose builds reach the Debian
    # mirror (the offline library) gets the host's resolvers instead (dns=None).
    dns: str | None = "127.0.0.1"

    @property
    def sock(self) -> Path:
        return self.root / "d.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def exec_root(self) -> Path:
        return self.root / "exec"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DOCKER_HOST"] = self.host
        env.pop("BALLENA_HOST", None)
        env["DOCKER_CONFIG"] = str(self.root / "docker-config")
        return env

    def start(self, timeout: float = 10) -> None:
        args = [
            str(BIN / "ballenad"),
            "-H",
            self.host,
            "--data-root",
            str(self.data_root),
            "--exec-root",
            str(self.exec_root),
            *(["--dns", self.dns] if self.dns else []),
            *self.extra_args,
        ]
        self.log = open(self.root / "ballenad.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sock.exists():
                try:
                    import socket

                    s = socket.socket(socket.AF_UNIX)
                    s.connect(str(self.sock))
                    s.close()
                    return
                except OSError:
                    pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"ballenad exited: {(self.root / 'ballenad.log').read_text()[-2000:]}")
            time.sleep(0.02)
        raise RuntimeError("ballenad did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)

    def docker(
        self, *args: str, input: bytes | str | None = None, check: bool = False, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        data = input.encode() if isinstance(input, str) else input
        # No input means none at all: a docker CLI that wanted to prompt must not wait on ours.
        stdin = subprocess.DEVNULL if data is None else None
        p = subprocess.run(
            ["docker", *args], env=self.env, input=data, stdin=stdin, capture_output=True, timeout=timeout
        )
        res = subprocess.CompletedProcess(
            p.args, p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        )
        if check and res.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed ({res.returncode}): {res.stderr}")
        return res

    def docker_bytes(
        self, *args: str, input: bytes | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[bytes]:
        stdin = subprocess.DEVNULL if input is None else None
        return subprocess.run(
            ["docker", *args], env=self.env, input=input, stdin=stdin, capture_output=True, timeout=timeout
        )

    def ballena(
        self, *args: str, input: bytes | str | None = None, check: bool = False, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        data = input.encode() if isinstance(input, str) else input
        stdin = subprocess.DEVNULL if data is None else None
        p = subprocess.run(
            [str(BIN / "ballena"), *args], env=self.env, input=data, stdin=stdin, capture_output=True, timeout=timeout
        )
        res = subprocess.CompletedProcess(
            p.args, p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        )
        if check and res.returncode != 0:
            raise AssertionError(f"ballena {' '.join(args)} failed ({res.returncode}): {res.stderr}")
        return res

    def cleanup_containers(self) -> None:
        ids = self.docker("ps", "-aq").stdout.split()
        if ids:
            self.docker("rm", "-f", *ids, timeout=120)

    def logs_text(self) -> str:
        try:
            return (self.root / "ballenad.log").read_text()
        except OSError:
            return ""


def _mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(str(path))]


def monitors_of(root: Path) -> list[int]:
    """The PIDs of monitors (and file helpers) working for the daemon under ``root``: processes
    named ``ballena-shim``/``ballena-fsop`` whose working directory is inside it. The name is
    what the monitor sets with PR_SET_NAME; its command line is still the zygote's."""
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            comm = Path(entry.path, "comm").read_text().strip()
            cwd = os.readlink(os.path.join(entry.path, "cwd"))
        except OSError:
            continue
        if comm in ("ballena-shim", "ballena-fsop") and cwd.startswith(str(root) + "/"):
            out.append(int(entry.name))
    return out


def _our_interfaces() -> set[str]:
    """Interfaces named as ballenad names them (bridges and host ends of veths)."""
    return {n for n in os.listdir("/sys/class/net") if n.startswith(("blna-", "blnv", "blt"))}


def make_daemon(extra_args: list[str] | None = None, *, dns: str | None = "127.0.0.1") -> Daemon:
    root = Path(tempfile.mkdtemp(prefix="blt-", dir="/tmp"))
    # Its own default bridge (and so its own nftables table): test daemons never touch the
    # bridge of a ballenad already running on this host, nor each other's.
    bridge = "blt" + root.name.removeprefix("blt-")[:8].replace("_", "0")
    d = Daemon(
        root=root, extra_args=["--bridge", bridge, "--cgroup-parent", f"/{root.name}", *(extra_args or [])], dns=dns
    )
    d.bridge = bridge
    d.interfaces_before = _our_interfaces()
    try:
        d.start()
    except BaseException:
        d.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise
    _LIVE.append(d)
    return d


def destroy_daemon(d: Daemon) -> list[str]:
    """Stop and remove everything a daemon made; returns what leaked (for assertions)."""
    leaks: list[str] = []
    _LIVE[:] = [x for x in _LIVE if x is not d]
    try:
        if d.proc is None:
            d.start()
        d.cleanup_containers()
    except Exception as e:
        leaks.append(f"cleanup failed: {e}")
    d.stop()
    for pid in monitors_of(d.root):
        leaks.append(f"monitor {pid}")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for m in reversed(_mounts_under(d.root)):
        leaks.append(f"mount {m}")
        subprocess.run(["umount", "-l", m], check=False)
    for hier in Path("/sys/fs/cgroup").iterdir():
        cg = hier / d.root.name
        if cg.is_dir():
            for child in cg.iterdir():
                if child.is_dir():
                    leaks.append(f"cgroup {child}")
                    subprocess.run(
                        ["sh", "-c", f"cat {child}/cgroup.procs | xargs -r kill -9; rmdir {child}"], check=False
                    )
            try:
                cg.rmdir()  # the parent the daemon made for its containers
            except OSError as e:
                leaks.append(f"cgroup {cg}: {e.strerror}")
    # The default bridge and its firewall table outlive a daemon (as docker0 does); the test
    # made them, so the test removes them. Anything else of ours still there is a leak.
    subprocess.run(["ip", "link", "del", d.bridge], capture_output=True, check=False)
    subprocess.run(["nft", "delete", "table", "ip", f"ballena_{d.bridge}"], capture_output=True, check=False)
    # A container's veth pair goes with its network namespace, which the kernel tears down
    # a little after the container exits: give it a moment before calling one a leak.
    deadline = time.monotonic() + 5
    while _our_interfaces() - d.interfaces_before - {d.bridge} and time.monotonic() < deadline:
        time.sleep(0.05)
    for name in sorted(_our_interfaces() - d.interfaces_before - {d.bridge}):
        leaks.append(f"interface {name}")
        subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)
    shutil.rmtree(d.root, ignore_errors=True)
    return leaks


def daemon_with_busybox(*, dns: str | None = "127.0.0.1") -> Iterator[Daemon]:
    """A daemon of its own with busybox:latest bootstrapped; destroyed, leaks asserted, after."""
    d = make_daemon(dns=dns)
    try:
        d.ballena("bootstrap", "busybox", "-q", check=True)
        yield d
    finally:
        leaks = destroy_daemon(d)
        assert not leaks, f"leaked: {leaks}"


@pytest.fixture(scope="session")
def daemon() -> Iterator[Daemon]:
    """The shared daemon, with busybox:latest bootstrapped."""
    yield from daemon_with_busybox()


@pytest.fixture()
def fresh_daemon() -> Iterator[Daemon]:
    """A daemon of this test's own (for restarts and kills), with busybox loaded."""
    yield from daemon_with_busybox()


@pytest.fixture()
def docker_client(daemon: Daemon) -> Iterator[object]:
    import docker

    client = docker.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture()
def clean(daemon: Daemon) -> Iterator[Daemon]:
    """The shared daemon, with every container this test made removed afterwards."""
    yield daemon
    daemon.cleanup_containers()
