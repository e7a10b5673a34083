"""`ballena run` flags make the create body the docker CLI 28 sends for the same command line
(captured from the real CLI in tests/unit/core/data/docker-cli-28-create.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ballena.cli.commands.createflags import build_create_body, container_flags, restart_policy, size_bytes
from ballena.cli.common import UsageError, flags

DOCKER = json.loads((Path(__file__).parents[2] / "core" / "data" / "docker-cli-28-create.json").read_text())
ARGV = [
    "-it", "-e", "A=1", "-p", "127.0.0.1:8080:80", "--restart", "on-failure:3", "-v", "/tmp:/data:ro",
    "--network", "mynet", "--network-alias", "w", "--cap-add", "NET_ADMIN", "--tmpfs", "/run", "-m", "64m",
    "--cpus", "0.5", "-l", "x=y", "--health-cmd", "true", "--health-interval", "5s", "--init",
    "--ulimit", "nofile=1024:2048", "busybox", "sh", "-c", "echo hi",
]  # fmt: skip


def body_for(argv: list[str]) -> dict[str, Any]:
    p = flags("run", "run [OPTIONS] IMAGE [COMMAND] [ARG...]", interspersed=False, min_args=1)
    container_flags(p)
    a = p.parse(argv)
    body, _name = build_create_body(a, a.args[0], a.args[1:])
    return body


@pytest.mark.parametrize(
    "key",
    ["Image", "Cmd", "Env", "Tty", "OpenStdin", "AttachStdin", "StdinOnce", "ExposedPorts", "Labels", "Healthcheck"],
)
def test_config_fields_match_the_docker_cli(key: str) -> None:
    assert body_for(ARGV)[key] == DOCKER[key]


@pytest.mark.parametrize(
    "key",
    ["Binds", "NetworkMode", "PortBindings", "RestartPolicy", "Tmpfs", "Memory", "NanoCpus", "Init", "Ulimits"],
)
def test_host_config_fields_match_the_docker_cli(key: str) -> None:
    assert body_for(ARGV)["HostConfig"][key] == DOCKER["HostConfig"][key]


def test_network_aliases_go_to_the_endpoint() -> None:
    ours = body_for(ARGV)["NetworkingConfig"]["EndpointsConfig"]["mynet"]
    assert ours["Aliases"] == DOCKER["NetworkingConfig"]["EndpointsConfig"]["mynet"]["Aliases"]


def test_sizes_and_restart_policies() -> None:
    assert size_bytes("64m", "--memory") == 64 << 20 and size_bytes("1g", "--memory") == 1 << 30
    with pytest.raises(UsageError):
        size_bytes("lots", "--memory")
    assert restart_policy("always") == {"Name": "always", "MaximumRetryCount": 0}
    with pytest.raises(UsageError):
        restart_policy("on-failure:x")
