"""The Engine API's edges through real clients: what Ballena lacks answers as dockerd does
(swarm, plugins, BuildKit sessions), and no route of the spec is "page not found"."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from tests.conftest import Daemon

NO_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to '
    "swarm and try again."
)


def _request(d: Daemon, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, object] | list[object]]:
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(d.sock))
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    if body:
        head += "Content-Type: application/json\r\n"
    sock.sendall(head.encode() + b"\r\n" + body)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    header, _, payload = data.partition(b"\r\n\r\n")
    status = int(header.split()[1])
    if b"chunked" in header.lower():
        out, rest = b"", payload
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if not size:
                break
            out, rest = out + rest[:size], rest[size + 2 :]
        payload = out
    try:
        return status, json.loads(payload) if payload.strip() else {}
    except ValueError:
        return status, {"raw": payload[:200].decode(errors="replace")}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["node", "ls"], NO_MANAGER),
        (["service", "ls"], NO_MANAGER),
        (["secret", "ls"], NO_MANAGER),
        (["config", "ls"], NO_MANAGER),
        (["swarm", "leave"], "This node is not part of a swarm"),
    ],
)
def test_swarm_commands_get_dockers_answers_outside_a_swarm(clean: Daemon, argv: list[str], message: str) -> None:
    r = clean.docker(*argv)
    assert r.returncode == 1 and f"Error response from daemon: {message}" in r.stderr


def test_docker_py_sees_an_inactive_swarm(clean: Daemon) -> None:
    import docker

    client = docker.DockerClient(base_url=clean.host, version="auto")
    try:
        assert client.info()["Swarm"]["LocalNodeState"] == "inactive"
        assert client.swarm.leave(force=True) is True  # docker-py's clean-up relies on the 503
        with pytest.raises(docker.errors.APIError) as e:
            client.swarm.leave()
        assert e.value.status_code == 503 and "not part of a swarm" in str(e.value.explanation)
        with pytest.raises(docker.errors.APIError) as e:
            client.nodes.list()
        assert e.value.status_code == 503
        assert client.plugins.list() == []
        with pytest.raises(docker.errors.NotFound):
            client.plugins.get("vieux/sshfs")
    finally:
        client.close()


def test_no_route_of_the_spec_is_page_not_found(clean: Daemon) -> None:
    """Every path and method of the Engine API spec is served or answered; only made-up paths
    get dockerd's "page not found"."""
    import yaml

    spec = yaml.safe_load(
        (Path(__file__).parents[2] / "src" / "ballena" / "api" / "spec" / "engine-api.yaml").read_text()
    )
    unanswered = []
    for path, ops in spec["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "nonexistent0", path)
        for method in ops:
            if method.upper() not in ("GET", "POST", "PUT", "DELETE"):
                continue
            if path.endswith(("/attach/ws", "/attach", "/exec/{id}/start")) or path in ("/events", "/session"):
                continue  # streams and upgrades: their own tests
            status, body = _request(clean, method.upper(), "/v1.45" + concrete, b"{}" if method != "get" else b"")
            if status == 404 and isinstance(body, dict) and body.get("message") == "page not found":
                unanswered.append(f"{method.upper()} {path}")
            assert status < 500 or status == 503, (method, path, status, body)
    assert unanswered == []
    status, body = _request(clean, "GET", "/v1.45/made/up")
    assert (status, body) == (404, {"message": "page not found"})


def test_run_on_a_missing_network_fails_at_start_without_a_pull(clean: Daemon) -> None:
    r = clean.docker("run", "--network", "nonexist", "busybox", "true")
    assert r.returncode == 125, r.stderr
    assert "network nonexist not found" in r.stderr and "Unable to find image" not in r.stderr
    r = clean.docker("run", "--network", "container:nope", "busybox", "true")
    assert r.returncode == 125 and "No such container: nope" in r.stderr and "Unable to find" not in r.stderr
