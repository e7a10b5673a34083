"""kill -9 of ballenad in the middle of operations, then a restart: the store stays consistent,
nothing half-written is visible or left behind, running containers still run, and the
interrupted operation works when repeated.

CI runs a few rounds per operation with a fixed seed; the long run:

    BALLENA_CHAOS_ROUNDS=25 BALLENA_CHAOS_SEED=random .venv/bin/python -m pytest tests/chaos -q
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, destroy_daemon, make_daemon
from tests.registries import Registry, start_registry

ROUNDS = int(os.environ.get("BALLENA_CHAOS_ROUNDS", "2"))
SEED = os.environ.get("BALLENA_CHAOS_SEED", "7")
RNG = random.Random(None if SEED == "random" else int(SEED))

pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Registry, Path]]:
    work = tmp_path_factory.mktemp("chaos")
    registry = start_registry(work / "registry")
    d = make_daemon(["--insecure-registry", registry.host])
    try:
        d.ballena("bootstrap", "busybox", "-q", check=True)
        d.docker("run", "-d", "--name", "sentinel", "busybox", "sh", "-c", "trap 'exit 0' TERM; while :; do date; sleep 0.2; done", check=True)  # fmt: skip
        d.docker("tag", "busybox", f"{registry.host}/chaos/busybox:1", check=True)
        d.docker("push", f"{registry.host}/chaos/busybox:1", check=True)
        (work / "ctx").mkdir()
        (work / "ctx" / "Dockerfile").write_text("FROM busybox\nRUN echo one > /one\nRUN dd if=/dev/zero of=/big bs=1M count=20\nRUN echo three > /three\n")  # fmt: skip
        d.docker("save", "-o", str(work / "saved.tar"), "busybox", check=True)
        yield d, registry, work
    finally:
        leaks = destroy_daemon(d)
        registry.stop()
        assert not leaks, f"leaked: {leaks}"


def _kill_and_restart(d: Daemon) -> None:
    assert d.proc is not None
    os.kill(d.proc.pid, signal.SIGKILL)
    d.proc.wait()
    d.proc = None
    d.start()


def _consistent(d: Daemon) -> None:
    """What the commands say agrees with the data root, and nothing half-made is left."""
    images = d.docker("images", "-q", "--no-trunc", check=True).stdout.split()
    for image_id in set(images):
        d.docker("image", "inspect", image_id, check=True)
    for cid in d.docker("ps", "-aq", "--no-trunc", check=True).stdout.split():
        info = json.loads(d.docker("inspect", cid, check=True).stdout)[0]
        assert info["State"]["Status"] in ("created", "running", "exited", "paused"), info["State"]
        assert Path(info["GraphDriver"]["Data"]["UpperDir"]).exists()
    d.docker("system", "df", check=True)
    d.docker("volume", "ls", check=True)
    d.docker("network", "ls", check=True)
    assert d.docker("inspect", "-f", "{{.State.Running}}", "sentinel", check=True).stdout.strip() == "true"
    data = d.data_root
    leftovers = [p for p in (data / "tmp").glob("*")] if (data / "tmp").exists() else []
    leftovers += [p for p in data.rglob("*.tmp")]
    leftovers += [p for p in data.rglob(".removing-*")]
    assert leftovers == [], leftovers


def _ops(registry: Registry, work: Path) -> dict[str, tuple[list[str], Callable[[Daemon], None]]]:
    """Each operation: its docker command, and what makes it repeatable (undo what it made)."""
    ref = f"{registry.host}/chaos/busybox:1"

    def rmi(*names: str) -> Callable[[Daemon], None]:
        return lambda d: (d.docker("rmi", "-f", *names), d.docker("image", "prune", "-f"), None)[-1]

    def rm_network(d: Daemon) -> None:
        d.docker("network", "rm", "chaosnet")

    def rm_container(d: Daemon) -> None:
        d.docker("rm", "-f", "chaosrun")

    def make_victim(d: Daemon) -> None:
        d.docker("rm", "-f", "victim")
        d.docker("run", "-d", "--name", "victim", "busybox", "sleep", "300", check=True)

    def load_undo(d: Daemon) -> None:
        d.docker("tag", "busybox", "keep:me")  # load re-tags busybox; nothing else to undo

    return {
        "build": (["build", "--no-cache", "-t", "chaos:build", str(work / "ctx")], rmi("chaos:build")),
        "load": (["load", "-i", str(work / "saved.tar")], load_undo),
        "commit": (["commit", "sentinel", "chaos:commit"], rmi("chaos:commit")),
        "pull": (["pull", ref], rmi(ref)),
        "run": (["run", "-d", "--name", "chaosrun", "-p", "18099:80", "busybox", "sleep", "300"], rm_container),
        "rm": (["rm", "-f", "victim"], make_victim),
        "network create": (["network", "create", "chaosnet"], rm_network),
    }


@pytest.mark.parametrize("op", ["build", "load", "commit", "pull", "run", "rm", "network create"])
def test_kill_9_in_the_middle(world: tuple[Daemon, Registry, Path], op: str) -> None:
    d, registry, work = world
    argv, undo = _ops(registry, work)[op]
    undo(d)  # a clean start: what a previous round made is gone (rm: the victim exists)
    for _ in range(ROUNDS):
        proc = subprocess.Popen(["docker", *argv], env=d.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(RNG.uniform(0.0, 0.35))
        _kill_and_restart(d)
        proc.wait(timeout=60)
        _consistent(d)
        undo(d)
        again = d.docker(*argv)  # the interrupted operation, repeated, works
        assert again.returncode == 0, again.stderr
        _consistent(d)
        undo(d)
