"""The offline library, the part CI runs: what a classroom without Docker Hub does first."""

from __future__ import annotations

import http.cookiejar
import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from ballena.cli.commands.compose import binary as compose_binary
from tests.conftest import BIN, Daemon, destroy_daemon, make_daemon
from tests.course.conftest import bootstrap, free_port, host_resolver, redis_ping, wait_for


def _labels(d: Daemon, image: str) -> dict[str, str]:
    return json.loads(d.docker("image", "inspect", "-f", "{{json .Config.Labels}}", image, check=True).stdout)


def test_redis_from_an_empty_data_root_answers_pong(course: Daemon) -> None:
    d = course
    bootstrap(d, "redis")
    port = free_port()
    d.docker("run", "-d", "--name", "r1", "-p", f"127.0.0.1:{port}:6379", "redis", check=True)
    assert wait_for(lambda: redis_ping(port) == b"+PONG\r\n", what="redis") is True
    labels = _labels(d, "redis")
    debian = labels["org.ballena.library.debian.redis-server"]
    assert re.fullmatch(r"5:7\.0\.\d+-.*", debian), labels
    version = labels["org.opencontainers.image.version"]
    tags = {t for t in d.docker("images", "redis", "--format", "{{.Tag}}", check=True).stdout.split()}
    assert tags == {"7", "7.0", version, "latest"}
    listed = d.ballena("bootstrap", "--list", check=True).stdout
    assert re.search(rf"^redis\s+redis-server 7\.0\s.*latest \({re.escape(version)}\)", listed, re.M), listed
    # A tag Debian cannot give is refused before anything is built, with the tags it has.
    r = d.ballena("bootstrap", "redis:4.0")
    assert r.returncode != 0 and "cannot make redis:4.0" in r.stderr and "redis:7.0" in r.stderr


