"""The monitor's healthcheck over a fake clock and fake probes: moby's rules for starting,
healthy, unhealthy, the start period, timeouts and the kept log."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ballena.shim.config import HealthSettings
from ballena.shim.health import MAX_LOG_ENTRIES, HealthChecker

S = 10**9


class World:
    """A checker over a fake clock; each probe exits at once with ``code`` (None: it hangs)."""

    def __init__(self, tmp: Path, *, start_period: int = 0, retries: int = 3, start_interval: int = 0) -> None:
        self.now = 100.0
        self.wall = 1_000 * S
        self.code: int | None = 1
        self.started = 0
        self.running: Callable[[int, bytes], None] | None = None
        self.killed: list[int] = []
        self.published: list[dict[str, Any]] = []
        self.settings = HealthSettings(
            test=("sh", "-c", "check"), interval=30 * S, timeout=10 * S, start_period=start_period,
            start_interval=start_interval, retries=retries, state_file=str(tmp / "health.json"),
        )  # fmt: skip
        self.checker = HealthChecker(
            self.settings,
            started_at_ns=self.wall,
            start_probe=self._start,
            kill=self.killed.append,
            publish=lambda s: self.published.append(json.loads(json.dumps(s))),
            clock=lambda: self.now,
            wall=lambda: self.wall,
        )

    def _start(self, argv: tuple[str, ...], done: Callable[[int, bytes], None]) -> int | None:
        self.started += 1
        if self.code is None:
            self.running = done
            return 4242
        done(self.code, b"out" * 2000)
        return 4242

    def advance(self, seconds: float, step: float = 0.05) -> None:
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.now += step
            self.wall += int(step * S)
            self.checker.tick()

    @property
    def status(self) -> str:
        return str(self.checker.state["Status"])

    @property
    def log(self) -> list[dict[str, Any]]:
        return list(self.checker.state["Log"])


def test_failures_count_as_dockerd_counts_them(tmp_path: Path) -> None:
    """Regular probes every interval decide the streak; early probes' failures are not seen."""
    w = World(tmp_path)
    w.advance(29.9)
    assert w.status == "starting" and w.log == [] and w.started > 3  # early probes ran, unrecorded
    w.advance(0.2)
    assert w.log[-1]["ExitCode"] == 1 and w.checker.state["FailingStreak"] == 1 and w.status == "starting"
    w.advance(59.5)
    assert w.status == "starting" and len(w.log) == 2
    w.advance(0.6)
    assert w.status == "unhealthy" and w.checker.state["FailingStreak"] == 3 and len(w.log) == 3
    assert len(w.log[-1]["Output"]) == 4096  # output kept to 4096 bytes
    saved = json.loads(Path(w.settings.state_file).read_text())
    assert saved == w.checker.state and w.published[-1] == saved


def test_an_early_success_makes_it_healthy_at_once(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.advance(2)
    w.code = 0  # the service is ready
    w.advance(3)  # the next early probe comes within twice the time waited so far
    assert w.status == "healthy" and len(w.log) == 1 and w.checker.state["FailingStreak"] == 0
    probes = w.started
    w.advance(20)
    assert w.started == probes  # healthy: only regular probes now, one interval after that one
    w.advance(10)
    assert w.started == probes + 1
    w.code = 1
    for _ in range(3):
        w.advance(30)
    assert w.status == "unhealthy"


def test_failures_in_the_start_period_do_not_count(tmp_path: Path) -> None:
    w = World(tmp_path, start_period=100 * S, retries=1, start_interval=5 * S)
    w.advance(10.1)  # the start interval applies to regular probes while starting
    assert w.status == "starting" and len(w.log) == 2 and w.checker.state["FailingStreak"] == 0
    w.advance(95)  # past the start period: a failure counts, one is enough here
    assert w.status == "unhealthy"


def test_a_probe_past_its_timeout_is_killed_and_recorded(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.code = None
    w.advance(0.1)  # an early probe that hangs is killed when the regular one is due
    assert w.killed == []
    w.advance(29.9)
    assert w.killed == [4242] and w.log == []
    assert w.running is not None
    w.running(137, b"")  # its end: not recorded (early)
    w.advance(0.1)  # the regular probe starts, and hangs too
    w.advance(10)
    assert w.killed == [4242, 4242]
    w.running(137, b"")
    entry = w.log[-1]
    assert entry["ExitCode"] == -1 and entry["Output"] == "Health check exceeded timeout (10s)"


def test_the_log_keeps_five_and_a_restart_is_starting_again(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.code = 0
    for _ in range(7):
        w.advance(30)
    assert len(w.log) == MAX_LOG_ENTRIES
    again = World(tmp_path)  # the same state file: the container started again
    assert again.status == "starting" and len(again.log) == MAX_LOG_ENTRIES


def test_no_probes_while_paused(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.checker.pause(True)
    assert w.checker.due() is None
    w.advance(100)
    assert w.started == 0
    w.checker.pause(False)
    w.code = 0
    w.advance(1)
    assert w.status == "healthy"
