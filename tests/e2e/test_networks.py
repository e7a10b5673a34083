"""Networking through the docker CLI: bridges, DNS by name, isolation, published ports."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request

from tests.conftest import Daemon


def _ours() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if "blnv" in line or "blna-" in line}


def _gone_soon(before: set[str], timeout: float = 5.0) -> set[str]:
    """Interfaces made since ``before`` that are still there after ``timeout``. The kernel
    removes a container's veth pair when its network namespace dies, a little after it exits."""
    deadline = time.monotonic() + timeout
    while (left := _ours() - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_user_network_dns_alias_and_isolation(clean: Daemon) -> None:
    d = clean
    before = _ours()
    d.docker("network", "create", "n1", check=True)
    d.docker("network", "create", "n2", check=True)
    try:
        d.docker(
            "run",
            "-d",
            "--name",
            "srv",
            "--network",
            "n1",
            "--network-alias",
            "web",
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
            check=True,
        )
        short = d.docker("inspect", "-f", "{{.Id}}", "srv", check=True).stdout.strip()[:12]
        for name in ("srv", "web"):
            out = d.docker(
                "run",
                "--rm",
                "--network",
                "n1",
                "busybox",
                "sh",
                "-c",
                f"timeout 5 wget -q -O- http://{name}/hostname; exit $?",
                check=True,
            ).stdout
            assert out.strip() == short
        ping = d.docker("run", "--rm", "--network", "n1", "busybox", "ping", "-c1", "-W2", "srv", check=True).stdout
        assert "1 packets received" in ping
        ip = d.docker("inspect", "-f", "{{.NetworkSettings.Networks.n1.IPAddress}}", "srv", check=True).stdout.strip()
        res = d.docker(
            "run",
            "--rm",
            "--network",
            "n2",
            "busybox",
            "sh",
            "-c",
            f"timeout 3 wget -q -O- http://{ip}/hostname; exit $?",
        )
        assert res.returncode != 0
        res = d.docker("run", "--rm", "--network", "n2", "busybox", "nslookup", "srv")
        assert "can't find srv" in res.stdout + res.stderr
        d.docker("network", "connect", "n2", "srv", check=True)
        out = d.docker(
            "run",
            "--rm",
            "--network",
            "n2",
            "busybox",
            "sh",
            "-c",
            "timeout 5 wget -q -O- http://srv/hostname; exit $?",
            check=True,
        ).stdout
        assert out.strip() == short
        info = json.loads(d.docker("network", "inspect", "n1", check=True).stdout)[0]
        assert any(c["Name"] == "srv" for c in info["Containers"].values())
        resolv = d.docker("run", "--rm", "--network", "n1", "busybox", "cat", "/etc/resolv.conf", check=True).stdout
        assert "nameserver 127.0.0.11" in resolv and "ndots:0" in resolv
        res = d.docker("network", "rm", "n1")
        assert res.returncode == 1 and "has active endpoints" in res.stderr
    finally:
        d.cleanup_containers()
        d.docker("network", "rm", "n1", "n2")
    assert _gone_soon(before) == set()


def test_default_bridge_by_ip(clean: Daemon) -> None:
    d = clean
    d.docker("run", "-d", "--name", "b1", "busybox", "sleep", "60", check=True)
    d.docker("run", "-d", "--name", "b2", "busybox", "sleep", "60", check=True)
    ip = d.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "b1", check=True).stdout.strip()
    assert ip
    assert "1 packets received" in d.docker("exec", "b2", "ping", "-c1", "-W2", ip, check=True).stdout


def test_published_ports(clean: Daemon) -> None:
    d = clean
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    d.docker(
        "run",
        "-d",
        "--name",
        "web1",
        "-p",
        f"127.0.0.1:{port}:80",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
        check=True,
    )
    short = d.docker("inspect", "-f", "{{.Id}}", "web1", check=True).stdout.strip()[:12]
    body = _fetch(f"http://127.0.0.1:{port}/hostname")
    assert body.strip() == short
    assert d.docker("port", "web1", check=True).stdout.strip() == f"80/tcp -> 127.0.0.1:{port}"
    res = d.docker("run", "-d", "--name", "web2", "-p", f"127.0.0.1:{port}:80", "busybox", "httpd", "-f", "-p", "80")
    assert res.returncode == 125 and "port is already allocated" in res.stderr
    assert _fetch(f"http://127.0.0.1:{port}/hostname").strip() == short
    d.docker(
        "run",
        "-d",
        "--name",
        "web3",
        "-p",
        "127.0.0.1::80",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
        check=True,
    )
    mapped = d.docker("port", "web3", "80", check=True).stdout.strip()
    assert mapped.startswith("127.0.0.1:") and _fetch(f"http://{mapped}/hostname").strip()
    d.docker("stop", "-t", "0", "web1", check=True)
    # Released when the container stops: another one can take it.
    d.docker(
        "run",
        "-d",
        "--name",
        "web4",
        "-p",
        f"127.0.0.1:{port}:80",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
        check=True,
    )
    short4 = d.docker("inspect", "-f", "{{.Id}}", "web4", check=True).stdout.strip()[:12]
    assert _fetch(f"http://127.0.0.1:{port}/hostname").strip() == short4


def _fetch(url: str) -> str:
    for _ in range(50):
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                return r.read().decode()
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"cannot fetch {url}")


def test_none_and_host(clean: Daemon) -> None:
    d = clean
    assert d.docker(
        "run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net", check=True
    ).stdout.split() == ["lo"]
    host = set(
        d.docker("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net", check=True).stdout.split()
    )
    assert "lo" in host and len(host) > 1


def test_network_cli_and_prune(clean: Daemon) -> None:
    d = clean
    nid = d.ballena("network", "create", "--subnet", "10.123.0.0/24", "--label", "x=y", "bn", check=True).stdout.strip()
    assert len(nid) == 64
    ls = d.ballena("network", "ls", check=True).stdout
    assert "bn" in ls and "bridge" in ls and "host" in ls and "none" in ls
    info = json.loads(d.ballena("network", "inspect", "bn", check=True).stdout)[0]
    assert info["IPAM"]["Config"][0]["Subnet"] == "10.123.0.0/24"
    res = d.docker("network", "create", "bn")
    assert res.returncode == 1 and "already exists" in res.stderr
    res = d.docker("network", "rm", "bridge")
    assert res.returncode == 1 and "pre-defined network" in res.stderr
    assert "bn" in d.docker("network", "prune", "-f", check=True).stdout
    assert "bn" not in d.docker("network", "ls", check=True).stdout
