"""``docker ps`` over a real container store: defaults, filters, order, limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from ballena.core.containerconfig import ContainerConfig, EndpointSettings, HostConfig
from ballena.core.containers import Container, State
from ballena.core.volumes import MountPoint
from ballena.errors import InvalidArgument, NotFound
from ballena.pkg.filters import Filters
from ballena.services.containers import ContainerQueries, LogDefaults, Paths
from ballena.services.containers.requests import LIST_FILTERS
from ballena.stores.containers import ContainerStore
from ballena.stores.content import LocalContentStore
from ballena.stores.images import ImageStore
from ballena.stores.metadata import Database
from ballena.stores.snapshots import OverlaySnapshotter


def _c(n: int, name: str, status: str, code: int = 0, **kw: object) -> Container:
    return Container(
        id=f"{n:x}" * 64 if n < 16 else f"{n:064x}", name=name, created_ns=n, image="busybox", image_id="sha256:" + "1" * 64,
        path="sh", args=(), config=kw.pop("config", ContainerConfig(labels={"app": name})),  # type: ignore[arg-type]
        host_config=HostConfig(), state=State(status=status, exit_code=code), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
def q(tmp_path: Path) -> ContainerQueries:
    store = ContainerStore(tmp_path / "c")
    for c in (
        _c(1, "web", "running", networks={"front": EndpointSettings()}, config=ContainerConfig(labels={"app": "web"}, exposed_ports=("80/tcp",))),
        _c(2, "db", "exited", 3, mounts=(MountPoint(type="volume", name="data", destination="/var/lib/db"),)),
        _c(3, "job", "exited", 0),
        _c(4, "fresh", "created"),
        _c(5, "nap", "paused"),
    ):  # fmt: skip
        store.save(c)
    db = Database(tmp_path / "m.db")
    images = ImageStore(
        db=db, content=LocalContentStore(tmp_path / "x"), snapshots=OverlaySnapshotter(tmp_path / "s", db)
    )
    return ContainerQueries(
        store=store,
        images=images,
        paths=Paths(data_root=tmp_path, exec_root=tmp_path),
        log_defaults=LogDefaults(),
        cgroup_version="1",
    )


def _names(q: ContainerQueries, filters: str = "", **kw: object) -> list[str]:
    kw.setdefault("all_", True)
    kw.setdefault("limit", -1)
    return [c.name for c in q.list_containers(filters=Filters.parse(filters, accepted=LIST_FILTERS), **kw)]  # type: ignore[arg-type]


def test_running_ones_by_default_newest_first(q: ContainerQueries) -> None:
    assert _names(q, all_=False) == ["nap", "web"]
    assert _names(q) == ["nap", "fresh", "job", "db", "web"]


@pytest.mark.parametrize(
    ("filters", "names"),
    [
        ('{"status":["exited"]}', ["job", "db"]),
        ('{"exited":["3"]}', ["db"]),
        ('{"name":["^w"]}', ["web"]),
        ('{"label":["app=db"]}', ["db"]),
        ('{"network":["front"]}', ["web"]),
        ('{"volume":["data"]}', ["db"]),
        ('{"volume":["/var/lib/db"]}', ["db"]),
        ('{"expose":["80"]}', ["web"]),
        ('{"before":["job"]}', ["db", "web"]),
        ('{"since":["job"]}', ["nap", "fresh"]),
        ('{"id":["2222"]}', ["db"]),
    ],
)
def test_filters(q: ContainerQueries, filters: str, names: list[str]) -> None:
    assert _names(q, filters) == names


def test_limit_and_latest(q: ContainerQueries) -> None:
    assert _names(q, limit=2) == ["nap", "fresh"]
    assert _names(q, all_=False, latest=True) == ["nap"]


def test_bad_filters(q: ContainerQueries) -> None:
    with pytest.raises(InvalidArgument):
        _names(q, '{"status":["sleeping"]}')
    with pytest.raises(NotFound):
        _names(q, '{"before":["ghost"]}')


def test_counts_and_users(q: ContainerQueries) -> None:
    assert q.counts() == {"total": 5, "running": 1, "paused": 1, "stopped": 3}
    assert q.users_of_volume("data") == [q.get("db").id]
    assert q.image_counts() == {"sha256:" + "1" * 64: 5}
