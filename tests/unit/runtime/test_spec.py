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
