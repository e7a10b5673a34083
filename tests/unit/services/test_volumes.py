"""How a container's mounts are worked out (-v, --mount, --volumes-from, VOLUME), with
dockerd's messages; volumes are made in a temporary root."""

from __future__ import annotations

from pathlib import Path

import pytest

from ballena.core.containerconfig import BindOptions, ContainerConfig, HostConfig, Mount, TmpfsOptions, VolumeOptions
from ballena.core.volumes import MountPoint
from ballena.errors import InvalidArgument, NotFound
from ballena.pkg.filters import Filters
from ballena.services.events import EventBus
from ballena.services.volumes import VolumeService
from ballena.stores.metadata import Database
from ballena.stores.volumes import VolumeStore


@pytest.fixture
def svc(tmp_path: Path) -> VolumeService:
    return VolumeService(store=VolumeStore(tmp_path / "volumes", Database(tmp_path / "m.db")), events=EventBus())


def _resolve(svc: VolumeService, *, binds: tuple[str, ...] = (), mounts: tuple[Mount, ...] = (), volumes: tuple[str, ...] = (),
             volumes_from: tuple[str, ...] = (), others: dict[str, list[MountPoint]] | None = None) -> list[MountPoint]:  # fmt: skip
    return svc.resolve_mounts(
        config=ContainerConfig(volumes=volumes or None),
        host_config=HostConfig(binds=binds or None, mounts=mounts or None, volumes_from=volumes_from or None),
        volumes_from=lambda name: (others or {})[name],
    )


def test_binds_and_named_volumes(svc: VolumeService, tmp_path: Path) -> None:
    host = tmp_path / "site"
    got = _resolve(svc, binds=(f"{host}:/usr/share/html:ro", "data:/var/lib/db"))
    by_dest = {m.destination: m for m in got}
    b = by_dest["/usr/share/html"]
    assert (b.type, b.source, b.rw, b.propagation) == ("bind", str(host), False, "rprivate")
    assert host.is_dir()  # -v creates a missing host directory
    v = by_dest["/var/lib/db"]
    assert (v.type, v.name, v.driver, v.rw, v.mode) == ("volume", "data", "local", True, "z")
    assert svc.get("data").name == "data"


def test_image_volumes_get_anonymous_volumes_unless_mounted(svc: VolumeService) -> None:
    got = _resolve(svc, binds=("named:/data",), volumes=("/data", "/cache"))
    anon = next(m for m in got if m.destination == "/cache")
    assert anon.type == "volume" and len(anon.name) == 64 and svc.get(anon.name).anonymous
    assert next(m for m in got if m.destination == "/data").name == "named"


def test_mounts_by_kind(svc: VolumeService, tmp_path: Path) -> None:
    got = _resolve(
        svc,
        mounts=(
            Mount(type="bind", source=str(tmp_path), target="/host", bind_options=BindOptions(propagation="rslave")),
            Mount(
                type="volume", source="v1", target="/v", volume_options=VolumeOptions(no_copy=True, labels={"a": "b"})
            ),
            Mount(type="tmpfs", target="/t", tmpfs_options=TmpfsOptions(size_bytes=1 << 20, mode=0o700)),
        ),
    )
    by = {m.destination: m for m in got}
    assert (
        by["/host"].propagation == "rslave" and by["/v"].copy_image_data is False and svc.get("v1").labels == {"a": "b"}
    )
    assert by["/t"].tmpfs_options == {"size": 1 << 20, "mode": 0o700}


def test_volumes_from_keeps_or_changes_the_mode(svc: VolumeService) -> None:
    theirs = [MountPoint(type="volume", name="shared", destination="/s", rw=True)]
    got = _resolve(svc, volumes_from=("other:ro",), others={"other": theirs})
    assert got[0].name == "shared" and not got[0].rw


@pytest.mark.parametrize(
    ("binds", "message"),
    [
        (("nodest",), "invalid volume specification: 'nodest'"),
        (("/a:/b:c:d",), "invalid volume specification: '/a:/b:c:d'"),
        (("/a:rel",), "invalid volume specification: '/a:rel': invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"),
        (("/a:/",), "invalid volume specification: '/a:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'"),
        (("/a:/b:rx",), "invalid mode: rx"),
        (("a/b:/x",), '"a/b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'),
        (("/a:/x", "/b:/x"), None),  # a later bind replaces an earlier one at the same place
    ],
)  # fmt: skip
def test_bad_binds_in_dockers_words(svc: VolumeService, binds: tuple[str, ...], message: str | None) -> None:
    if message is None:
        assert [m.source for m in _resolve(svc, binds=binds)] == ["/b"]
        return
    with pytest.raises(InvalidArgument) as e:
        _resolve(svc, binds=binds)
    assert e.value.message == message


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        (Mount(type="bind", target="/x"), 'invalid mount config for type "bind": field Source must not be empty'),
        (Mount(type="bind", source="rel", target="/x"), "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"),
        (Mount(type="bind", source="/no/such/dir", target="/x"), 'invalid mount config for type "bind": bind source path does not exist: /no/such/dir'),
        (Mount(type="volume", source="v"), 'invalid mount config for type "volume": field Target must not be empty'),
        (Mount(type="volume", target="rel"), "invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute"),
        (Mount(type="tmpfs", source="x", target="/t"), 'invalid mount config for type "tmpfs": field Source must not be specified'),
        (Mount(type="npipe", target="/x"), 'mount type unknown: "npipe"'),
    ],
)  # fmt: skip
def test_bad_mounts_in_dockers_words(svc: VolumeService, mount: Mount, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        _resolve(svc, mounts=(mount,))
    assert e.value.message == message


def test_volume_lifecycle(svc: VolumeService) -> None:
    v = svc.create("cache", labels={"k": "v"})
    assert svc.create("cache").created_ns == v.created_ns  # creating it again returns it
    with pytest.raises(InvalidArgument):
        svc.create("x")
    with pytest.raises(NotFound):
        svc.create("y1", driver="rexray")
    assert [x.name for x in svc.list_volumes(Filters.parse('{"label":["k=v"]}', accepted={"label"}))] == ["cache"]
    svc.remove("cache")
    with pytest.raises(NotFound):
        svc.get("cache")
