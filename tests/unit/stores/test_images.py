import io
import json
import os
import tarfile

import pytest

from ballena.errors import Conflict, InvalidArgument, NotFound
from ballena.pkg import digest as dg
from ballena.stores.content import LocalContentStore
from ballena.stores.images import ImageStore
from ballena.stores.metadata import Database
from ballena.stores.snapshots import OverlaySnapshotter


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture()
def store(tmp_path):  # type: ignore[no-untyped-def]
    db = Database(tmp_path / "m.db")
    content = LocalContentStore(tmp_path / "content")
    snaps = OverlaySnapshotter(tmp_path / "snapshots", db)
    return ImageStore(db=db, content=content, snapshots=snaps)


def test_a_blob_is_invisible_until_commit(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cs = LocalContentStore(tmp_path)
    w = cs.writer()
    w.write(b"hello")
    expected = dg.of_bytes(b"hello")
    assert not cs.exists(expected)
    assert w.commit() == expected and cs.read_bytes(expected) == b"hello"
    with pytest.raises(InvalidArgument), cs.writer(expected="sha256:" + "0" * 64) as bad:
        bad.write(b"other")
        bad.commit()
    assert list(cs.walk()) == [expected]


def test_named_ingest_resumes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cs = LocalContentStore(tmp_path)
    w = cs.writer(ref="layer-1")
    w.write(b"hel")
    del w  # interrupted
    assert cs.ingest_offset("layer-1") == 3
    w2 = cs.writer(ref="layer-1", expected=dg.of_bytes(b"hello"))
    assert w2.size == 3
    w2.write(b"lo")
    assert w2.commit() == dg.of_bytes(b"hello")


def test_layers_images_tags_and_gc(store: ImageStore) -> None:
    tar = _tar({"etc/hello": b"hi"})
    blob = store.content.put_bytes(tar)
    layer = store.register_layer(blob, parent_chain=None)
    assert layer.diff_id == dg.of_bytes(tar) and layer.size == 2
    assert (store.snapshots.upper_dir(layer.chain_id) / "etc/hello").read_bytes() == b"hi"
    cfg = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        }
    ).encode()
    image_id = store.put_image(cfg)
    assert image_id == dg.of_bytes(cfg)
    from ballena.pkg.reference import parse_normalized

    store.tag(parse_normalized("x:1"), image_id)
    assert store.resolve("x:1") == image_id == store.resolve(image_id[7:19])
    with pytest.raises(NotFound) as e:
        store.resolve("nope")
    assert e.value.message == "No such image: nope:latest"
    released = store.delete(image_id)
    assert released == [layer.chain_id]
    assert not store.content.exists(blob) and not store.snapshots.exists(layer.chain_id)


def test_snapshot_removal_refuses_parents(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database(tmp_path / "m.db")
    s = OverlaySnapshotter(tmp_path / "s", db)
    s.prepare("a", None)
    s.commit("A", "a")
    s.prepare("b", "A")
    with pytest.raises(Conflict):
        s.remove("A")
    mounts = s.mounts("b")
    assert mounts[0].type == "overlay" and any(o.startswith("lowerdir=") for o in mounts[0].options)
    s.remove("b")
    s.remove("A")
    os.mkdir(tmp_path / "s" / "99")  # an orphan directory from a crash
    s.clean()
    assert not (tmp_path / "s" / "99").exists()
