import os

import pytest

from ballena.errors import Conflict, NotFound
from ballena.stores.metadata import Database
from ballena.stores.snapshots import OverlaySnapshotter


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


def test_prepare_commit_mounts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = OverlaySnapshotter(tmp_path / "s", Database(tmp_path / "m.db"))
    s.prepare("work", None)
    (s.upper_dir("work") / "f").write_text("x")
    s.commit("layer1", "work")
    assert s.exists("layer1") and not s.exists("work")
    s.prepare("c1", "layer1")
    mounts = s.mounts("c1")
    assert mounts[0].type == "overlay" and any(str(s.upper_dir("layer1")) in o for o in mounts[0].options)
    with pytest.raises(Conflict):
        s.prepare("c1", "layer1")
    with pytest.raises(NotFound):
        s.upper_dir("ghost")
