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


def _tree(root: Path) -> dict[str, tuple[object, ...]]:
    """Everything an unpacked layer holds, path by path (hard links as shared inodes)."""
    out: dict[str, tuple[object, ...]] = {}
    inodes: dict[int, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath, name)
            st = p.lstat()
            rel = str(p.relative_to(root))
            xattrs = {k: os.getxattr(p, k, follow_symlinks=False) for k in os.listxattr(p, follow_symlinks=False)}
            content: object = None
            if p.is_symlink():
                content = os.readlink(p)
            elif p.is_file():
                content = p.read_bytes()
                if st.st_nlink > 1:
                    content = (content, inodes.setdefault(st.st_ino, rel))
            out[rel] = (st.st_mode, st.st_uid, st.st_gid, int(st.st_mtime), st.st_rdev, xattrs, content)
    return out


def _upper(tmp_path: Path) -> Path:
    upper = tmp_path / "upper"
    (upper / "a" / "b").mkdir(parents=True)
    (upper / "empty").mkdir(mode=0o711)
    for size in (0, 1, 4096, 70_000):
        (upper / "a" / f"f{size}").write_bytes(os.urandom(size))
    (upper / "a" / "exe").write_text("#!/bin/sh\n")
    (upper / "a" / "exe").chmod(0o4755)
    os.setxattr(upper / "a" / "exe", "user.note", b"kept")
    (upper / "a" / "b" / "deep").write_text("deep")
    for name, mode in (("open", 0o666), ("private", 0o600), ("sticky-dir-like", 0o1777)):
        (upper / "a" / name).write_text(name)
        (upper / "a" / name).chmod(mode)  # modes a umask would cut, or that need a chmod
    os.link(upper / "a" / "b" / "deep", upper / "a" / "hard")
    os.symlink("../a/f1", upper / "a" / "b" / "rel-link")
    os.symlink("/etc/passwd", upper / "abs-link")
    os.mkfifo(upper / "a" / "fifo", 0o640)
    for i, p in enumerate(sorted(upper.rglob("*"))):
        os.utime(p, (1_700_000_000 + i + 0.5, 1_700_000_000 + i + 0.5), follow_symlinks=False)
    return upper


def test_the_mirror_of_a_packed_upper_is_what_unpacking_its_layer_makes(tmp_path: Path) -> None:
    """Commit makes the new layer's directory from the upper one directly (no tar parsed back):
    it must hold exactly what apply_layer makes of the blob, metadata and hard links included."""
    upper = _upper(tmp_path)
    if os.geteuid() == 0:
        os.mknod(upper / "a" / "gone", 0o020000 | 0o600, os.makedev(0, 0))  # a whiteout
        os.setxattr(upper / "empty", "trusted.overlay.opaque", b"y")
        os.chown(upper / "a" / "f1", 1000, 1001)
        os.chown(upper / "a" / "b", 33, 33)
    mirror, unpacked = tmp_path / "mirror", tmp_path / "unpacked"
    mirror.mkdir()
    unpacked.mkdir()
    blob = io.BytesIO()
    size = archive.write_layer_from_upper(str(upper), blob, mirror=str(mirror))
    assert (
        archive.apply_layer(io.BytesIO(blob.getvalue()), str(unpacked))
        == size
        == 0 + 1 + 4096 + 70_000 + 10 + 4 + 4 + 7 + 15
    )
    expected = _tree(unpacked)
    assert "a/hard" in expected and "a/fifo" in expected and "abs-link" in expected
    assert _tree(mirror) == expected


def test_a_mirror_that_fails_leaves_no_thread_and_says_why(tmp_path: Path) -> None:
    upper = _upper(tmp_path)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "a").mkdir()  # in the way: the walk cannot make it
    import threading

    before = threading.active_count()
    with pytest.raises(FileExistsError):
        archive.write_layer_from_upper(str(upper), io.BytesIO(), mirror=str(mirror))
    assert threading.active_count() == before
