"""Healthchecks through the docker CLI and docker-py: the states and their events, ps and its
filter, an image's HEALTHCHECK, and probes that go on while ballenad is down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import Any

from ballena.pkg.timeutil import parse_rfc3339
from tests.conftest import Daemon


def _health(d: Daemon, name: str) -> dict[str, Any]:
    return json.loads(d.docker("inspect", "-f", "{{json .State.Health}}", name, check=True).stdout)  # type: ignore[no-any-return]


def _until(d: Daemon, name: str, status: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        h = _health(d, name)
        if h["Status"] == status or time.monotonic() > deadline:
            return h
        time.sleep(0.2)


def test_unhealthy_after_retries_then_healthy_with_events_and_ps(clean: Daemon) -> None:
    d = clean
    events = subprocess.Popen(
        ["docker", "events", "--filter", "container=hc", "--filter", "event=health_status", "--format", "{{.Action}}"],
        env=d.env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        d.docker(
            "run", "-d", "--name", "hc", "--health-cmd", "test -f /tmp/ok || { echo missing; exit 3; }",
            "--health-interval", "1s", "--health-retries", "2", "busybox", "sleep", "120", check=True,
        )  # fmt: skip
        assert (
            "(health: starting)" in d.docker("ps", "--filter", "name=hc", "--format", "{{.Status}}", check=True).stdout
        )
        h = _until(d, "hc", "unhealthy")
        assert h["Status"] == "unhealthy" and h["FailingStreak"] >= 2
        assert h["Log"][-1]["ExitCode"] == 3 and h["Log"][-1]["Output"] == "missing\n"
        assert "(unhealthy)" in d.docker("ps", "--filter", "health=unhealthy", "--format", "{{.Status}}", check=True).stdout  # fmt: skip
        d.docker("exec", "hc", "touch", "/tmp/ok", check=True)
        h = _until(d, "hc", "healthy")
        assert h["Status"] == "healthy" and h["FailingStreak"] == 0 and len(h["Log"]) <= 5
        assert d.docker("ps", "--filter", "health=healthy", "--format", "{{.Names}}", check=True).stdout.split() == [
            "hc"
        ]
        assert "hc" not in d.docker("ps", "--filter", "health=none", "--format", "{{.Names}}", check=True).stdout
    finally:
        d.docker("rm", "-f", "hc")
        events.terminate()
    assert events.communicate()[0].split("\n")[:2] == ["health_status: unhealthy", "health_status: healthy"]


def test_image_healthcheck_overrides_and_none(clean: Daemon) -> None:
    d = clean
    dockerfile = 'FROM busybox\nHEALTHCHECK --interval=1s --timeout=1s --retries=1 CMD ["sh", "-c", "sleep 3"]\n'
    d.docker("build", "-q", "-t", "withhc", "-", input=dockerfile, check=True)
    try:
        d.docker("run", "-d", "--name", "slow", "withhc", "sleep", "60", check=True)
        h = _until(d, "slow", "unhealthy")
        assert h["Log"][-1]["ExitCode"] == -1 and h["Log"][-1]["Output"].startswith(
            "Health check exceeded timeout (1s)"
        )
        d.docker("run", "-d", "--name", "fast", "--health-cmd", "true", "--health-interval", "1s", "withhc", "sleep", "60", check=True)  # fmt: skip
        assert _until(d, "fast", "healthy")["Status"] == "healthy"  # the user's command, the image's timing
        d.docker("run", "-d", "--name", "off", "--no-healthcheck", "withhc", "sleep", "60", check=True)
        assert d.docker("inspect", "-f", "{{json .State.Health}}", "off", check=True).stdout.strip() == "null"
    finally:
        d.docker("rm", "-f", "slow", "fast", "off")
        d.docker("rmi", "withhc")


def test_probes_go_on_while_the_daemon_is_down(fresh_daemon: Daemon) -> None:
    d = fresh_daemon
    d.docker("run", "-d", "--name", "hk", "--health-cmd", "true", "--health-interval", "1s", "busybox", "sleep", "300", check=True)  # fmt: skip
    _until(d, "hk", "healthy")
    assert d.proc is not None
    os.kill(d.proc.pid, signal.SIGKILL)
    d.proc.wait()
    d.proc = None
    down_from = time.time_ns()
    time.sleep(3)
    down_to = time.time_ns()
    d.start()
    log = _health(d, "hk")["Log"]
    during = [e for e in log if down_from < parse_rfc3339(e["Start"]) < down_to]
    assert len(during) >= 2, log  # probed by the monitor while no daemon ran
    d.docker("rm", "-f", "hk", check=True)
