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
    def __init__(self, tmp: Path, *, start_period: int = 0, retries: int = 3, start_interval: int = 0) -> None:
        self.now = 100.0
        self.wall = 1_000 * S
        self.results: list[int] = []  # the exit codes the next probes give (None: hang)
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
        code = self.results.pop(0)
        if code is None:
            self.running = done
            return 4242
        done(code, b"out" * 2000)
        return None if code == 127 else 4242

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall += int(seconds * S)
        self.checker.tick()

    @property
    def status(self) -> str:
        return str(self.checker.state["Status"])


def test_starting_then_healthy_then_unhealthy_after_retries(tmp_path: Path) -> None:
    w = World(tmp_path)
    assert w.status == "starting" and w.checker.due() == 30.0
    w.results = [0, 1, 1, 1]
    w.advance(29)
    assert w.checker.state["Log"] == []  # the first probe comes one interval after the start
    w.advance(1)
    assert w.status == "healthy"
    for streak in (1, 2):
        w.advance(30)
        assert w.status == "healthy" and w.checker.state["FailingStreak"] == streak
    w.advance(30)
    assert w.status == "unhealthy" and w.checker.state["FailingStreak"] == 3
    assert len(w.checker.state["Log"][-1]["Output"]) == 4096  # output kept to 4096 bytes
    saved = json.loads(Path(w.settings.state_file).read_text())
    assert saved == w.checker.state and w.published[-1] == saved


def test_failures_in_the_start_period_do_not_count(tmp_path: Path) -> None:
    w = World(tmp_path, start_period=100 * S, retries=1, start_interval=5 * S)
    w.results = [1, 1, 1]
    w.advance(5)  # the start interval applies while starting
    assert w.status == "starting" and w.checker.state["FailingStreak"] == 0
    w.advance(5)
    assert w.status == "starting" and len(w.checker.state["Log"]) == 2
    w.advance(95)  # past the start period: a failure counts, one is enough here
    assert w.status == "unhealthy" and w.checker.due() == 30.0  # the start interval is over too


def test_a_probe_past_its_timeout_is_killed_and_recorded(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.results = [None]
    w.advance(30)
    assert w.checker.due() == 10.0
    w.advance(10)
    assert w.killed == [4242] and w.checker.due() is None  # waiting for the killed probe's exit
    assert w.running is not None
    w.running(137, b"")
    entry = w.checker.state["Log"][-1]
    assert entry["ExitCode"] == -1 and entry["Output"] == "Health check exceeded timeout (10s)"


def test_the_log_keeps_five_and_a_restart_is_starting_again(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.results = [0] * 7
    for _ in range(7):
        w.advance(30)
    assert len(w.checker.state["Log"]) == MAX_LOG_ENTRIES
    again = World(tmp_path)  # the same state file: the container started again
    assert again.status == "starting" and len(again.checker.state["Log"]) == MAX_LOG_ENTRIES


def test_no_probes_while_paused(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.checker.pause(True)
    assert w.checker.due() is None
    w.advance(100)
    assert w.checker.state["Log"] == []
    w.checker.pause(False)
    w.results = [0]
    w.advance(30)
    assert w.status == "healthy"
