from pathlib import Path

from ballena.services.layers import Entry, analyse, scan


def F(path: str, size: int) -> Entry:
    return Entry(path, "file", size)


def D(path: str) -> Entry:
    return Entry(path, "dir")


def test_the_apt_lists_a_later_rm_hides_are_wasted_in_the_layer_that_holds_them() -> None:
    base = [D("etc"), F("etc/passwd", 100), D("var"), D("var/lib"), F("var/lib/status", 1000)]
    update = [D("var"), D("var/lib"), D("var/lib/lists"), F("var/lib/lists/a", 40_000), F("var/lib/lists/b", 2_000)]
    install = [D("usr"), F("usr/vim", 3_000_000), D("var"), D("var/lib"), F("var/lib/status", 1200)]
    clean = [D("var"), D("var/lib"), D("var/lib/lists"), Entry("var/lib/lists/a", "whiteout"), Entry("var/lib/lists/b", "whiteout")]  # fmt: skip
    r = analyse([base, update, install, clean], ["ADD rootfs", "RUN apt-get update", "RUN apt-get install vim", "RUN rm -rf lists"], ["c0", "c1", "c2", "c3"])  # fmt: skip
    assert [x.wasted for x in r] == [1000, 42_000, 0, 0]  # status overwritten; lists removed
    assert (r[1].added, r[1].size) == (2, 42_000)
    assert (r[2].added, r[2].changed) == (1, 1)
    assert r[3].removed == 2 and r[3].size == 0
    lists = {row["Path"]: row for row in r[1].tree}
    assert lists["/var/lib/lists/a"]["Wasted"] and lists["/var/lib/lists/a"]["Status"] == "added"
    assert {row["Status"] for row in r[3].tree if row["Path"].startswith("/var/lib/lists/")} == {"removed"}


def test_removing_a_directory_wastes_everything_under_it_and_opaque_hides_lower_content() -> None:
    base = [D("app"), D("app/cache"), F("app/cache/x", 10), F("app/cache/y", 20), F("app/keep", 5)]
    remove_dir = [D("app"), Entry("app/cache", "whiteout")]
    r = analyse([base, remove_dir], ["a", "b"], ["c0", "c1"])
    assert r[0].wasted == 30
    opaque = [Entry("app", "opaque"), F("app/new", 7)]
    r = analyse([base, opaque], ["a", "b"], ["c0", "c1"])
    assert r[0].wasted == 35 and (r[1].added, r[1].size) == (1, 7)


def test_scan_reads_a_layer_directory(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hosts").write_text("x" * 12)
    (tmp_path / "link").symlink_to("etc/hosts")
    (tmp_path / "etc/hard").hardlink_to(tmp_path / "etc/hosts")
    assert scan(tmp_path) == [
        Entry("etc", "dir"),
        Entry("etc/hard", "file", 12),
        Entry("etc/hosts", "file", 0),  # the same bytes, counted once
        Entry("link", "symlink", 9),
    ]
