"""COPY sources: resolved inside the context or the stage, and what the layer records."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from ballena.builder.copying import CopyFailed, Source, collect, write_layer
from ballena.errors import InvalidArgument


@pytest.fixture
def context(tmp_path: Path) -> Path:
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret").write_text("HOST SECRET")
    ctx = tmp_path / "ctx"
    (ctx / "app" / "sub").mkdir(parents=True)
    (ctx / "app" / "main.py").write_text("print(1)")
    (ctx / "app" / "sub" / "lib.py").write_text("x = 1")
    (ctx / "a.txt").write_text("a")
    (ctx / "b.txt").write_text("b")
    os.symlink(str(host), ctx / "leak")  # an absolute link: means the context's own path
    os.symlink("a.txt", ctx / "alias")
    os.symlink("/etc/passwd", ctx / "app" / "inner-link")
    return ctx


def _collect(ctx: Path, sources: list[str], dest: str) -> list[tuple[str, str]]:
    entries = collect("copy", Source(root=str(ctx)), sources, dest, {}, image_layers=[])
    return [(target, real) for target, real, *_ in entries.files]


def test_a_symlink_to_a_host_directory_does_not_leak(context: Path) -> None:
    with pytest.raises(CopyFailed):
        _collect(context, ["leak/secret"], "/x")


def test_a_symlink_source_is_followed_inside_the_context(context: Path) -> None:
    assert _collect(context, ["alias"], "/dst") == [("/dst", str(context / "a.txt"))]


def test_a_directory_is_walked_and_inner_links_copied_as_links(context: Path) -> None:
    got = dict(_collect(context, ["app"], "/srv/"))
    assert set(got) == {"/srv/main.py", "/srv/sub", "/srv/sub/lib.py", "/srv/inner-link"}
    assert os.path.islink(got["/srv/inner-link"])


def test_wildcards_and_several_sources_need_a_directory(context: Path) -> None:
    assert sorted(t for t, _ in _collect(context, ["*.txt"], "/d/")) == ["/d/a.txt", "/d/b.txt"]
    with pytest.raises(InvalidArgument):
        _collect(context, ["a.txt", "b.txt"], "/d")


@pytest.mark.parametrize("src", ["../outside", "../../etc/passwd"])
def test_sources_outside_the_context_are_forbidden(context: Path, src: str) -> None:
    with pytest.raises(InvalidArgument):
        _collect(context, [src], "/x")


def test_copy_refuses_urls(context: Path) -> None:
    with pytest.raises(InvalidArgument):
        _collect(context, ["http://example.invalid/x"], "/x")


def test_stage_sources_resolve_inside_the_stage(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    (layer / "etc").mkdir(parents=True)
    (tmp_path / "hostfile").write_text("HOST")
    os.symlink(str(tmp_path), layer / "etc" / "up")
    with pytest.raises(CopyFailed):
        collect("copy", Source(layers=(str(layer),)), ["etc/up/hostfile"], "/x", {}, image_layers=[])


def test_the_layer_holds_the_files_with_owner_and_mode(context: Path) -> None:
    entries = collect(
        "copy", Source(root=str(context)), ["a.txt"], "/opt/dir/", {"chown": "7:8", "chmod": "600"}, image_layers=[]
    )
    buf = io.BytesIO()
    write_layer(entries, buf, image_layers=[])
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tf:
        members = {m.name: m for m in tf.getmembers()}
    assert set(members) == {"opt", "opt/dir", "opt/dir/a.txt"}
    f = members["opt/dir/a.txt"]
    assert (f.uid, f.gid, f.mode) == (7, 8, 0o600)


def test_the_content_hash_changes_with_the_content(context: Path) -> None:
    first = collect("copy", Source(root=str(context)), ["a.txt"], "/x", {}, image_layers=[]).content_hash
    (context / "a.txt").write_text("changed")
    assert collect("copy", Source(root=str(context)), ["a.txt"], "/x", {}, image_layers=[]).content_hash != first
