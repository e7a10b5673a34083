import io
import json
import tarfile

import pytest

from ballena.errors import NotFound
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
