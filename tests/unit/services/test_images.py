"""Image use cases over a real temporary image store: moby's removal rules and listing."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from ballena.errors import Conflict, NotFound
from ballena.pkg.filters import Filters
from ballena.pkg.reference import parse_normalized
from ballena.services.events import EventBus
from ballena.services.images import ImageService
from ballena.stores.content import LocalContentStore
from ballena.stores.images import ImageStore
from ballena.stores.metadata import Database
from ballena.stores.snapshots import OverlaySnapshotter


class Users:
    def __init__(self) -> None:
        self.by_image: dict[str, list[tuple[str, bool]]] = {}

    def users_of(self, image_id: str) -> list[tuple[str, bool]]:
        return self.by_image.get(image_id, [])


def image_store(root: Path) -> ImageStore:
    db = Database(root / "m.db")
    return ImageStore(
        db=db, content=LocalContentStore(root / "content"), snapshots=OverlaySnapshotter(root / "snapshots", db)
    )


def add_image(store: ImageStore, files: dict[str, bytes], *tags: str, label: str = "") -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    layer = store.register_layer(store.content.put_bytes(buf.getvalue()), parent_chain=None)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"k": label} if label else None},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
    }
    image_id = store.put_image(json.dumps(config).encode())
    for t in tags:
        store.tag(parse_normalized(t).tagged_or_latest(), image_id)
    return image_id


@pytest.fixture()
def svc(tmp_path: Path) -> ImageService:
    return ImageService(store=image_store(tmp_path), events=EventBus(), users=Users())


def test_removing_one_of_two_names_only_untags(svc: ImageService) -> None:
    image_id = add_image(svc.store, {"a": b"1"}, "one:1", "two:2")
    records = svc.remove("one:1")
    assert [(r.untagged, r.deleted) for r in records] == [("one:1", "")]
    assert svc.store.resolve("two:2") == image_id
    records = svc.remove("two:2")
    assert [r.untagged for r in records if r.untagged] == ["two:2"] and records[-2].deleted == image_id
    with pytest.raises(NotFound):
        svc.get(image_id)


def test_removing_by_id_with_several_names_needs_force(svc: ImageService) -> None:
    image_id = add_image(svc.store, {"a": b"1"}, "one:1", "two:2")
    with pytest.raises(Conflict) as e:
        svc.remove(image_id[7:19])
    assert e.value.message == (
        f"conflict: unable to delete {image_id[7:19]} (must be forced) - image is referenced in multiple repositories"
    )
    records = svc.remove(image_id[7:19], force=True)
    assert {r.untagged for r in records if r.untagged} == {"one:1", "two:2"}


def test_an_image_a_container_uses(svc: ImageService) -> None:
    image_id = add_image(svc.store, {"a": b"1"}, "app:1")
    users = svc.users
    assert isinstance(users, Users)
    users.by_image[image_id] = [("c" * 64, True)]
    with pytest.raises(Conflict) as e:
        svc.remove(image_id, force=True)
    assert "(cannot be forced) - image is being used by running container cccccccccccc" in e.value.message
    users.by_image[image_id] = [("c" * 64, False)]
    with pytest.raises(Conflict) as e:
        svc.remove("app:1")
    assert "container cccccccccccc is using its referenced image" in e.value.message
    svc.remove("app:1", force=True)
    assert svc.store.references(image_id) == []


def test_list_filters_and_prune(svc: ImageService) -> None:
    keep = add_image(svc.store, {"k": b"1"}, "keep:1", label="yes")
    dangling = add_image(svc.store, {"d": b"2"})
    listed = svc.list_images(filters=Filters.parse('{"label":["k=yes"]}', accepted={"label"}))
    assert [i.id for i in listed] == [keep]
    assert {i.id for i in svc.list_images(filters=Filters.parse('{"dangling":["true"]}', accepted={"dangling"}))} == {
        dangling
    }
    records, reclaimed = svc.prune(dangling_only=True, filters=Filters.parse("", accepted=set()))
    assert dangling in {r.deleted for r in records} and reclaimed > 0
    assert [i.id for i in svc.list_images()] == [keep]


def test_the_last_name_of_a_parent_image_only_untags(svc: ImageService) -> None:
    """moby counts child images when it decides what is dangling: `docker rmi pa`, where pb
    was built on pa, says Untagged and keeps the image for pb."""
    parent = add_image(svc.store, {"a": b"1"}, "pa:latest")
    config = json.loads(svc.store.content.read_bytes(parent))
    child = svc.store.put_image(json.dumps({**config, "comment": "child"}).encode(), parent=parent)
    svc.store.tag(parse_normalized("pb:latest"), child)
    records = svc.remove("pa")
    assert [(r.untagged, r.deleted) for r in records] == [("pa:latest", "")]
    assert svc.get(parent).id == parent
    with pytest.raises(Conflict) as e:
        svc.remove(parent)
    assert "image has dependent child images" in e.value.message