def test_a_pull_that_cannot_reach_docker_hub_builds_from_the_library(course: Daemon) -> None:
    d = course
    bootstrap(d, "redis")
    for t in d.docker("images", "redis", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout.split():
        d.docker("rmi", t, check=True)
    port = free_port()
    r = d.docker("run", "-d", "-p", f"127.0.0.1:{port}:6379", "redis:7", timeout=600)
    assert r.returncode == 0, r.stderr
    assert "docker.io unreachable: building library/redis:7 from Debian packages" in r.stderr
    assert wait_for(lambda: redis_ping(port) == b"+PONG\r\n", what="redis") is True
    # What the library cannot make stays Docker's error, or says which tags it has.
    nope = d.docker("pull", "redis:4.0")
    assert nope.returncode == 1 and "cannot make redis:4.0" in nope.stderr
    other = d.docker("pull", "someone/something")
    assert other.returncode == 1 and "no such host" in other.stderr and "library" not in other.stderr


def test_docker_run_redis_on_an_empty_data_root_needs_no_bootstrap() -> None:
    """Nothing but the daemon: `docker run -d redis` debootstraps, builds and runs; and a daemon
    killed in the middle of a debootstrap starts again clean (its partial root swept)."""
    resolver = host_resolver()
    if resolver is None:
        pytest.skip("the host's resolver is on loopback: library builds could not reach the Debian mirror")
    d = make_daemon(dns=resolver)
    try:
        first = subprocess.Popen([str(BIN / "ballena"), "bootstrap", "redis"], env=d.env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        partials = wait_for(lambda: list((d.data_root / "library").glob("debootstrap-bookworm.partial-*")), what="a debootstrap")  # fmt: skip
        old = str(partials[0])  # type: ignore[index]
        time.sleep(2)
        d.kill9()
        first.wait(timeout=30)
        assert subprocess.run(["pgrep", "-f", old], capture_output=True).returncode == 0  # still writing
        d.start()
        port = free_port()
        run = subprocess.Popen(["docker", "run", "-d", "-p", f"127.0.0.1:{port}:6379", "redis"], env=d.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        # The next debootstrap sweeps the old root; the orphan is gone (SIGPIPE on its output).
        wait_for(lambda: not Path(old).exists(), what="the stale partial root swept")
        left = subprocess.run(["pgrep", "-f", old], capture_output=True, text=True).stdout
        assert left == "", left
        _, err = run.communicate(timeout=600)
        assert run.returncode == 0, err
        assert "docker.io unreachable: building library/redis:latest from Debian packages" in err
        assert "Bootstrapping debian:bookworm-slim" in err
        assert wait_for(lambda: redis_ping(port) == b"+PONG\r\n", what="redis") is True
        assert sorted(p.name for p in (d.data_root / "library").iterdir()) == [
            "debootstrap-bookworm",
            "debootstrap-bookworm.done",
        ]
    finally:
        assert destroy_daemon(d) == []


def test_debian_slim_is_small_and_the_same_snapshot_gives_the_same_image(course: Daemon) -> None:
    d = course
    first = bootstrap(d, "debian:bookworm-slim")
    size = int(d.docker("image", "inspect", "-f", "{{.Size}}", "debian:bookworm-slim", check=True).stdout)
    assert size <= 80_000_000, size
    image_id = d.docker("image", "inspect", "-f", "{{.Id}}", "debian:bookworm-slim", check=True).stdout.strip()
    again = bootstrap(d, "debian:bookworm-slim")
    assert "Using the cached debootstrap of Debian bookworm" in again, (first, again)
    assert d.docker("image", "inspect", "-f", "{{.Id}}", "debian:bookworm-slim", check=True).stdout.strip() == image_id
    out = d.docker("run", "--rm", "debian:bookworm-slim", "sh", "-c",
                   "ls /usr/share/man /var/lib/apt/lists | wc -l; cat /etc/apt/apt.conf.d/docker-no-recommends",
                   check=True).stdout  # fmt: skip
    assert 'APT::Install-Recommends "false"' in out


def test_a_private_registry_2_keeps_what_is_pushed(course: Daemon, tmp_path: Path) -> None:
    d = course
    bootstrap(d, "registry:2")
    port = free_port()
    d.docker("run", "-d", "--name", "reg", "-p", f"127.0.0.1:{port}:5000", "registry:2", check=True)
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo hola > /hola\n")
    image = f"127.0.0.1:{port}/me/hola:1"
    d.docker("build", "-q", "-t", image, str(tmp_path), check=True)
    built = d.docker("image", "inspect", "-f", "{{.Id}}", image, check=True).stdout.strip()
    wait_for(lambda: d.docker("push", image).returncode == 0, timeout=30, what="a push to registry:2")
    d.docker("rmi", image, check=True)
    d.docker("pull", image, check=True)
    assert d.docker("image", "inspect", "-f", "{{.Id}}", image, check=True).stdout.strip() == built


COMPOSE = """
services:
  db:
    image: mariadb:10.11
    environment:
      MARIADB_ROOT_PASSWORD: rootpw
      MARIADB_DATABASE: classroom42
      MARIADB_USER: student
      MARIADB_PASSWORD: s3cret
    healthcheck:
      test: ["CMD", "healthcheck.sh", "--connect", "--innodb_initialized"]
      interval: 2s
      start_period: 60s
      retries: 30
    volumes:
      - ./init:/docker-entrypoint-initdb.d:ro
  web:
    image: php:8.2-apache
    volumes:
      - ./www:/var/www/html:ro
    ports:
      - "127.0.0.1:{web}:80"
    depends_on:
      db:
        condition: service_healthy
  pma:
    image: phpmyadmin
    environment:
      PMA_HOST: db
    ports:
      - "127.0.0.1:{pma}:80"
    depends_on:
      db:
        condition: service_healthy
"""

INDEX_PHP = """<?php
$db = new mysqli('db', 'student', 's3cret', 'classroom42');
$row = $db->query('SELECT name FROM lessons ORDER BY id LIMIT 1')->fetch_row();
echo "first lesson: " . $row[0];
"""


def test_php_mariadb_phpmyadmin_stack_with_a_real_healthcheck(course: Daemon, tmp_path: Path) -> None:
    d = course
    bootstrap(d, "mariadb", "php:8.2-apache", "phpmyadmin")
    web, pma = free_port(), free_port()
    (tmp_path / "compose.yaml").write_text(COMPOSE.format(web=web, pma=pma))
    (tmp_path / "www").mkdir()
    (tmp_path / "www/index.php").write_text(INDEX_PHP)
    (tmp_path / "init").mkdir()
    (tmp_path / "init/01-lessons.sql").write_text(
        "CREATE TABLE lessons (id INT PRIMARY KEY, name TEXT); INSERT INTO lessons VALUES (1, 'containers');\n"
    )
    compose = [compose_binary(), "-p", "coursestack", "-f", str(tmp_path / "compose.yaml")]
    env = {**d.env, "DOCKER_BUILDKIT": "0"}
    try:
        up = subprocess.run([*compose, "up", "-d", "--wait"], env=env, capture_output=True, text=True, timeout=300)
        assert up.returncode == 0, up.stderr
        health = d.docker("inspect", "-f", "{{.State.Health.Status}}", "coursestack-db-1", check=True).stdout.strip()
        assert health == "healthy"
        page = wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{web}/", timeout=5).read(), what="php")
        assert page == b"first lesson: containers"
        assert "classroom42" in _phpmyadmin_databases(pma, "student", "s3cret")
    finally:
        subprocess.run([*compose, "down", "-v", "-t", "1"], env=env, capture_output=True, timeout=120)


def _phpmyadmin_databases(port: int, user: str, password: str) -> str:
    """Log into phpMyAdmin as a browser does (cookie, token, form) and return the databases page."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}/"
    login_page = wait_for(lambda: opener.open(base, timeout=10).read().decode(), what="phpMyAdmin")
    assert isinstance(login_page, str)
    token = re.search(r'name="token" value="([^"]+)"', login_page)
    assert token, login_page[:2000]
    fields = {"pma_username": user, "pma_password": password, "server": "1", "token": token.group(1), "route": "/"}
    session = re.search(r'name="set_session" value="([^"]+)"', login_page)
    if session:
        fields["set_session"] = session.group(1)
    opener.open(base + "index.php?route=/", urllib.parse.urlencode(fields).encode(), timeout=20).read()
    page = opener.open(base + "index.php?route=/server/databases", timeout=20).read().decode()
    assert "pma_username" not in page, "the login was refused"
    return page


def test_the_library_says_what_it_has(course: Daemon) -> None:
    listed = course.ballena("bootstrap", "--list", check=True).stdout
    for name in ("redis", "mariadb", "mysql", "postgres", "httpd", "nginx", "php", "phpmyadmin", "wordpress",
                 "registry", "node", "python", "golang", "redis-commander", "nginx-proxy", "debian"):  # fmt: skip
        assert re.search(rf"^{name}\s", listed, re.M), (name, listed)
