"""Parts of the bundle decided without running anything: sysctls, devices, resolv.conf."""

from __future__ import annotations

from pathlib import Path

import pytest

from ballena.core.containerconfig import ContainerConfig, DeviceMapping, HostConfig, Resources
from ballena.core.containers import Container
from ballena.errors import InvalidArgument
from ballena.services.containers.bundle import _devices, check_sysctls
from ballena.services.containers.etcfiles import EtcFiles
from ballena.services.containers.layout import DnsDefaults
from ballena.stores.containers import ContainerStore

OWN = {"pid": None, "ipc": None, "uts": None, "mount": None, "network": None}


@pytest.mark.parametrize(
    ("key", "namespaces", "message"),
    [
        ("net.ipv4.ip_forward", OWN, None),
        ("kernel.shmmax", OWN, None),
        ("fs.mqueue.msg_max", OWN, None),
        ("kernel.domainname", OWN, None),
        ("net.ipv4.ip_forward", {**OWN, "network": "/proc/1/ns/net"}, 'sysctl "net.ipv4.ip_forward" not allowed in host network namespace'),
        ("net.core.somaxconn", {k: v for k, v in OWN.items() if k != "network"}, 'sysctl "net.core.somaxconn" not allowed in host network namespace'),
        ("kernel.sem", {k: v for k, v in OWN.items() if k != "ipc"}, 'sysctl "kernel.sem" not allowed in host IPC namespace'),
        ("kernel.hostname", {k: v for k, v in OWN.items() if k != "uts"}, 'sysctl "kernel.hostname" not allowed in host UTS namespace'),
        ("vm.swappiness", OWN, 'sysctl "vm.swappiness" is not in a separate kernel namespace'),
        ("kernel.pid_max", OWN, 'sysctl "kernel.pid_max" is not in a separate kernel namespace'),
    ],
)  # fmt: skip
def test_a_sysctl_only_in_a_namespace_of_the_containers_own(
    key: str, namespaces: dict[str, str | None], message: str | None
) -> None:
    if message is None:
        check_sysctls({key: "1"}, namespaces)
        return
    with pytest.raises(InvalidArgument) as e:
        check_sysctls({key: "1"}, namespaces)
    assert e.value.message == message


def test_devices_and_cgroup_rules() -> None:
    devices, rules = _devices(
        HostConfig(
            resources=Resources(
                devices=(
                    DeviceMapping(path_on_host="/dev/null", path_in_container="/dev/mynull", cgroup_permissions="r"),
                ),
                device_cgroup_rules=("c 10:* rwm", "b *:* r"),
            )
        )
    )
    assert devices[0]["path"] == "/dev/mynull" and (devices[0]["major"], devices[0]["minor"]) == (1, 3)
    assert rules[0] == {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"}
    assert rules[1]["minor"] == -1 and rules[2]["major"] == -1


@pytest.mark.parametrize(
    ("hc", "fragment"),
    [
        (
            HostConfig(resources=Resources(devices=(DeviceMapping(path_on_host="/dev/nope"),))),
            "no such file or directory",
        ),
        (HostConfig(resources=Resources(devices=(DeviceMapping(path_on_host="/etc/passwd"),))), "not a device node"),
        (HostConfig(resources=Resources(device_cgroup_rules=("x 1:1 rwm",))), "invalid device cgroup format"),
    ],
)
def test_bad_devices(hc: HostConfig, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        _devices(hc)
    assert fragment in e.value.message


def _c(hc: HostConfig) -> Container:
    return Container(
        id="c" * 64, name="c", created_ns=0, image="i", image_id="i", path="sh", args=(),
        config=ContainerConfig(hostname="box"), host_config=hc,
    )  # fmt: skip


def test_resolv_conf_takes_the_containers_then_the_daemons_settings(tmp_path: Path) -> None:
    etc = EtcFiles(
        store=ContainerStore(tmp_path), sandboxes=None, dns=DnsDefaults(servers=("9.9.9.9",), options=("ndots:2",))
    )
    text = etc.resolv_conf(_c(HostConfig(dns=("1.1.1.1",), dns_search=("example.org",))), "bridge")
    assert "nameserver 1.1.1.1" in text and "search example.org" in text and "options ndots:2" in text
    assert "nameserver 9.9.9.9" in etc.resolv_conf(_c(HostConfig()), "bridge")


def test_the_files_are_written_and_refreshed_in_place(tmp_path: Path) -> None:
    store = ContainerStore(tmp_path)
    c = _c(HostConfig(extra_hosts=("db:10.0.0.9", "gw=host-gateway")))
    store.dir(c.id).mkdir()
    etc = EtcFiles(store=store, sandboxes=None, dns=DnsDefaults(servers=("9.9.9.9",)))
    etc.write(c, "box")
    hosts = (store.dir(c.id) / "hosts").read_text()
    assert "10.0.0.9\tdb" in hosts and "127.0.0.1\tlocalhost" in hosts
    assert (store.dir(c.id) / "hostname").read_text() == "box\n"
    inode = (store.dir(c.id) / "resolv.conf").stat().st_ino
    etc.dns = DnsDefaults(servers=("8.8.4.4",))
    etc.refresh_resolv_conf(c)
    path = store.dir(c.id) / "resolv.conf"
    assert path.stat().st_ino == inode and "8.8.4.4" in path.read_text()  # the bind-mounted inode
