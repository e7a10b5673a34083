"""The engines a benchmark compares: a ballenad and, where Debian's docker.io is installed, a
reference dockerd, each on a temporary socket and data root, both driven by the same docker CLI.

dockerd changes the host's firewall (its chains, FORWARD set to DROP) and adds docker0; the
ruleset is saved before it starts and put back after it stops, and docker0 is removed, so the
host is left as it was.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def _wait_for_socket(sock: Path, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited: {log.read_text()[-2000:]}")
        if sock.exists():
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(str(sock))
                return
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.02)
    raise RuntimeError(f"{proc.args[0]} did not start within {timeout}s")


class Engine:
    """One daemon under test."""

    name = "engine"

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=f"bench-{self.name}-", dir="/tmp"))
        self.sock = self.root / "d.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DOCKER_HOST"] = self.host
        env["DOCKER_CONFIG"] = str(self.root / "docker-config")
        env["DOCKER_BUILDKIT"] = "0"
        env.pop("BALLENA_HOST", None)
        return env

    def docker(self, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        res = subprocess.run(["docker", *args], env=self.env, input=input, capture_output=True)
        if check and res.returncode != 0:
            raise RuntimeError(f"{self.name}: docker {' '.join(args)}: {res.stderr.decode()}")
        return res

    def pids(self) -> list[int]:
        """The daemon and its children (ballenad's zygote, dockerd's containerd): for memory."""
        if self.proc is None:
            return []
        kids = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        return [self.proc.pid, *map(int, kids)]

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class Ballena(Engine):
    name = "ballena"

    def __init__(self) -> None:
        super().__init__()
        self.bridge = "blb" + self.root.name[-8:].replace("_", "0")
        self.trace_file = self.root / "trace.txt"

    def start(self) -> None:
        log = self.root / "ballenad.log"
        args = [
            str(BIN / "ballenad"),
            "-H",
            self.host,
            "--data-root",
            str(self.root / "data"),
            "--exec-root",
            str(self.root / "exec"),
            "--bridge",
            self.bridge,
            "--cgroup-parent",
            f"/{self.root.name}",
            "--dns",
            "127.0.0.1",
        ]
        env = dict(os.environ)
        env["BALLENA_TRACE"] = str(self.trace_file)  # step timestamps, for the isolation scenario
        self.proc = subprocess.Popen(args, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)
        _wait_for_socket(self.sock, self.proc, log, 10)

    def load_busybox(self) -> None:
        subprocess.run([str(BIN / "ballena"), "bootstrap", "busybox", "-q"], env=self.env, check=True)

    def cleanup(self) -> None:
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        subprocess.run(["nft", "delete", "table", "ip", f"ballena_{self.bridge}"], capture_output=True)
        for hier in Path("/sys/fs/cgroup").iterdir():
            try:
                (hier / self.root.name).rmdir()
            except OSError:
                pass
        super().cleanup()


class Docker(Engine):
    """Debian's dockerd with a containerd of its own, all under a temporary root."""

    name = "docker"

    def __init__(self) -> None:
        super().__init__()
        self.ruleset: str | None = None
        self.had_docker0 = True

    @staticmethod
    def available() -> bool:
        return shutil.which("dockerd") is not None and shutil.which("containerd") is not None

    def start(self) -> None:
        self.ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
        self.had_docker0 = Path("/sys/class/net/docker0").exists()
        log = self.root / "dockerd.log"
        args = [
            "dockerd",
            "-H",
            self.host,
            "--data-root",
            str(self.root / "data"),
            "--exec-root",
            str(self.root / "exec"),
            "--pidfile",
            str(self.root / "dockerd.pid"),
            "--dns",
            "127.0.0.1",
        ]
        env = dict(os.environ)
        env["XDG_RUNTIME_DIR"] = str(self.root / "xdg")
        # containerd's shim hands runc exec its process file through this directory.
        (self.root / "xdg").mkdir(exist_ok=True)
        self.proc = subprocess.Popen(args, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)
        _wait_for_socket(self.sock, self.proc, log, 60)

    def load_busybox(self, source: Engine) -> None:
        """The same busybox image as ballena's, through docker save | docker load."""
        tar = source.docker("save", "busybox:latest").stdout
        self.docker("load", input=tar)

    def cleanup(self) -> None:
        if not self.had_docker0:
            subprocess.run(["ip", "link", "del", "docker0"], capture_output=True)
        if self.ruleset is not None:
            # Put the firewall back exactly as it was before dockerd touched it.
            subprocess.run(["nft", "flush", "ruleset"], check=True)
            subprocess.run(["nft", "-f", "-"], input=self.ruleset.encode(), check=True)
        subprocess.run(["umount", "-R", str(self.root / "exec")], capture_output=True)
        for m in reversed(
            [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines() if str(self.root) in line]
        ):
            subprocess.run(["umount", "-l", m], capture_output=True)
        super().cleanup()


def uss_kib(pids: list[int]) -> int:
    """Unique set size: the memory only these processes use (private pages), in KiB."""
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total
