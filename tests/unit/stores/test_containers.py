import json
from pathlib import Path

import pytest

from ballena.core.containerconfig import ContainerConfig, EndpointSettings, HostConfig, PortBinding
from ballena.core.containers import Container
from ballena.core.volumes import MountPoint
from ballena.errors import Conflict, InvalidArgument, NotFound
from ballena.stores.containers import ContainerStore


def _c(cid: str, name: str) -> Container:
    return Container(
        id=cid,
        name=name,
        created_ns=1,
        image="busybox",
        image_id="sha256:" + "1" * 64,
        path="sh",
        args=("-c", "true"),
        config=ContainerConfig(image="busybox", cmd=("sh",), labels={"a": "b"}),
        host_config=HostConfig(network_mode="bridge"),
        networks={"bridge": EndpointSettings(ip_address="172.17.0.2", host_ifname="blnvx")},
        ports={"80/tcp": (PortBinding(host_ip="0.0.0.0", host_port="8080"),)},
        mounts=(MountPoint(type="volume", name="v", destination="/d", copy_image_data=False),),
    )


def test_records_round_trip_with_our_private_fields(tmp_path: Path) -> None:
    s = ContainerStore(tmp_path)
    c = _c("a" * 64, "web")
    s.save(c)
    loaded = ContainerStore(tmp_path).load()
    assert loaded == [c]
    doc = json.loads((tmp_path / c.id / "config.v2.json").read_text())
    assert doc["Config"]["Labels"] == {"a": "b"} and doc["Networks"]["bridge"]["_HostIf"] == "blnvx"


def test_lookups_follow_docker(tmp_path: Path) -> None:
    s = ContainerStore(tmp_path)
    s.save(_c("abc" + "0" * 61, "web"))
    s.save(_c("abd" + "0" * 61, "db"))
    assert s.resolve("web").name == "web" and s.resolve("/db").name == "db" and s.resolve("abc").name == "web"
    with pytest.raises(InvalidArgument):
        s.resolve("ab")
    with pytest.raises(NotFound):
        s.resolve("nope")


def test_names_are_reserved(tmp_path: Path) -> None:
    s = ContainerStore(tmp_path)
    s.reserve_name("web", "a")
    with pytest.raises(Conflict) as e:
        s.reserve_name("web", "b")
    assert 'The container name "/web" is already in use by container "a"' in e.value.message


def test_an_interrupted_create_goes_but_an_unreadable_record_is_kept(tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    (tmp_path / "weird").mkdir()
    (tmp_path / "weird" / "config.v2.json").write_text('{"ID": "weird", "Config": {"Tty": "yes"}}')
    assert ContainerStore(tmp_path).load() == []
    assert not (tmp_path / "half").exists()
    assert (tmp_path / "weird" / "config.v2.json").exists()


def test_delete_renames_away_first(tmp_path: Path) -> None:
    s = ContainerStore(tmp_path)
    c = _c("a" * 64, "web")
    s.save(c)
    trash = s.delete(c.id, defer=True)
    assert trash is not None and trash.exists() and not (tmp_path / c.id).exists()
    assert not s.exists(c.id) and not s.name_taken("web")
