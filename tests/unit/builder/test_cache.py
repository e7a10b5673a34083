from pathlib import Path

from ballena.builder.cache import BuildCache, step_key
from ballena.stores.content import LocalContentStore
from ballena.stores.images import ImageStore
from ballena.stores.metadata import Database
from ballena.stores.snapshots import OverlaySnapshotter


def test_keys_depend_on_everything_that_decides_a_step() -> None:
    base = {"parent": "sha256:a", "text": "RUN x", "config": {"Env": ["A=1"]}, "args": {"X": "1"}}
    k = step_key(**base)  # type: ignore[arg-type]
    assert k.startswith("sha256:") and k == step_key(**base)  # type: ignore[arg-type]
    for change in ({"parent": "sha256:b"}, {"text": "RUN y"}, {"config": {"Env": []}}, {"args": {}}, {"extra": "h"}):
        assert step_key(**{**base, **change}) != k  # type: ignore[arg-type]


def test_an_entry_whose_image_is_gone_is_a_miss(tmp_path: Path) -> None:
    db = Database(tmp_path / "m.db")
    store = ImageStore(
        db=db, content=LocalContentStore(tmp_path / "c"), snapshots=OverlaySnapshotter(tmp_path / "s", db)
    )
    cache = BuildCache(store)
    cache.remember("sha256:k", "sha256:" + "0" * 64)
    assert cache.lookup("sha256:k") is None
    assert cache.entries() == [("sha256:k", "sha256:" + "0" * 64)]
    cache.forget("sha256:k")
    assert cache.entries() == [] and cache.usage() == []
