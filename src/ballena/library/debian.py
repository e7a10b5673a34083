"""``debian:bookworm`` and ``debian:bookworm-slim`` from debootstrap, as the official images are.

One ``debootstrap --variant=minbase`` is kept under the data root (``library/debootstrap-SUITE``)
so that later images, and an image removed then wanted again, need no second download. Each
image is a copy of it with what the official images remove removed (apt's lists and caches,
logs, device nodes, the machine ID), their apt and dpkg settings added, and, for the slim one,
documentation, manual pages and locales but C.UTF-8 gone and kept out of later installs.

Reproducible: every time is clamped to the Debian archive's own ``Date`` (the suite's Release
file), the ``SOURCE_DATE_EPOCH`` of the image, and the tar is written sorted with numeric
owners, so the same Debian snapshot gives the same layer and the same image ID.

Blocking: the daemon calls these on a worker thread.
"""

from __future__ import annotations

import email.utils
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from ballena.errors import InvalidArgument, SystemFailure

DEFAULT_MIRROR = "http://deb.debian.org/debian"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# What debian:*-slim's /etc/dpkg/dpkg.cfg.d/docker keeps out of every later install too.
DPKG_EXCLUDES = """\
# ballena: as the official slim image, no documentation, manual pages or translations
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
"""

APT_SETTINGS = {
    # The official images' /etc/apt/apt.conf.d, and no recommends: what a Dockerfile wants.
    "docker-clean": (
        'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb '
        '/var/cache/apt/*.bin || true"; };\n'
        'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb '
        '/var/cache/apt/*.bin || true"; };\n'
        'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n'
    ),
    "docker-autoremove-suggests": 'Apt::AutoRemove::SuggestsImportant "false";\n',
    "docker-gzip-indexes": 'Acquire::GzipIndexes "true";\nAcquire::CompressionTypes::Order:: "gz";\n',
    "docker-no-languages": 'Acquire::Languages "none";\n',
    "docker-no-recommends": 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n',
}


def mirror() -> str:
    return os.environ.get("BALLENA_DEBIAN_MIRROR", DEFAULT_MIRROR)


