import hashlib
from pathlib import Path

from ballena.library import debian


def _raw(root: Path) -> Path:
    """A tiny stand-in for a debootstrap: the files the image making touches."""
    raw = root / "raw"
    for d in ("var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/log/apt", "dev", "run/lock",
              "tmp", "etc/apt/apt.conf.d", "usr/share/doc/bash", "usr/share/man/man1", "usr/share/locale/de",
              "var/lib/dpkg", "var/cache/debconf", "var/cache/ldconfig"):  # fmt: skip
        (raw / d).mkdir(parents=True, exist_ok=True)
    files = {
        "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_Release": "Origin: Debian\nDate: Sat, 10 May 2025 10:00:00 UTC\n",
        "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages": "x" * 1000,
        "var/cache/apt/pkgcache.bin": "cache",
        "var/cache/apt/archives/bash_5.2_amd64.deb": "deb",
        "var/log/apt/history.log": "today",
        "var/log/bootstrap.log": "today",
        "var/cache/ldconfig/aux-cache": "random",
        "var/lib/dpkg/status-old": "old",
        "var/cache/debconf/config.dat-old": "old",
        "etc/hostname": "builder",
        "etc/resolv.conf": "nameserver 10.0.0.1",
        "etc/machine-id": "0123456789abcdef",
        "etc/apt/sources.list": "deb http://deb.debian.org/debian bookworm main",
        "etc/shadow": "root:*:20424:0:99999:7:::\nnobody:*:20424:0:99999:7:::\n",
        "usr/share/doc/bash/copyright": "GPL",
        "usr/share/doc/bash/README": "docs",
        "usr/share/man/man1/bash.1.gz": "man",
        "usr/share/locale/locale.alias": "aliases",
        "usr/share/locale/de/bash.mo": "de",
        "bin/bash": "ELF",
    }
    for rel, text in files.items():
        (raw / rel).parent.mkdir(parents=True, exist_ok=True)
        (raw / rel).write_text(text)
    return raw


def test_the_slim_root_keeps_what_the_official_slim_image_keeps(tmp_path: Path) -> None:
    raw = _raw(tmp_path)
    work = tmp_path / "slim"
    epoch = debian.prepare_rootfs(raw, work, suite="bookworm", slim=True)
    assert epoch == 1746871200
    assert not list((work / "var/lib/apt/lists").glob("*Packages*")) and (work / "var/lib/apt/lists/partial").is_dir()
    gone = ["var/cache/apt/pkgcache.bin", "var/cache/apt/archives/bash_5.2_amd64.deb", "var/log/apt/history.log",
            "var/log/bootstrap.log", "var/cache/ldconfig/aux-cache", "var/lib/dpkg/status-old",
            "var/cache/debconf/config.dat-old", "etc/hostname", "etc/resolv.conf", "etc/apt/sources.list",
            "usr/share/doc/bash/README", "usr/share/man/man1", "usr/share/locale/de"]  # fmt: skip
    assert [g for g in gone if (work / g).exists()] == []
    for kept in ("usr/share/doc/bash/copyright", "usr/share/locale/locale.alias", "bin/bash", "var/log/apt"):
        assert (work / kept).exists(), kept
    assert (work / "etc/machine-id").read_text() == ""
    assert "Suites: bookworm-security" in (work / "etc/apt/sources.list.d/debian.sources").read_text()
    assert 'APT::Install-Recommends "false"' in (work / "etc/apt/apt.conf.d/docker-no-recommends").read_text()
    assert "path-exclude /usr/share/man/*" in (work / "etc/dpkg/dpkg.cfg.d/docker").read_text()
    assert (work / "etc/shadow").read_text().splitlines()[0] == f"root:*:{epoch // 86400}:0:99999:7:::"
    assert (raw / "usr/share/doc/bash/README").exists()  # the cached debootstrap is untouched


def test_the_full_root_keeps_documentation(tmp_path: Path) -> None:
    work = tmp_path / "full"
    debian.prepare_rootfs(_raw(tmp_path), work, suite="bookworm", slim=False)
    assert (work / "usr/share/doc/bash/README").exists() and not (work / "etc/dpkg/dpkg.cfg.d/docker").exists()


def test_the_same_snapshot_gives_the_same_tar(tmp_path: Path) -> None:
    digests = []
    for n in range(2):
        work = tmp_path / f"w{n}"
        epoch = debian.prepare_rootfs(_raw(tmp_path / f"r{n}"), work, suite="bookworm", slim=True)
        h = hashlib.sha256()
        debian.tar_rootfs(work, epoch, h.update)
        digests.append(h.hexdigest())
    assert digests[0] == digests[1]
