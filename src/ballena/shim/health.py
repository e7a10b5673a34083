"""A container's healthcheck, run by its monitor: probes keep going while ballenad is stopped or
restarting (dockerd stops checking when it is down), and the state is kept in a file the
daemon reads when it comes back.

The rules are moby's ``daemon/health.go``: the first probe one interval after the start (the
start interval while in the start period); a probe is an exec of the test, killed past its
timeout (exit code -1, "Health check exceeded timeout (30s)"); exit code 0 is healthy and
resets the failing streak; any other result adds to the streak, except while the container is
still ``starting`` within its start period; ``retries`` failures in a row make it
``unhealthy``. The last five results are kept, each with at most 4096 bytes of output.

And better: while a container is ``starting``, early probes run between the regular ones,
100 ms after the start and then at doubling gaps. A success makes it ``healthy`` at once (a
stack waiting on its database goes on when the database is ready, not one interval later); a
failure of an early probe is not recorded, so the log, the failing streak and the moment a
container turns ``unhealthy`` are exactly dockerd's.

Sans I/O as far as it goes: the monitor's loop asks ``due()`` for its select timeout, calls
``tick()``, and hands finished probes to the callback it gave ``start_probe``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from ballena.pkg.timeutil import format_go_duration, rfc3339nano
from ballena.shim.config import HealthSettings

__all__ = ["MAX_LOG_ENTRIES", "MAX_OUTPUT", "HealthChecker", "Probe"]

MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096
EARLY_FIRST = 0.1  # seconds after the start; the gaps double from there


class Probe:
    """One probe in flight: its process (PID), when it started and when it must have ended."""

    __slots__ = ("pid", "start_ns", "deadline", "timed_out", "early")

    def __init__(self, pid: int, start_ns: int, deadline: float, *, early: bool = False) -> None:
        self.pid = pid
        self.start_ns = start_ns
        self.deadline = deadline
        self.timed_out = False
        self.early = early  # an extra probe while starting: only a success counts


# Start a probe of this argv; the callback gets (exit code, output) when it has ended. Returns
# its PID, or None when it could not start (then the callback has already been called).
StartProbe = Callable[[tuple[str, ...], Callable[[int, bytes], None]], int | None]


class HealthChecker:
    def __init__(
        self,
        settings: HealthSettings,
        *,
        started_at_ns: int,
        start_probe: StartProbe,
        kill: Callable[[int], None],
        publish: Callable[[dict[str, Any]], None],
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], int] = time.time_ns,
    ) -> None:
        self.settings = settings
        self.started_at_ns = started_at_ns
        self._start_probe = start_probe
        self._kill = kill
        self._publish = publish
        self._clock = clock
        self._wall = wall
        previous = _load(settings.state_file)
        # As moby's initHealthMonitor: a (re)started container is starting again; its log stays.
        self.state: dict[str, Any] = {"Status": "starting", "FailingStreak": 0, "Log": previous.get("Log") or []}
        self.probe: Probe | None = None
        self.paused = False
        self.next_at = clock() + self._interval() / 1e9
        self._early_gap = EARLY_FIRST
        self.early_at = clock() + EARLY_FIRST
        self._save()

    # -- what the loop asks -------------------------------------------------------------------

    def due(self) -> float | None:
        """Seconds until the next thing to do (a probe to start or to kill); None: nothing."""
        if self.probe is not None:
            return None if self.probe.timed_out else max(0.0, self.probe.deadline - self._clock())
        if self.paused:
            return None
        at = min(self.next_at, self.early_at) if self._starting() else self.next_at
        return max(0.0, at - self._clock())

    def tick(self) -> None:
        now = self._clock()
        if self.probe is not None:
            if not self.probe.timed_out and now >= self.probe.deadline:
                self.probe.timed_out = True
                self._kill(self.probe.pid)  # its exit, reaped by the loop, records the result
            return
        if self.paused:
            return
        if now >= self.next_at:
            self._start(now + self.settings.timeout / 1e9, early=False)
        elif self._starting() and now >= self.early_at:
            # An early probe never holds up a regular one: it is killed by then.
            self._start(min(now + self.settings.timeout / 1e9, self.next_at), early=True)

    def _starting(self) -> bool:
        return self.state["Status"] == "starting"

    def _start(self, deadline: float, *, early: bool) -> None:
        probe = Probe(0, self._wall(), deadline, early=early)
        self.probe = probe
        pid = self._start_probe(self.settings.test, lambda code, out: self._done(probe, code, out))
        if self.probe is probe:  # still running (a probe that could not start has reported)
            if pid is None:
                self.probe = None
                self._schedule(probe)
            else:
                probe.pid = pid

    def _schedule(self, probe: Probe) -> None:
        now = self._clock()
        if probe.early:
            self._early_gap *= 2
            self.early_at = now + self._early_gap
        else:
            self.next_at = now + self._interval() / 1e9

    def pause(self, paused: bool) -> None:
        """A paused container is not probed (dockerd's probes would fail on the frozen cgroup)."""
        self.paused = paused
        if not paused:
            self.next_at = self._clock() + self._interval() / 1e9

    # -- results -------------------------------------------------------------------------------

    def _done(self, probe: Probe, code: int, output: bytes) -> None:
        if self.probe is probe:
            self.probe = None
        if probe.early and (code != 0 or probe.timed_out):
            self._schedule(probe)  # an early failure is not dockerd's: not recorded
            return
        text = output[:MAX_OUTPUT].decode("utf-8", errors="replace")
        if probe.timed_out:
            code = -1
            limit = format_go_duration(self.settings.timeout)
            text = f"Health check exceeded timeout ({limit})" + (f": {text}" if text else "")
        self.record(probe.start_ns, self._wall(), code, text)
        if probe.early:  # it made the container healthy: the regular schedule goes on from here
            self.next_at = self._clock() + self._interval() / 1e9
        else:
            self._schedule(probe)

    def record(self, start_ns: int, end_ns: int, code: int, output: str) -> None:
        """One probe's result, by moby's handleProbeResult."""
        before = self.state["Status"]
        entry = {"Start": rfc3339nano(start_ns), "End": rfc3339nano(end_ns), "ExitCode": code, "Output": output}
        self.state["Log"] = [*self.state["Log"], entry][-MAX_LOG_ENTRIES:]
        if code == 0:
            self.state["FailingStreak"] = 0
            self.state["Status"] = "healthy"
        elif not (before == "starting" and start_ns - self.started_at_ns < self.settings.start_period):
            self.state["FailingStreak"] += 1
            if self.state["FailingStreak"] >= self.settings.retries:
                self.state["Status"] = "unhealthy"
        self._save()

    def _interval(self) -> int:
        s = self.settings
        in_start = self.state["Status"] == "starting" and self._wall() - self.started_at_ns < s.start_period
        return s.start_interval if in_start and s.start_interval else s.interval

    def _save(self) -> None:
        """Durable before anyone is told, so a daemon that comes back finds what it missed."""
        tmp = self.settings.state_file + ".tmp"
        try:
            with open(tmp, "w") as f:
                json.dump(self.state, f)
            os.replace(tmp, self.settings.state_file)
        except OSError:
            pass
        self._publish(self.state)


def _load(path: str) -> dict[str, Any]:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