def debootstrap(cache: Path, suite: str, log: Callable[[str], None]) -> Path:
    """The cached minbase root of ``suite``, made on first use. Raises SystemFailure."""
    if not re.fullmatch(r"[a-z]+", suite):
        raise InvalidArgument(f"invalid Debian suite {suite!r}")
    root = cache / f"debootstrap-{suite}"
    done = cache / f"debootstrap-{suite}.done"
    if done.exists() and root.is_dir():
        log(f"Using the cached debootstrap of Debian {suite}")
        return root
    if shutil.which("debootstrap") is None:
        raise SystemFailure("debootstrap is not installed on the daemon's host: apt-get install debootstrap")
    cache.mkdir(parents=True, exist_ok=True)
    for stale in cache.glob(f"debootstrap-{suite}.partial-*"):  # of a daemon killed while it bootstrapped
        _unmount_under(stale)
        shutil.rmtree(stale, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    # A name of its own: the debootstrap of a killed daemon may write a little longer into its
    # own (until its next line of output meets the closed pipe and SIGPIPE ends it).
    partial = Path(tempfile.mkdtemp(prefix=f"debootstrap-{suite}.partial-", dir=cache))
    partial.chmod(0o755)
    log(f"debootstrap --variant=minbase {suite} {mirror()}")
    proc = subprocess.Popen(
        ["debootstrap", "--variant=minbase", suite, str(partial), mirror()],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        tail = [*tail[-20:], line.rstrip()]
        if line.startswith(("I: Retrieving", "I: Validating", "I: Extracting", "I: Configuring", "E:", "W:")):
            continue  # thousands of these; the stage lines below say enough
        log(line.rstrip())
    if proc.wait() != 0:
        _unmount_under(partial)  # a second stage that failed may leave /proc or /sys mounted
        shutil.rmtree(partial, ignore_errors=True)
        raise SystemFailure(f"debootstrap {suite} failed (exit {proc.returncode}): " + " | ".join(tail[-5:]))
    partial.rename(root)
    done.touch()
    return root


def _unmount_under(root: Path) -> None:
    prefix = str(root.resolve()) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f if line.split()[4].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def release_epoch(root: Path) -> int:
    """The archive's own date (``Date:`` of the suite's Release file): the SOURCE_DATE_EPOCH."""
    lists = root / "var/lib/apt/lists"
    for f in sorted(lists.glob("*_Release")) + sorted(lists.glob("*_InRelease")):
        for line in f.read_text(errors="replace").splitlines():
            if line.startswith("Date:"):
                return int(email.utils.parsedate_to_datetime(line[5:].strip()).timestamp())
    raise SystemFailure(f"no Release date in {lists}")


def prepare_rootfs(raw: Path, work: Path, *, suite: str, slim: bool) -> int:
    """Copy the debootstrap into ``work`` and make it the image's root. Returns its epoch."""
    epoch = release_epoch(raw)
    subprocess.run(["cp", "-a", "--reflink=auto", f"{raw}/.", str(work)], check=True)
    _clear(work / "var/lib/apt/lists", keep={"partial", "lock"})
    _clear(work / "var/cache/apt", keep={"archives"})
    _clear(work / "var/cache/apt/archives", keep={"partial", "lock"})
    _clear(work / "var/log", files_only=True)
    _clear(work / "dev")
    _clear(work / "run", keep={"lock"})
    _clear(work / "tmp")
    for junk in ("var/cache/ldconfig/aux-cache", "etc/hostname", "etc/resolv.conf", "etc/apt/sources.list"):
        (work / junk).unlink(missing_ok=True)
    for pattern in ("var/lib/dpkg/*-old", "var/cache/debconf/*-old"):
        for f in work.glob(pattern):
            f.unlink()
    (work / "etc/machine-id").write_text("")
    (work / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
    base = mirror().rstrip("/")
    security = base[: -len("/debian")] + "/debian-security" if base.endswith("/debian") else base + "-security"
    (work / "etc/apt/sources.list.d/debian.sources").write_text(
        f"Types: deb\nURIs: {base}\nSuites: {suite} {suite}-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        f"Types: deb\nURIs: {security}\nSuites: {suite}-security\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )
    for name, text in APT_SETTINGS.items():
        (work / "etc/apt/apt.conf.d" / name).write_text(text)
    _fix_shadow_dates(work / "etc/shadow", epoch)
    if slim:
        (work / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
        (work / "etc/dpkg/dpkg.cfg.d/docker").write_text(DPKG_EXCLUDES)
        _slim(work)
    return epoch


def _clear(d: Path, *, keep: set[str] = frozenset(), files_only: bool = False) -> None:  # type: ignore[assignment]
    if not d.is_dir():
        return
    for entry in d.iterdir():
        if entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            if files_only:
                _clear(entry, files_only=True)
            else:
                shutil.rmtree(entry)
        else:
            entry.unlink()


def _fix_shadow_dates(shadow: Path, epoch: int) -> None:
    """The "last changed" day is the day debootstrap ran; the archive's day instead."""
    if not shadow.exists():
        return
    day = str(epoch // 86400)
    lines = []
    for line in shadow.read_text().splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2]:
            fields[2] = day
        lines.append(":".join(fields))
    shadow.write_text("\n".join(lines) + "\n")


def _slim(root: Path) -> None:
    share = root / "usr/share"
    for d in (share / "doc").iterdir() if (share / "doc").is_dir() else []:
        if d.is_dir() and not d.is_symlink():
            for entry in d.iterdir():
                if entry.name != "copyright":
                    shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        elif not (d / "copyright").exists():
            d.unlink()
    for name in ("man", "info", "groff", "linda", "lintian"):
        _clear(share / name)
    _clear(share / "locale", keep={"locale.alias"})


def tar_rootfs(root: Path, epoch: int, out: Callable[[bytes], object]) -> None:
    """Write ``root`` as a reproducible tar to ``out``."""
    proc = subprocess.Popen(
        [
            "tar",
            "--sort=name",
            f"--mtime=@{epoch}",
            "--clamp-mtime",
            "--numeric-owner",
            "--format=pax",
            "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
            "--xattrs",
            "-C",
            str(root),
            "-cf",
            "-",
            ".",
        ],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    while chunk := proc.stdout.read(1 << 20):
        out(chunk)
    if proc.wait() != 0:
        raise SystemFailure(f"tar of {root} failed (exit {proc.returncode})")
