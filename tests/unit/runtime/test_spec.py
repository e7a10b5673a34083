import pytest

from ballena.runtime import spec


def test_default_capabilities_are_dockers() -> None:
    assert f"{spec.cap_mask(spec.DEFAULT_CAPABILITIES):016x}" == "00000000a80425fb"
    caps = spec.capabilities(cap_add=[], cap_drop=["CHOWN"], privileged=False)
    assert f"{spec.cap_mask(caps):016x}" == "00000000a80425fa"
    assert spec.capabilities(
        cap_add=["ALL"], cap_drop=["NET_RAW"], privileged=False, available=["CAP_CHOWN", "CAP_NET_RAW"]
    ) == ["CAP_CHOWN"]
    assert spec.capabilities(cap_add=["NET_ADMIN"], cap_drop=["ALL"], privileged=False) == ["CAP_NET_ADMIN"]


def test_spec_has_docker_defaults() -> None:
    s = spec.build(spec.SpecInput(process=spec.ProcessSpec(args=("sh",), env=("A=1",)), rootfs="/r", hostname="h"))
    assert s["process"]["capabilities"]["bounding"] == list(spec.DEFAULT_CAPABILITIES)
    assert "/proc/kcore" in s["linux"]["maskedPaths"] and "/proc/sys" in s["linux"]["readonlyPaths"]
    dests = [m["destination"] for m in s["mounts"]]
    assert dests[:3] == ["/proc", "/dev", "/dev/pts"] and "/dev/shm" in dests
    assert {ns["type"] for ns in s["linux"]["namespaces"]} == {"pid", "network", "ipc", "uts", "mount"}


def test_env_merge_replaces_in_place() -> None:
    assert spec.merge_env(["PATH=/bin", "HOSTNAME=x"], ["HOSTNAME=y", "A=1"]) == ["PATH=/bin", "HOSTNAME=y", "A=1"]


def _spec(**kw):  # type: ignore[no-untyped-def]
    proc = kw.pop("process", spec.ProcessSpec(args=("sh",), env=()))
    return spec.build(spec.SpecInput(process=proc, rootfs="/r", **kw))


def test_joined_and_host_namespaces() -> None:
    s = _spec(namespaces={"pid": None, "network": "/proc/7/ns/net", "mount": None})
    ns = {n["type"]: n.get("path") for n in s["linux"]["namespaces"]}
    assert ns == {"pid": None, "network": "/proc/7/ns/net", "mount": None}
    assert "/dev/shm" not in [m["destination"] for m in s["mounts"]]  # no IPC namespace of its own


def test_privileged_has_no_masks_and_every_device() -> None:
    s = _spec(privileged=True)
    assert "maskedPaths" not in s["linux"] and s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    sys_mount = next(m for m in s["mounts"] if m["destination"] == "/sys")
    assert "ro" not in sys_mount["options"]


def test_user_mounts_replace_defaults_at_the_same_place() -> None:
    s = _spec(mounts=({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind"]},))
    shm = [m for m in s["mounts"] if m["destination"] == "/dev/shm"]
    assert shm == [{"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind"]}]


def test_process_details() -> None:
    proc = spec.ProcessSpec(args=("sh",), env=("A=1",), terminal=True, console_size=(30, 100), oom_score_adj=500,
                            rlimits=(("RLIMIT_NOFILE", 10, 20),), uid=1000, gid=1000, additional_gids=(5,))  # fmt: skip
    p = _spec(process=proc)["process"]
    assert p["consoleSize"] == {"height": 30, "width": 100} and p["oomScoreAdj"] == 500
    assert p["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}]
    assert p["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [5]}


@pytest.mark.parametrize(("name", "norm"), [("chown", "CAP_CHOWN"), ("CAP_NET_ADMIN", "CAP_NET_ADMIN"), ("all", "ALL")])
def test_capability_names(name: str, norm: str) -> None:
    assert spec.normalize_cap(name) == norm


def test_unknown_capability() -> None:
    with pytest.raises(ValueError):
        spec.normalize_cap("FLY")


@pytest.mark.parametrize(
    ("defaults", "overrides", "out"),
    [
        (["A=1"], ["A"], []),  # "A" alone unsets it
        (["A=1"], ["B=2", "A=3"], ["A=3", "B=2"]),
        ([], ["X="], ["X="]),
    ],
)
def test_merge_env_cases(defaults: list[str], overrides: list[str], out: list[str]) -> None:
    assert spec.merge_env(defaults, overrides) == out
