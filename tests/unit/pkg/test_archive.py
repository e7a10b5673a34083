"""Layer tarballs unpacked and packed: entries stay inside, whiteouts translate both ways."""

import io
import os
import tarfile
from pathlib import Path

import pytest

from ballena.pkg import archive


def _tar(entries: list[tuple[str, bytes | None, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data, kind in entries:
            ti = tarfile.TarInfo(name)
            ti.type = kind
            if data is not None:
                ti.size = len(data)
            if kind == tarfile.SYMTYPE:
                ti.linkname = "/etc/passwd"
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


@pytest.mark.parametrize("name", ["../escape", "a/../../escape", "/abs/../../../escape"])
def test_apply_layer_keeps_entries_inside(tmp_path: Path, name: str) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    try:
        archive.apply_layer(io.BytesIO(_tar([(name, b"x", tarfile.REGTYPE)])), str(dest))
    except Exception:
        pass
    assert not (tmp_path / "escape").exists()


def test_apply_layer_does_not_write_through_a_symlink(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), dest / "link")
    try:
        archive.apply_layer(io.BytesIO(_tar([("link/file", b"x", tarfile.REGTYPE)])), str(dest))
    except Exception:
        pass
    assert not (outside / "file").exists()


def _members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {m.name: m for m in tf}


def test_an_upper_directory_packs_with_links_and_hardlinks(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "conf").write_text("new")
    os.link(upper / "etc" / "conf", upper / "etc" / "same")
    os.symlink("conf", upper / "etc" / "link")
    out = io.BytesIO()
    size = archive.write_layer_from_upper(str(upper), out)
    members = _members(out.getvalue())
    assert size == 3 and members["etc/link"].issym() and members["etc/link"].linkname == "conf"
    linked = [m for m in members.values() if m.islnk()]
    assert len(linked) == 1 and linked[0].linkname in ("etc/conf", "etc/same")
    dest = tmp_path / "dest"
    dest.mkdir()
    archive.apply_layer(io.BytesIO(out.getvalue()), str(dest))
    assert (dest / "etc" / "same").read_text() == "new" and os.readlink(dest / "etc" / "link") == "conf"


def test_docker_diff_tells_added_from_changed(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc" / "passwd").write_text("old")
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "passwd").write_text("new")
    (upper / "etc" / "added").write_text("x")
    changes = [(c.path, c.kind) for c in archive.overlay_changes(str(upper), [str(lower)])]
    assert changes == [("/etc", 0), ("/etc/added", 1), ("/etc/passwd", 0)]


@pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts are device nodes and trusted.* xattrs")
def test_whiteouts_translate_both_ways(tmp_path: Path) -> None:
    layer = _tar(
        [
            ("etc/.wh.gone", b"", tarfile.REGTYPE),
            ("var/", None, tarfile.DIRTYPE),
            ("var/.wh..wh..opq", b"", tarfile.REGTYPE),
        ]
    )
    dest = tmp_path / "dest"
    dest.mkdir()
    archive.apply_layer(io.BytesIO(layer), str(dest))
    st = os.lstat(dest / "etc" / "gone")
    assert os.major(st.st_rdev) == 0 and os.minor(st.st_rdev) == 0 and not (dest / "etc" / ".wh.gone").exists()
    assert os.getxattr(dest / "var", archive.OPAQUE_XATTR) == b"y"
    out = io.BytesIO()
    archive.write_layer_from_upper(str(dest), out)
    assert {"etc/.wh.gone", "var/.wh..wh..opq"} <= set(_members(out.getvalue()))
