"""Container features real clients use: legacy links, exec detach keys, volume subpaths and the
WebSocket attach, through the docker CLI and docker-py."""

from __future__ import annotations

import contextlib
import json
import socket
import time

import docker
import pytest

from tests.conftest import Daemon


def test_legacy_links_env_hosts_inspect_and_removal(clean: Daemon) -> None:
    d = clean
    d.docker("run", "-d", "--name", "db", "-e", "SECRET=x", "--expose", "5432", "busybox", "sleep", "60", check=True)
    ip = d.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "db", check=True).stdout.strip()
    out = d.docker("run", "--rm", "--name", "web", "--link", "db:dbalias", "busybox", "sh", "-c", "env | sort; cat /etc/hosts", check=True).stdout  # fmt: skip
    for line in (
        "DBALIAS_NAME=/web/dbalias",
        f"DBALIAS_PORT=tcp://{ip}:5432",
        f"DBALIAS_PORT_5432_TCP=tcp://{ip}:5432",
        f"DBALIAS_PORT_5432_TCP_ADDR={ip}",
        "DBALIAS_PORT_5432_TCP_PORT=5432",
        "DBALIAS_PORT_5432_TCP_PROTO=tcp",
        "DBALIAS_ENV_SECRET=x",
    ):
        assert line in out.splitlines(), (line, out)
    assert f"{ip}\tdbalias db" in out
    d.docker("create", "--name", "lk", "--link", "db:dbalias", "busybox", "true", check=True)
    links = json.loads(d.docker("inspect", "-f", "{{json .HostConfig.Links}}", "lk", check=True).stdout)
    assert links == ["/db:/lk/dbalias"]
    d.docker("rm", "--link", "/lk/dbalias", check=True)
    # dockerd prints null here; the spec types Links as an array, and we answer to the spec.
    assert d.docker("inspect", "-f", "{{json .HostConfig.Links}}", "lk", check=True).stdout.strip() == "[]"
    d.docker("stop", "-t", "0", "db", check=True)
    d.docker("create", "--name", "lk2", "--link", "db:dbalias", "busybox", "true", check=True)
    r = d.docker("start", "lk2")
    assert r.returncode == 1 and "Cannot link to a non running container: /db AS /lk2/dbalias" in r.stderr


def test_exec_detach_keys_leave_the_process_running(clean: Daemon) -> None:
    import docker

    d = clean
    d.docker("run", "-d", "--name", "ek", "busybox", "sleep", "60", check=True)
    api = docker.APIClient(base_url=d.host, version="auto")
    try:
        ex = api.exec_create("ek", ["sh", "-c", "cat > /tmp/in; echo done > /tmp/done"], stdin=True, tty=True, detach_keys="ctrl-x")  # fmt: skip
        sock = api.exec_start(ex["Id"], tty=True, socket=True)
        raw = sock._sock
        raw.sendall(b"typed\n\x18")  # then ctrl-x: detach
        raw.settimeout(5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the daemon ends the stream
            try:
                if not raw.recv(4096):
                    break
            except (TimeoutError, OSError):
                break
        raw.close()
        assert api.exec_inspect(ex["Id"])["Running"] is True  # still waiting for more input
        assert d.docker("exec", "ek", "cat", "/tmp/in", check=True).stdout.strip() == "typed"
    finally:
        api.close()


def test_volume_subpath_mounts(clean: Daemon) -> None:
    d = clean
    d.docker("volume", "create", "subvol", check=True)
    try:
        d.docker("run", "--rm", "-v", "subvol:/v", "busybox", "sh", "-c", "mkdir -p /v/sub && echo hi > /v/sub/f && ln -s /etc /v/esc", check=True)  # fmt: skip
        out = d.docker("run", "--rm", "--mount", "type=volume,src=subvol,dst=/m,volume-subpath=sub", "busybox", "cat", "/m/f", check=True).stdout  # fmt: skip
        assert out.strip() == "hi"
        r = d.docker("run", "--rm", "--mount", "type=volume,src=subvol,dst=/m,volume-subpath=esc", "busybox", "ls", "/m")  # fmt: skip
        assert r.returncode != 0 and "no such file or directory" in r.stderr  # the volume's /etc, not the host's
        r = d.docker("run", "--rm", "--mount", "type=volume,src=subvol,dst=/m,volume-subpath=../x", "busybox", "true")  # fmt: skip
        assert r.returncode == 125 and "subpath must not contain '..' elements" in r.stderr
    finally:
        d.docker("volume", "rm", "subvol")


@pytest.mark.parametrize("version", ["1.45", "1.41"])
def test_attach_over_a_websocket(clean: Daemon, version: str) -> None:
    import websocket

    d = clean
    d.docker("run", "-d", "-i", "--name", f"ws{version}", "busybox", "sh", "-c", "read line; echo got:$line; sleep 5", check=True)  # fmt: skip
    # docker-py's attach_socket(ws=True) speaks WebSocket over TCP only: the same client
    # library (websocket-client) over our UNIX socket.
    unix = socket.socket(socket.AF_UNIX)
    unix.connect(str(d.sock))
    ws = websocket.create_connection(
        f"ws://localhost/v{version}/containers/ws{version}/attach/ws?stdin=1&stdout=1&stream=1", socket=unix, timeout=10
    )
    try:
        ws.send("hello\n")
        opcode, data = ws.recv_data()
        assert data.strip() == b"got:hello"
        assert opcode == (2 if version == "1.45" else 1)  # binary frames since API 1.42
    finally:
        ws.close()
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(d.sock))
    s.sendall(f"GET /v{version}/containers/ws{version}/attach/ws?stream=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert s.recv(1024).startswith(b"HTTP/1.1 400")  # not a WebSocket handshake
    s.close()


def test_an_exec_terminal_over_a_websocket(clean: Daemon) -> None:
    """``GET /ballena/exec/{id}/ws``: what the dashboard's terminal uses (browsers cannot
    take over an HTTP connection as ``docker exec`` does)."""
    import websocket

    d = clean
    d.docker("run", "-d", "--name", "wsexec", "busybox", "sleep", "60", check=True)
    api = docker.APIClient(base_url=d.host)
    exec_id = api.exec_create("wsexec", "sh", tty=True, stdin=True)["Id"]
    unix = socket.socket(socket.AF_UNIX)
    unix.connect(str(d.sock))
    ws = websocket.create_connection(f"ws://localhost/ballena/exec/{exec_id}/ws?h=30&w=100", socket=unix, timeout=10)
    try:
        ws.send_binary(b"stty size; echo $((6*7))\r")
        seen = b""
        while b"42\r\n" not in seen:
            seen += ws.recv_data()[1]
        assert b"30 100" in seen  # the console size asked for, before the shell's first prompt
        ws.send_binary(b"exit\r")
        while True:  # the shell exits: the daemon closes the socket
            opcode, _ = ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
    finally:
        with contextlib.suppress(OSError):  # after the daemon's close, the socket is gone
            ws.close()
    assert api.exec_inspect(exec_id)["ExitCode"] == 0
    # Started once only, as POST /exec/{id}/start.
    again = socket.socket(socket.AF_UNIX)
    again.connect(str(d.sock))
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    again.sendall(f"GET /ballena/exec/{exec_id}/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())  # fmt: skip
    assert again.recv(1024).startswith(b"HTTP/1.1 409")
    again.close()
