"""The API's door: the UNIX socket's group, TCP with TLS and client certificates through the
docker CLI, Go's answer to plain HTTP on the TLS port, and no unauthenticated TCP beyond
loopback unless asked for by name."""

from __future__ import annotations

import grp
import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Daemon, destroy_daemon, make_daemon
from tests.registries import free_port, make_ca


def _client_cert(ca_dir: Path) -> tuple[Path, Path]:
    key, csr, crt = ca_dir / "client.key", ca_dir / "client.csr", ca_dir / "client.crt"
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=client")
    ext = ca_dir / "client.cnf"
    ext.write_text("extendedKeyUsage=clientAuth\n")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_dir / "ca.crt"), "-CAkey", str(ca_dir / "ca.key"),
        "-CAcreateserial", "-out", str(crt), "-days", "2", "-extfile", str(ext))  # fmt: skip
    return crt, key


def test_the_socket_belongs_to_the_group_named_by_dash_g() -> None:
    d = make_daemon(["-G", "daemon"])
    try:
        st = os.stat(d.sock)
        assert st.st_gid == grp.getgrnam("daemon").gr_gid and st.st_mode & 0o777 == 0o660
    finally:
        assert destroy_daemon(d) == []


def test_tls_with_client_certificates_and_plain_http_on_the_tls_port(tmp_path: Path) -> None:
    ca, server_crt, server_key = make_ca(tmp_path / "pki")
    client_crt, client_key = _client_cert(tmp_path / "pki")
    port = free_port()
    d = make_daemon(
        ["-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", str(ca), "--tlscert", str(server_crt),
         "--tlskey", str(server_key)]
    )  # fmt: skip
    try:
        d.ballena("bootstrap", "busybox", "-q", check=True)
        env = {k: v for k, v in d.env.items() if k != "DOCKER_HOST"}
        tls = ["--tlsverify", "--tlscacert", str(ca), "-H", f"tcp://127.0.0.1:{port}"]
        ok = subprocess.run(
            ["docker", *tls, "--tlscert", str(client_crt), "--tlskey", str(client_key), "version", "--format",
             "{{.Server.Version}}"], env=env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert ok.returncode == 0 and ok.stdout.strip(), ok.stderr
        run = subprocess.run(
            ["docker", *tls, "--tlscert", str(client_crt), "--tlskey", str(client_key), "run", "--rm", "busybox",
             "echo", "over-tls"], env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert run.returncode == 0 and run.stdout.strip() == "over-tls", run.stderr
        no_cert = subprocess.run(["docker", *tls, "version"], env=env, capture_output=True, text=True, timeout=30)
        assert no_cert.returncode != 0  # the daemon wants a client certificate
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = s.recv(4096)
        assert (
            answer.startswith(b"HTTP/1.0 400 Bad Request")
            and b"Client sent an HTTP request to an HTTPS server." in answer
        )
    finally:
        assert destroy_daemon(d) == []


def test_unauthenticated_tcp_beyond_loopback_is_refused_unless_asked_for(tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(RuntimeError) as e:
        make_daemon(["-H", f"tcp://0.0.0.0:{port}"])
    assert "refusing to serve the API on tcp://0.0.0.0" in str(e.value) and "--tls=false" in str(e.value)
    d: Daemon = make_daemon(["-H", f"tcp://0.0.0.0:{port}", "--tls=false"])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        assert destroy_daemon(d) == []
