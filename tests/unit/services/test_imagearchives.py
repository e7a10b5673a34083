"""Import, save and load over a real temporary image store: a round trip through both archive
formats, and a bad archive that leaves nothing visible."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from ballena.errors import InvalidArgument
from ballena.pkg.reference import parse_normalized
from ballena.services.events import EventBus
from ballena.services.imagearchives import ImageArchives
from tests.unit.services.test_images import add_image, image_store


def archives(root: Path) -> ImageArchives:
    root.mkdir(parents=True, exist_ok=True)
    return ImageArchives(store=image_store(root), events=EventBus(), tmp_dir=root / "tmp")


def save(a: ImageArchives, *names: str) -> bytes:
    out = io.BytesIO()
    a.write_archive(a.resolve_for_save(list(names)), out)
    return out.getvalue()


def spool(a: ImageArchives, data: bytes) -> Path:
    fd, path = a.spool_path()
    with open(fd, "wb") as f:
        f.write(data)
    return path


def test_save_then_load_elsewhere_gives_the_same_image_and_tags(tmp_path: Path) -> None:
    source = archives(tmp_path / "a")
    image_id = add_image(source.store, {"etc/motd": b"hello"}, "app:1", "app:2")
    data = save(source, "app")  # a bare repository saves all of its tags
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = tf.getnames()
        manifest = json.loads(tf.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert {"index.json", "oci-layout", "manifest.json"} <= set(names)
    assert sorted(manifest[0]["RepoTags"]) == ["app:1", "app:2"]

    target = archives(tmp_path / "b")
    progress: list[str] = []
    lines = target.load_archive(spool(target, data), progress.append)
    assert sorted(lines) == ["Loaded image: app:1", "Loaded image: app:2"]
    assert target.store.resolve("app:2") == image_id and len(progress) == 1
    layer = target.store.layer(target.store.get(image_id).chain_ids[-1])
    assert layer is not None
    assert (target.store.snapshots.upper_dir(layer.chain_id) / "etc/motd").read_bytes() == b"hello"


def test_an_oci_layout_without_manifest_json_loads_by_its_index(tmp_path: Path) -> None:
    source = archives(tmp_path / "a")
    image_id = add_image(source.store, {"x": b"1"}, "oci:1")
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(save(source, "oci:1"))) as tf, tarfile.open(fileobj=out, mode="w") as w:
        for m in tf:
            if m.name != "manifest.json":
                w.addfile(m, tf.extractfile(m) if m.isreg() else None)
    target = archives(tmp_path / "b")
    assert target.load_archive(spool(target, out.getvalue()), lambda _: None) == ["Loaded image: oci:1"]
    assert target.store.resolve("oci:1") == image_id


def test_a_broken_archive_is_refused_and_tags_nothing(tmp_path: Path) -> None:
    source = archives(tmp_path / "a")
    add_image(source.store, {"x": b"1"}, "good:1")
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(save(source, "good:1"))) as tf, tarfile.open(fileobj=out, mode="w") as w:
        for m in tf:  # drop the layer blob the manifest names
            if m.isreg() and m.size > 1000:
                continue
            w.addfile(m, tf.extractfile(m) if m.isreg() else None)
    target = archives(tmp_path / "b")
    with pytest.raises(InvalidArgument):
        target.load_archive(spool(target, out.getvalue()), lambda _: None)
    assert target.store.all() == []
    with pytest.raises(InvalidArgument) as e:
        target.load_archive(spool(target, b"not a tar"), lambda _: None)
    assert e.value.message.startswith("invalid tar archive")


def test_import_makes_a_one_layer_image_with_changes(tmp_path: Path) -> None:
    a = archives(tmp_path)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        ti = tarfile.TarInfo("bin/hello")
        ti.size = 2
        tf.addfile(ti, io.BytesIO(b"hi"))
    w = a.blob_writer()
    w.write(buf.getvalue())
    blob = w.commit()
    image_id = a.import_layer(blob, repo="imp", tag="1", changes=["ENV A=b", 'CMD ["x"]'], message="", source="-")
    img = a.store.get(image_id)
    assert img.config["config"]["Env"] == ["A=b"] and img.config["config"]["Cmd"] == ["x"]
    assert img.config["comment"] == "Imported from -" and a.store.resolve("imp:1") == image_id
    assert not a.store.content.exists(blob)  # kept uncompressed: the gzip blob is gone
    assert parse_normalized("imp:1").tag == "1"
