"""A build context: the Dockerfile, .dockerignore and sources never resolve outside it."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ballena.builder.context import BuildContext
from ballena.errors import InvalidArgument


def _tar(files: dict[str, bytes | str]) -> bytes:
    """Regular files, and symlinks given as ``"->target"``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            if isinstance(data, str):
                ti.type, ti.linkname = tarfile.SYMTYPE, data[2:]
                tf.addfile(ti)
            else:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 1000):
        yield data[i : i + 1000]


def _receive(tmp: Path, data: bytes) -> BuildContext:
    return asyncio.run(BuildContext.receive(_chunks(data), tmp / "tmp"))


def test_a_tar_context_and_its_dockerfile(tmp_path: Path) -> None:
    ctx = _receive(tmp_path, _tar({"Dockerfile": b"FROM busybox\n", "app/x": b"x"}))
    try:
        assert ctx.dockerfile("Dockerfile") == "FROM busybox\n"
        assert (ctx.root / "app" / "x").read_bytes() == b"x"
    finally:
        ctx.close()
    assert not ctx.work.exists()


def test_a_lone_dockerfile_is_an_empty_context(tmp_path: Path) -> None:
    ctx = _receive(tmp_path, b"FROM busybox\nRUN true\n")
    try:
        assert ctx.dockerfile("Dockerfile") == "FROM busybox\nRUN true\n" and list(ctx.root.iterdir()) == []
    finally:
        ctx.close()


@pytest.mark.parametrize("name", ["../../../../etc/passwd", "/etc/passwd", "link-to-host", "dir-link/passwd"])
def test_the_dockerfile_never_comes_from_the_host(tmp_path: Path, name: str) -> None:
    ctx = _receive(tmp_path, _tar({"Dockerfile": b"FROM x\n", "link-to-host": "->/etc/passwd", "dir-link": "->/etc"}))
    try:
        with pytest.raises(InvalidArgument) as e:
            ctx.dockerfile(name)
        assert e.value.message == f"Cannot locate specified Dockerfile: {name}"
    finally:
        ctx.close()


def test_a_symlink_inside_the_context_is_followed_inside(tmp_path: Path) -> None:
    ctx = _receive(tmp_path, _tar({"real/Dockerfile.prod": b"FROM y\n", "Dockerfile": "->real/Dockerfile.prod"}))
    try:
        assert ctx.dockerfile("Dockerfile") == "FROM y\n"
    finally:
        ctx.close()


def test_binary_garbage_is_not_a_dockerfile(tmp_path: Path) -> None:
    ctx = _receive(tmp_path, _tar({"Dockerfile": b"\x7fELF\x00\x00\x01"}))
    try:
        with pytest.raises(InvalidArgument):
            ctx.dockerfile("Dockerfile")
    finally:
        ctx.close()


def test_gzip_garbage_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as e:
        _receive(tmp_path, b"\x1f\x8b\x08\x00garbage-that-is-not-gzip" * 10)
    assert e.value.message.startswith("failed to read the build context")
    assert list((tmp_path / "tmp").iterdir()) == []  # nothing left behind


def test_dockerignore_removes_what_it_excludes_the_dockerfile_once_read(tmp_path: Path) -> None:
    ctx = _receive(
        tmp_path,
        _tar({"Dockerfile": b"FROM x\n", ".dockerignore": b"*.log\nsecret/\nDockerfile\n!keep.log\n", "a.log": b"",
              "keep.log": b"", "secret/k": b"", "src/x": b""}),
    )  # fmt: skip
    try:
        assert ctx.dockerfile("Dockerfile") == "FROM x\n"
        ctx.apply_dockerignore("Dockerfile")
        left = sorted(str(p.relative_to(ctx.root)) for p in ctx.root.rglob("*") if p.is_file())
        assert left == [".dockerignore", "keep.log", "src/x"]  # listed: read, then no COPY sees it
    finally:
        ctx.close()


def test_a_tar_without_its_end_blocks_is_read_as_go_reads_it(tmp_path: Path) -> None:
    """`docker build -f - dir`: the CLI's tar ends right after the last member's data."""
    whole = _tar({".dockerignore": b".dockerfile.abc\n", "keep.txt": b"x", ".dockerfile.abc": b"FROM busybox\n"})
    cut = whole.rstrip(b"\0")
    assert len(cut) % 512 != 0
    ctx = _receive(tmp_path, cut)
    try:
        assert ctx.dockerfile(".dockerfile.abc") == "FROM busybox\n"
        ctx.apply_dockerignore(".dockerfile.abc")
        assert sorted(p.name for p in ctx.root.iterdir()) == [".dockerignore", "keep.txt"]
    finally:
        ctx.close()


def test_resolve_keeps_paths_inside(tmp_path: Path) -> None:
    ctx = _receive(tmp_path, _tar({"leak": "->/etc", "ok": b""}))
    try:
        assert ctx.resolve("leak/shadow") == os.path.join(ctx.root, "etc/shadow")
        assert ctx.resolve("../../x") == os.path.join(ctx.root, "x")
    finally:
        ctx.close()
