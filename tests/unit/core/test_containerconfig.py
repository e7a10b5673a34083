"""The Docker documents as records: what the docker CLI 28 sends for a busy ``docker create``
(captured, in data/), and what inspect shows back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ballena.core.containerconfig import (
    ContainerConfig,
    EndpointSettings,
    ExecCreate,
    HealthConfig,
    HostConfig,
    NetworkingConfig,
    PortBinding,
    Ulimit,
    UpdateConfig,
)
from ballena.pkg import records
from ballena.pkg.records import DecodeError

BODY = json.loads((Path(__file__).parent / "data" / "docker-cli-28-create.json").read_text())


def test_the_clis_create_body_decodes_into_typed_records() -> None:
    cfg = records.decode(ContainerConfig, BODY)
    assert cfg.tty and cfg.open_stdin and cfg.stdin_once
    assert cfg.cmd == ("sh", "-c", "echo hi") and cfg.entrypoint is None
    assert cfg.exposed_ports == ("80/tcp",) and cfg.labels == {"x": "y"}
    assert cfg.healthcheck == HealthConfig(test=("CMD-SHELL", "true"), interval=5_000_000_000)
    hc = records.decode(HostConfig, BODY["HostConfig"])
    assert hc.binds == ("/tmp:/data:ro",) and hc.network_mode == "mynet"
    assert hc.port_bindings == {"80/tcp": (PortBinding(host_ip="127.0.0.1", host_port="8080"),)}
    assert hc.restart_policy.name == "on-failure" and hc.restart_policy.maximum_retry_count == 3
    assert hc.resources.memory == 64 << 20 and hc.resources.nano_cpus == 500_000_000
    assert hc.resources.ulimits == (Ulimit(name="nofile", hard=2048, soft=1024),)
    assert hc.resources.memory_swappiness == -1 and hc.init is True and hc.tmpfs == {"/run": ""}
    net = records.decode(NetworkingConfig, BODY["NetworkingConfig"])
    ep = net.endpoints_config["mynet"]
    assert ep is not None and ep.aliases == ("w",)


def test_host_config_encodes_every_field_docker_shows() -> None:
    doc = records.encode(HostConfig())
    for key in ("Binds", "LogConfig", "NetworkMode", "PortBindings", "RestartPolicy", "ConsoleSize", "CapAdd",
                "CgroupnsMode", "Dns", "IpcMode", "ShmSize", "CpuShares", "Memory", "NanoCpus", "BlkioWeight",
                "Devices", "PidsLimit", "Ulimits", "MaskedPaths", "ReadonlyPaths", "OomKillDisable"):  # fmt: skip
        assert key in doc, key
    for omitted in ("Annotations", "StorageOpt", "Tmpfs", "Sysctls", "Runtime", "Mounts", "Init", "KernelMemory"):
        assert omitted not in doc, omitted
    assert doc["ConsoleSize"] == [0, 0] and doc["RestartPolicy"] == {"Name": "", "MaximumRetryCount": 0}


def test_config_omits_what_go_omits() -> None:
    doc = records.encode(ContainerConfig(image="busybox"))
    assert "Healthcheck" not in doc and "StopSignal" not in doc and "Shell" not in doc and "ExposedPorts" not in doc
    assert doc["Image"] == "busybox" and doc["Cmd"] is None and doc["OnBuild"] is None


def test_endpoint_private_fields_are_ours() -> None:
    ep = EndpointSettings(ip_address="10.0.0.2", host_ifname="blnv1", ifname="eth1", desired_mac="02:42:00:00:00:01")
    assert "_HostIf" not in records.encode(ep)
    assert records.decode(EndpointSettings, records.encode(ep, private=True), private=True) == ep


def test_a_stopped_endpoint_keeps_what_was_asked() -> None:
    ep = EndpointSettings(
        aliases=("db",),
        network_id="n",
        ip_address="10.0.0.2",
        mac_address="02:42:0a:00:00:02",
        desired_mac="02:42:aa:bb:cc:dd",
    )
    stopped = ep.stopped()
    assert stopped.ip_address == "" and stopped.aliases == ("db",) and stopped.network_id == "n"
    assert stopped.mac_address == "02:42:aa:bb:cc:dd"


def test_update_config_is_resources_inline_plus_restart_policy() -> None:
    upd = records.decode(UpdateConfig, {"Memory": 1 << 30, "PidsLimit": 5, "RestartPolicy": {"Name": "always"}})
    assert upd.resources.memory == 1 << 30 and upd.resources.pids_limit == 5 and upd.restart_policy.name == "always"


def test_exec_create_takes_a_string_command() -> None:
    assert records.decode(ExecCreate, {"Cmd": "ls"}).cmd == ("ls",)


@pytest.mark.parametrize(
    ("cls", "body", "message"),
    [
        (ContainerConfig, {"Tty": "yes"}, "json: cannot unmarshal string into Go struct field Config.Tty of type bool"),
        (
            ContainerConfig,
            {"Env": {"A": "B"}},
            "json: cannot unmarshal object into Go struct field Config.Env of type []string",
        ),
        (
            HostConfig,
            {"Memory": "lots"},
            "json: cannot unmarshal string into Go struct field HostConfig.Memory of type int64",
        ),
        (
            HostConfig,
            {"CpuShares": 1.5},
            "json: cannot unmarshal number 1.5 into Go struct field HostConfig.CpuShares of type int64",
        ),
        (
            HostConfig,
            {"RestartPolicy": "always"},
            "json: cannot unmarshal string into Go struct field HostConfig.RestartPolicy of type RestartPolicy",
        ),
        (
            HostConfig,
            {"Binds": "/a:/b"},
            "json: cannot unmarshal string into Go struct field HostConfig.Binds of type []string",
        ),
    ],
)
def test_bodies_of_the_wrong_shape_are_refused_naming_the_field(
    cls: type, body: dict[str, object], message: str
) -> None:
    with pytest.raises(DecodeError) as e:
        records.decode(cls, body)
    assert e.value.message == message
