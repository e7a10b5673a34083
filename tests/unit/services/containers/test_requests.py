"""A create request made whole: image config merged (moby's merge), dockerd's defaults and checks."""

from __future__ import annotations

import pytest

from ballena.core.containerconfig import (
    ContainerConfig,
    HealthConfig,
    HostConfig,
    LogConfig,
    NetworkingConfig,
    Resources,
    RestartPolicy,
)
from ballena.errors import InvalidArgument
from ballena.runtime import spec as ocispec
from ballena.services.containers.layout import HostDefaults, LogDefaults, RuntimeInfo
from ballena.services.containers.requests import check_name, merge_image_config, normalize_create, normalize_host_config

DEFAULTS = HostDefaults(
    runtimes={"ballena": RuntimeInfo(name="ballena", path="native"), "runc": RuntimeInfo(name="runc", path="runc")},
    default_runtime="ballena",
    log=LogDefaults(driver="json-file", options={"max-size": "10m"}),
)
IMAGE = ContainerConfig(
    env=("PATH=/usr/bin", "LANG=C"),
    cmd=("sh",),
    entrypoint=None,
    working_dir="/app",
    labels={"from": "image", "keep": "1"},
    exposed_ports=("80/tcp",),
    volumes=("/data",),
    stop_signal="SIGQUIT",
    healthcheck=HealthConfig(test=("CMD", "true")),
    user="nobody",
)


def _create(config: ContainerConfig, hc: HostConfig | None = None, name: str | None = None):  # type: ignore[no-untyped-def]
    return normalize_create(
        name=name,
        config=config,
        host_config=hc or HostConfig(),
        networking=NetworkingConfig(),
        image_config=IMAGE,
        defaults=DEFAULTS,
    )


def test_the_image_fills_what_the_client_left_out() -> None:
    r = _create(ContainerConfig(image="img", env=("LANG=fr", "X=1"), labels={"from": "run"}))
    c = r.config
    assert c.env == ("LANG=fr", "X=1", "PATH=/usr/bin")
    assert c.labels == {"from": "run", "keep": "1"}
    assert c.cmd == ("sh",) and c.working_dir == "/app" and c.user == "nobody"
    assert c.exposed_ports == ("80/tcp",) and c.volumes == ("/data",) and c.stop_signal == "SIGQUIT"
    assert c.healthcheck == HealthConfig(test=("CMD", "true"))
    assert (r.path, r.args) == ("sh", ())


def test_an_entrypoint_given_drops_the_images_cmd() -> None:
    r = _create(ContainerConfig(image="img", entrypoint=("echo",)))
    assert (r.path, r.args) == ("echo", ())
    r = _create(ContainerConfig(image="img", entrypoint=("",), cmd=("ls", "-l")))
    assert r.config.entrypoint is None and (r.path, r.args) == ("ls", ("-l",))


def test_ports_and_volumes_are_unions() -> None:
    c = merge_image_config(ContainerConfig(exposed_ports=("53/udp",), volumes=("/x",)), IMAGE)
    assert c.exposed_ports == ("80/tcp", "53/udp") and c.volumes == ("/data", "/x")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (ContainerConfig(), "No image was specified"),
    ],
)
def test_refusals(config: ContainerConfig, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        _create(config)
    assert e.value.message == message


def test_no_command_at_all() -> None:
    with pytest.raises(InvalidArgument) as e:
        normalize_create(
            name=None, config=ContainerConfig(image="x"), host_config=HostConfig(), networking=NetworkingConfig(),
            image_config=ContainerConfig(), defaults=DEFAULTS,
        )  # fmt: skip
    assert e.value.message == "no command specified"


@pytest.mark.parametrize("name", ["web", "/web", "a1", "my.app_1-x"])
def test_good_names(name: str) -> None:
    assert check_name(name) == name.lstrip("/")


@pytest.mark.parametrize("name", ["a", "-x", "a b", "a/b", "_x", "é"])
def test_bad_names_in_dockers_words(name: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        check_name(name)
    assert e.value.message == f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"


def test_host_config_gets_dockerds_defaults() -> None:
    hc = normalize_host_config(HostConfig(), DEFAULTS)
    assert hc.restart_policy == RestartPolicy(name="no") and hc.runtime == "ballena" and hc.network_mode == "bridge"
    assert hc.log_config == LogConfig(type="json-file", config={"max-size": "10m"})
    assert hc.shm_size == 64 << 20 and hc.ipc_mode == "private" and hc.cgroupns_mode == "host"
    assert hc.masked_paths == ocispec.MASKED_PATHS and hc.readonly_paths == ocispec.READONLY_PATHS


def test_privileged_containers_have_no_default_masks() -> None:
    hc = normalize_host_config(HostConfig(privileged=True), DEFAULTS)
    assert hc.masked_paths is None and hc.readonly_paths is None


def test_a_containers_own_log_driver_keeps_its_options() -> None:
    hc = normalize_host_config(HostConfig(log_config=LogConfig(type="none")), DEFAULTS)
    assert hc.log_config == LogConfig(type="none")


def test_memory_swap_defaults_to_twice_the_memory() -> None:
    r = _create(ContainerConfig(image="x"), HostConfig(resources=Resources(memory=64 << 20)))
    assert r.host_config.resources.memory_swap == 128 << 20


@pytest.mark.parametrize(
    ("hc", "message"),
    [
        (HostConfig(restart_policy=RestartPolicy(name="sometimes")), "invalid restart policy 'sometimes'"),
        (
            HostConfig(restart_policy=RestartPolicy(name="always", maximum_retry_count=3)),
            "invalid restart policy: maximum retry count can only be used with 'on-failure'",
        ),
        (
            HostConfig(restart_policy=RestartPolicy(name="on-failure", maximum_retry_count=-1)),
            "invalid restart policy: maximum retry count cannot be negative",
        ),
        (
            HostConfig(auto_remove=True, restart_policy=RestartPolicy(name="always")),
            "can't create 'AutoRemove' container with restart policy",
        ),
        (HostConfig(runtime="kata"), "Unknown runtime specified kata"),
        (HostConfig(shm_size=-1), "SHM size can not be less than 0"),
        (HostConfig(security_opt=("apparmour=x",)), 'invalid --security-opt 1: "apparmour=x"'),
        (HostConfig(resources=Resources(memory=1024)), "Minimum memory limit allowed is 6MB"),
    ],
)
def test_host_config_refusals_in_dockerds_words(hc: HostConfig, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        _create(ContainerConfig(image="x"), hc)
    assert e.value.message == message


def test_unknown_capabilities_are_refused() -> None:
    with pytest.raises(InvalidArgument):
        normalize_host_config(HostConfig(cap_add=("CAP_FLY",)), DEFAULTS)
