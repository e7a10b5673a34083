"""Lookups and walks over a stack of layer directories: overlayfs's merge rules, and no symlink
ever followed on the host."""

import os
import stat
from pathlib import Path

import pytest

from ballena.pkg import overlay


def _whiteout(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))


@pytest.fixture
def layers(tmp_path: Path) -> list[str]:
    lower, upper, host = tmp_path / "lower", tmp_path / "upper", tmp_path / "host"
    for d in (lower / "etc" / "app", lower / "data", upper / "etc", host):
        d.mkdir(parents=True)
    (host / "secret").write_text("host secret")
    (lower / "etc" / "app" / "conf").write_text("lower conf")
    (lower / "etc" / "gone").write_text("deleted above")
    (lower / "data" / "a").write_text("a")
    (upper / "etc" / "hostname").write_text("upper")
    os.symlink(str(host), lower / "etc" / "to-host")  # absolute: means the image's own path
    os.symlink("app", lower / "etc" / "app-link")
    os.symlink("/etc/app/conf", upper / "etc" / "abs-conf")
    os.symlink("/data", upper / "vol")
    return [str(upper), str(lower)]


def test_the_topmost_layer_wins(layers: list[str]) -> None:
    assert overlay.lookup_in_layers(layers, "etc/hostname") == os.path.join(layers[0], "etc/hostname")
    assert overlay.lookup_in_layers(layers, "etc/app/conf") == os.path.join(layers[1], "etc/app/conf")
    assert overlay.lookup_in_layers(layers, "nope") is None


def test_a_whiteout_hides_the_file(layers: list[str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("a whiteout is a device node")
    _whiteout(Path(layers[0]) / "etc" / "gone")
    assert overlay.lookup_in_layers(layers, "etc/gone") is None


def test_a_file_above_hides_a_directory_below(layers: list[str]) -> None:
    Path(layers[0], "data").write_text("now a file")
    assert overlay.lookup_in_layers(layers, "data/a") is None


def test_intermediate_symlinks_resolve_inside_the_layers_not_on_the_host(layers: list[str]) -> None:
    # etc/to-host -> <host dir>: resolved inside the stack, where that path does not exist
    assert overlay.lookup_in_layers(layers, "etc/to-host/secret") is None
    assert overlay.lookup_in_layers(layers, "etc/app-link/conf") == os.path.join(layers[1], "etc/app/conf")


def test_the_final_symlink_is_followed_only_when_asked(layers: list[str]) -> None:
    link = overlay.lookup_in_layers(layers, "etc/abs-conf")
    assert link is not None and os.path.islink(link)
    assert overlay.lookup_in_layers(layers, "etc/abs-conf", follow=True) == os.path.join(layers[1], "etc/app/conf")


def test_walk_union_merges_and_follows_a_linked_start(layers: list[str]) -> None:
    names = [p for p, _real, _st in overlay.walk_union(layers, "etc")]
    assert names == sorted(names, key=lambda p: p.split("/")) and "etc/hostname" in names and "etc/app/conf" in names
    assert [p for p, _r, _s in overlay.walk_union(layers, "vol")] == ["data/a"]
    assert list(overlay.walk_union(layers, "etc/to-host")) == []


def test_copy_from_layers_never_copies_host_files(layers: list[str], tmp_path: Path) -> None:
    dest = tmp_path / "volume"
    dest.mkdir()
    assert overlay.copy_from_layers(layers, "etc/to-host", str(dest)) is False
    assert list(dest.iterdir()) == []
    assert overlay.copy_from_layers(layers, "vol", str(dest)) is True
    assert (dest / "a").read_text() == "a"


def test_resolve_in_layers_gives_components(layers: list[str]) -> None:
    assert overlay.resolve_in_layers(layers, "etc/app-link/conf") == ["etc", "app", "conf"]
    assert overlay.resolve_in_layers(layers, "/../etc/./hostname") == ["etc", "hostname"]
    assert overlay.resolve_in_layers(layers, "etc/none/x") is None
