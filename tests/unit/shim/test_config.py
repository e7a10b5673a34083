import pytest

from ballena.pkg.records import DecodeError
from ballena.shim.config import (
    FileHelperConfig,
    LogSettings,
    MonitorConfig,
    OciMount,
    RootfsMount,
    RuntimeSettings,
    from_spawn_request,
    spawn_request,
)


def test_monitor_config_survives_the_trip_to_the_zygote() -> None:
    cfg = MonitorConfig(
        id="c",
        bundle="/b",
        state_dir="/s",
        exit_file="/s/exit.json",
        cgroup_path="/ballena/c",
        runtime=RuntimeSettings(name="runc", path="/usr/sbin/runc", args=("--debug",), root="/r"),
        rootfs_mounts=(RootfsMount(type="overlay", source="overlay", options=("lowerdir=/a", "upperdir=/b")),),
        tty=True,
        open_stdin=True,
        console_size=(24, 80),
        log=LogSettings(path="/l", max_size=10, max_file=3),
        autostart=False,
        seccomp_bpf=b"\x06\x00\x00\x00\x00\x00\xff\x7f",
        spec={"process": {"args": ["sh"]}},
    )
    assert from_spawn_request(spawn_request(cfg)) == cfg


def test_file_helper_config_too() -> None:
    cfg = FileHelperConfig(id="c", op="put", path="/x", mounts=(OciMount(destination="/d", type="bind", source="/s"),))
    assert from_spawn_request(spawn_request(cfg)) == cfg


def test_an_unknown_child_is_refused() -> None:
    with pytest.raises(DecodeError):
        from_spawn_request({"kind": "miner", "config": {}})


def test_runtime_settings() -> None:
    assert RuntimeSettings().native and not RuntimeSettings(name="runc").native
    assert OciMount(destination="/d", type="bind", source="/s", options=("ro",)).spec() == {
        "destination": "/d",
        "type": "bind",
        "source": "/s",
        "options": ["ro"],
    }
