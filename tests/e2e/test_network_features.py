"""Network features through the docker CLI and docker-py, each as dockerd has it: unique
addresses under concurrency and across a daemon kill, IPv6, internal networks, IPAM options,
static addresses, driver options, labels, pools, connect and disconnect."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
from typing import Any

import pytest

from tests.conftest import Daemon


def _inspect(d: Daemon, *names: str) -> list[dict[str, Any]]:
    return json.loads(d.docker("inspect", *names, check=True).stdout)  # type: ignore[no-any-return]


def _addresses(d: Daemon, names: list[str], network: str) -> list[tuple[str, str]]:
    return [
        (
            c["NetworkSettings"]["Networks"][network]["IPAddress"],
            c["NetworkSettings"]["Networks"][network]["MacAddress"],
        )
        for c in _inspect(d, *names)
    ]


def _start_at_once(d: Daemon, names: list[str]) -> None:
    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        for r in pool.map(lambda n: d.docker("start", n), names):
            assert r.returncode == 0, r.stderr


def test_twelve_concurrent_starts_get_twelve_addresses(clean: Daemon) -> None:
    d = clean
    d.docker("network", "create", "many", check=True)
    try:
        for network in ("many", "bridge"):
            names = [f"c{network}{i}" for i in range(12)]
            for n in names:
                d.docker("create", "--name", n, "--network", network, "busybox", "sleep", "60", check=True)
            _start_at_once(d, names)
            got = _addresses(d, names, network)
            assert len({ip for ip, _ in got}) == 12 and all(ip for ip, _ in got), got
            assert len({mac for _, mac in got}) == 12, got
            d.docker("rm", "-f", *names, check=True)
    finally:
        d.docker("network", "rm", "many")


def test_addresses_stay_unique_after_a_daemon_kill(fresh_daemon: Daemon) -> None:
    d = fresh_daemon
    d.docker("network", "create", "--subnet", "10.93.0.0/29", "small", check=True)
    d.docker("run", "-d", "--name", "keep", "--network", "small", "busybox", "sleep", "300", check=True)
    d.docker("run", "-d", "--name", "gone", "--network", "small", "busybox", "sleep", "300", check=True)
    d.docker("rm", "-f", "gone", check=True)
    assert d.proc is not None
    os.kill(d.proc.pid, signal.SIGKILL)
    d.proc.wait()
    d.proc = None
    d.start()
    kept = _addresses(d, ["keep"], "small")[0][0]
    names = [f"after{i}" for i in range(4)]  # a /29 holds 5 containers: keep + these 4
    for n in names:
        d.docker("create", "--name", n, "--network", "small", "busybox", "sleep", "60", check=True)
    _start_at_once(d, names)
    got = [ip for ip, _ in _addresses(d, names, "small")]
    assert len(set(got)) == 4 and kept not in got, (kept, got)
    r = d.docker("run", "--rm", "--network", "small", "busybox", "true")
    assert r.returncode == 125 and "no available IPv4 addresses on this network's address pools" in r.stderr
    d.docker("rm", "-f", "keep", *names, check=True)
    d.docker("network", "rm", "small", check=True)


def test_ipv6_dual_stack_names_and_static_addresses(clean: Daemon) -> None:
    d = clean
    d.docker(
        "network", "create", "--ipv6", "--subnet", "fd00:db8:1::/64", "--subnet", "10.94.0.0/24", "six", check=True
    )
    try:
        d.docker("run", "-d", "--name", "v6srv", "--network", "six", "--ip6", "fd00:db8:1::99", "busybox", "sleep", "60", check=True)  # fmt: skip
        ep = _inspect(d, "v6srv")[0]["NetworkSettings"]["Networks"]["six"]
        assert ep["GlobalIPv6Address"] == "fd00:db8:1::99" and ep["GlobalIPv6PrefixLen"] == 64
        assert ep["IPv6Gateway"] == "fd00:db8:1::1" and ep["IPAddress"].startswith("10.94.0.")
        out = d.docker("run", "--rm", "--network", "six", "busybox", "sh", "-c", "nslookup -type=AAAA v6srv 127.0.0.11; ping6 -c1 -W2 v6srv", check=True).stdout  # fmt: skip
        assert "fd00:db8:1::99" in out and "1 packets received" in out
        net = (
            _inspect(d, "six")[0] if False else json.loads(d.docker("network", "inspect", "six", check=True).stdout)[0]
        )
        assert net["EnableIPv6"] is True
        assert {c["Subnet"] for c in net["IPAM"]["Config"]} == {"fd00:db8:1::/64", "10.94.0.0/24"}
        r = d.docker("run", "--rm", "--network", "six", "--ip6", "fd00:db8:2::5", "busybox", "true")
        assert r.returncode == 125 and "It does not belong to any of this network's subnets" in r.stderr
    finally:
        d.docker("rm", "-f", "v6srv")
        d.docker("network", "rm", "six")


def test_ipam_options_static_addresses_and_mac(clean: Daemon) -> None:
    d = clean
    d.docker(
        "network", "create", "--subnet", "10.95.0.0/24", "--gateway", "10.95.0.254", "--ip-range", "10.95.0.128/25",
        "--aux-address", "router=10.95.0.129", "ipam", check=True,
    )  # fmt: skip
    try:
        net = json.loads(d.docker("network", "inspect", "ipam", check=True).stdout)[0]
        cfg = net["IPAM"]["Config"][0]
        assert cfg == {
            "Subnet": "10.95.0.0/24",
            "Gateway": "10.95.0.254",
            "IPRange": "10.95.0.128/25",
            "AuxiliaryAddresses": {"router": "10.95.0.129"},
        }
        d.docker("run", "-d", "--name", "dyn", "--network", "ipam", "busybox", "sleep", "60", check=True)
        assert _addresses(d, ["dyn"], "ipam")[0][0] == "10.95.0.130"  # from the range, past the aux address
        d.docker(
            "run", "-d", "--name", "fixed", "--network", "ipam", "--ip", "10.95.0.7", "--mac-address",
            "02:42:0a:5f:00:07", "--link-local-ip", "169.254.7.7", "busybox", "sleep", "60", check=True,
        )  # fmt: skip
        assert _addresses(d, ["fixed"], "ipam")[0] == ("10.95.0.7", "02:42:0a:5f:00:07")
        out = d.docker("exec", "fixed", "ip", "addr", "show", "eth0", check=True).stdout
        assert "10.95.0.7/24" in out and "169.254.7.7" in out and "02:42:0a:5f:00:07" in out
        out = d.docker("exec", "fixed", "ip", "route", check=True).stdout
        assert "default via 10.95.0.254" in out
        r = d.docker("run", "--rm", "--network", "ipam", "--ip", "10.95.0.7", "busybox", "true")
        assert r.returncode == 125 and "Address already in use" in r.stderr
        r = d.docker("run", "--rm", "--network", "bridge", "--ip", "172.17.0.50", "busybox", "true")
        assert (
            r.returncode == 125 and "user specified IP address is supported on user defined networks only" in r.stderr
        )
    finally:
        d.docker("rm", "-f", "dyn", "fixed")
        d.docker("network", "rm", "ipam")


def test_internal_network_has_no_way_out(clean: Daemon) -> None:
    d = clean
    d.docker("network", "create", "--internal", "inside", check=True)
    try:
        d.docker("run", "-d", "--name", "in1", "--network", "inside", "-p", "18081:80", "busybox", "httpd", "-f", "-p", "80", check=True)  # fmt: skip
        info = _inspect(d, "in1")[0]
        assert "default" not in d.docker("exec", "in1", "ip", "route", check=True).stdout
        assert info["NetworkSettings"]["Ports"] in (
            {},
            {"80/tcp": None},
            None,
        )  # nothing published on an internal network
        out = d.docker("run", "--rm", "--network", "inside", "busybox", "wget", "-q", "-O-", "http://in1/", timeout=30)
        assert out.returncode != 0 or out.stdout == "" or "404" in out.stderr  # reachable by name inside the network
        assert json.loads(d.docker("network", "inspect", "inside", check=True).stdout)[0]["Internal"] is True
    finally:
        d.docker("rm", "-f", "in1")
        d.docker("network", "rm", "inside")


def test_driver_options_labels_names_and_refusals(clean: Daemon) -> None:
    d = clean
    d.docker(
        "network", "create", "-o", "com.docker.network.bridge.name=blt-opts", "-o",
        "com.docker.network.driver.mtu=1400", "-o", "com.docker.network.bridge.enable_icc=false", "--label",
        "course=docker", "opts", check=True,
    )  # fmt: skip
    try:
        assert "blt-opts" in os.listdir("/sys/class/net")
        net = json.loads(d.docker("network", "inspect", "opts", check=True).stdout)[0]
        assert net["Labels"] == {"course": "docker"} and net["Options"]["com.docker.network.driver.mtu"] == "1400"
        d.docker("run", "-d", "--name", "o1", "--network", "opts", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc", check=True)  # fmt: skip
        assert "mtu 1400" in d.docker("exec", "o1", "ip", "link", "show", "eth0", check=True).stdout
        # busybox 1.35's wget -T crashes; its timeout execs the command and signals it from a
        # child, and a PID 1 ignores SIGTERM: keep sh as PID 1 with a command after it.
        probe = "timeout 3 wget -q -O- http://o1/hostname; exit $?"
        r = d.docker("run", "--rm", "--network", "opts", "busybox", "sh", "-c", probe, timeout=30)
        assert r.returncode != 0  # enable_icc=false: containers on it do not reach each other
        r = d.docker("network", "create", "opts")
        assert r.returncode == 1 and "network with name opts already exists" in r.stderr
        r = d.docker("network", "create", "-d", "host", "h2")
        assert r.returncode == 1 and 'only one instance of "host" network is allowed' in r.stderr
        r = d.docker("network", "create", "--label", "=x", "badlabel")
        assert r.returncode != 0
    finally:
        d.docker("rm", "-f", "o1")
        d.docker("network", "rm", "opts")


def test_docker_default_pools_serve_a_suite_of_forty_networks(clean: Daemon) -> None:
    d = clean
    made = []
    try:
        for i in range(40):
            name = f"pool{i}"
            d.docker("network", "create", name, check=True)
            made.append(name)
            if len(made) > 20:  # a suite removes what it made as it goes
                d.docker("network", "rm", made.pop(0), check=True)
        subnets = {json.loads(d.docker("network", "inspect", n, check=True).stdout)[0]["IPAM"]["Config"][0]["Subnet"] for n in made}  # fmt: skip
        assert len(subnets) == len(made)
        assert any(s.startswith("192.168.") and s.endswith("/20") for s in subnets) or all(
            s.startswith("172.") for s in subnets
        )
    finally:
        for n in made:
            d.docker("network", "rm", n)


def test_prune_filters_connect_on_create_and_disconnect_force(clean: Daemon) -> None:
    import docker

    d = clean
    client = docker.DockerClient(base_url=d.host, version="auto")
    try:
        front = client.networks.create("front", labels={"keep": "yes"})
        client.networks.create("scratch")
        ctr = client.containers.create(
            "busybox",
            "sleep 60",
            name="multi",
            network="front",
            networking_config={"front": client.api.create_endpoint_config(aliases=["www"])},
        )
        ctr.start()
        ctr.reload()
        assert ctr.attrs["NetworkSettings"]["Networks"]["front"]["Aliases"] == ["www"] or "www" in (
            ctr.attrs["NetworkSettings"]["Networks"]["front"]["Aliases"] or []
        )
        pruned = client.networks.prune(filters={"label!": "keep"})
        assert pruned["NetworksDeleted"] == ["scratch"]
        front.disconnect(ctr, force=True)
        ctr.reload()
        assert "front" not in ctr.attrs["NetworkSettings"]["Networks"]
        front.disconnect(ctr, force=True)  # forced: not being on it is fine
        with pytest.raises(docker.errors.APIError):
            front.disconnect(ctr)
    finally:
        for c in client.containers.list(all=True, filters={"name": "multi"}):
            c.remove(force=True)
        for n in client.networks.list(names=["front", "scratch"]):
            n.remove()
        client.close()


def test_connect_switches_a_bridge_container_to_the_embedded_dns(clean: Daemon) -> None:
    d = clean
    d.docker("network", "create", "later", check=True)
    try:
        d.docker("run", "-d", "--name", "named", "--network", "later", "busybox", "sleep", "60", check=True)
        d.docker("run", "-d", "--name", "joiner", "busybox", "sleep", "60", check=True)
        d.docker("network", "connect", "later", "joiner", check=True)
        out = d.docker("exec", "joiner", "sh", "-c", "cat /etc/resolv.conf; ping -c1 -W2 named", check=True).stdout
        assert "nameserver 127.0.0.11" in out and "1 packets received" in out
    finally:
        d.docker("rm", "-f", "named", "joiner")
        d.docker("network", "rm", "later")


def test_a_network_cannot_take_over_a_host_interface(clean: Daemon) -> None:
    d = clean
    host_nic = next(n for n in sorted(os.listdir("/sys/class/net")) if n != "lo" and not n.startswith(("blt", "blna", "blnv", "ballena", "docker", "veth")))  # fmt: skip
    r = d.docker("network", "create", "-o", f"com.docker.network.bridge.name={host_nic}", "grab")
    assert r.returncode == 1 and "the host has an interface of that name" in r.stderr
    assert host_nic in os.listdir("/sys/class/net")
    subprocess.run(["ip", "link", "add", "blt-hostbr", "type", "bridge"], check=True)
    try:  # a bridge the host made is used, as by dockerd, and left to the host afterwards
        d.docker("network", "create", "-o", "com.docker.network.bridge.name=blt-hostbr", "usebr", check=True)
        d.docker("network", "rm", "usebr", check=True)
        assert "blt-hostbr" in os.listdir("/sys/class/net")
    finally:
        subprocess.run(["ip", "link", "del", "blt-hostbr"], check=False)
