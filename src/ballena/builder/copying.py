"""COPY and ADD: which files a step takes (from the build context, another stage or an image),
what they will be called in the image, and the layer tarball that holds them.

Sources are resolved inside their root (the context, or the merged layers of a stage or
image) the way Docker's FollowSymlinkInScope does: a symlink named as a source, or met on the
way to one, leads inside that root, never to the host's files. Inside a copied directory,
symlinks are copied as symlinks.
"""

from __future__ import annotations

import email.utils
import fnmatch
import hashlib
import io
import json
import os
import posixpath
import stat
import tarfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ballena.builder.context import looks_like_tar
from ballena.errors import BallenaError, InvalidArgument
from ballena.pkg import archive, overlay, users
from ballena.pkg.compression import detect, open_decompressed
from ballena.pkg.securejoin import secure_join

__all__ = ["CopyEntries", "CopyFailed", "Source", "collect", "write_layer"]

COPY_FLAGS = ("from", "chown", "chmod", "link", "checksum", "keep-git-dir", "exclude", "parents")


class CopyFailed(BallenaError):
    """A source of COPY/ADD cannot be had (missing, unreachable URL, bad checksum)."""


@dataclass(frozen=True, slots=True)
class Source:
    """Where a COPY reads: a context directory (``root``), or layer directories, top first."""

    root: str | None = None
    layers: tuple[str, ...] = ()


@dataclass
class CopyEntries:
    """What one COPY/ADD writes, and the hash of all of it (its cache key's part)."""

    files: list[tuple[str, str, os.stat_result, int, int, int | None]] = field(default_factory=list)
    blobs: list[tuple[str, bytes, int, int, int, int]] = field(default_factory=list)
    archives: list[tuple[str, str]] = field(default_factory=list)
    created_dirs: list[tuple[str, int, int, int]] = field(default_factory=list)
    dirs: bool = False
    content_hash: str = ""

    def new_dir(self, target: str, uid: int, gid: int, mode: int | None) -> None:
        """A destination directory COPY creates (0755, or --chmod; owned by --chown)."""
        self.created_dirs.append((target, uid, gid, mode if mode is not None else 0o755))

    def add(self, target: str, real: str, st: os.stat_result, uid: int, gid: int, mode: int | None, h: Any) -> None:
        self.files.append((target, real, st, uid, gid, mode))
        h.update(target.encode())
        h.update(f"{stat.S_IFMT(st.st_mode)}:{stat.S_IMODE(st.st_mode)}:{st.st_size}".encode())
        if stat.S_ISREG(st.st_mode):
            with open(real, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        elif stat.S_ISLNK(st.st_mode):
            h.update(os.readlink(real).encode())


def collect(
    cmd: str,
    src: Source,
    sources: list[str],
    dest: str,
    flags: dict[str, str],
    *,
    image_layers: list[str],
    download: Callable[[str, str | None], tuple[bytes, str, int]] | None = None,
) -> CopyEntries:
    """The entries of ``COPY``/``ADD sources... dest`` (``dest`` absolute) onto an image whose
    layers are ``image_layers`` (top first; for ``--chown`` names and existing directories).
    Raises InvalidArgument for a malformed step, CopyFailed for a missing source."""
    out = CopyEntries()
    matched: list[tuple[str, str, os.stat_result]] = []  # (relative source, real path, stat)
    remote: list[str] = []
    for s in sources:
        if urllib.parse.urlparse(s).scheme in ("http", "https"):
            if cmd != "add":
                raise InvalidArgument("source can't be a URL for COPY")
            remote.append(s)
            continue
        if s.startswith("..") or posixpath.normpath(s).startswith(".."):
            raise InvalidArgument(f"Forbidden path outside the build context: {s} ()")
        found = _glob(src, posixpath.normpath("/" + s).lstrip("/"))
        if not found:
            raise CopyFailed(
                f"COPY failed: file not found in build context or excluded by .dockerignore: stat {s}: file does not exist"
                if src.root is not None
                else f"COPY failed: stat {s}: file does not exist"
            )
        matched.extend(found)
    if len(matched) + len(remote) > 1 and not dest.endswith("/"):
        raise InvalidArgument(
            f"When using {cmd.upper()} with more than one source file, the destination must be a directory and end with a /"
        )
    uid = gid = 0
    if flags.get("chown"):
        uid, gid = owner(flags["chown"], image_layers)
    try:
        mode = int(flags["chmod"], 8) if flags.get("chmod") else None
    except ValueError:
        raise InvalidArgument(f"invalid chmod parameter: {flags['chmod']}") from None
    dest_is_dir = dest.endswith("/") or len(matched) + len(remote) > 1
    dest_clean = posixpath.normpath(dest)
    existing = _is_dir_in(image_layers, dest_clean)
    h = hashlib.sha256()
    h.update(json.dumps([dest, uid, gid, mode]).encode())
    for rel, real, st in matched:
        if stat.S_ISDIR(st.st_mode):
            out.dirs = True
            if not _is_dir_in(image_layers, dest_clean):
                out.new_dir(dest_clean, uid, gid, mode)
            for sub_rel, sub_real, sub_st in _walk(src, rel, real):
                out.add(posixpath.join(dest_clean, sub_rel), sub_real, sub_st, uid, gid, mode, h)
        elif cmd == "add" and stat.S_ISREG(st.st_mode) and _is_archive(real):
            out.archives.append((real, dest_clean))
            with open(real, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        else:
            target = posixpath.join(dest_clean, posixpath.basename(rel)) if dest_is_dir or existing else dest_clean
            out.add(target, real, st, uid, gid, mode, h)
    for url in remote:
        data, name, mtime = (download or fetch)(url, flags.get("checksum"))
        h.update(url.encode())
        h.update(hashlib.sha256(data).digest())
        target = posixpath.join(dest_clean, name) if (dest_is_dir or existing) else dest_clean
        out.blobs.append((target, data, mode if mode is not None else 0o600, uid, gid, mtime))
    out.content_hash = h.hexdigest()
    return out


def _glob(src: Source, pattern: str) -> list[tuple[str, str, os.stat_result]]:
    """The sources a (possibly wildcard) name matches, each resolved inside its root."""
    if src.root is not None:
        if not any(c in pattern for c in "*?["):
            real = secure_join(src.root, pattern)
            try:
                return [(pattern, real, os.lstat(real))]
            except (FileNotFoundError, NotADirectoryError):
                return []
        out = []
        for dirpath, dirnames, filenames in os.walk(src.root):
            for name in dirnames + filenames:
                rel = os.path.relpath(os.path.join(dirpath, name), src.root)
                if fnmatch.fnmatchcase(rel, pattern) and rel.count("/") == pattern.count("/"):
                    real = secure_join(src.root, rel)
                    try:
                        out.append((rel, real, os.lstat(real)))
                    except (FileNotFoundError, NotADirectoryError):
                        continue  # a link leading nowhere inside the context
        return sorted(out)
    found = overlay.lookup_in_layers(list(src.layers), pattern, follow=True)
    return [(pattern, found, os.lstat(found))] if found else []


def _walk(src: Source, rel: str, real: str) -> list[tuple[str, str, os.stat_result]]:
    """Everything under a source directory, as paths relative to it (symlinks not followed)."""
    out = []
    if src.root is not None:
        for dirpath, dirnames, filenames in os.walk(real):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                full = os.path.join(dirpath, name)
                out.append((os.path.relpath(full, real), full, os.lstat(full)))
        return out
    parts = overlay.resolve_in_layers(list(src.layers), rel, follow=True) or []
    base = "/".join(parts)
    for path, r, st in overlay.walk_union(list(src.layers), base):
        out.append((path[len(base) :].lstrip("/") if base else path, r, st))
    return out


def owner(spec: str, image_layers: list[str]) -> tuple[int, int]:
    """``--chown user[:group]`` as the image's /etc/passwd and /etc/group say. Raises
    InvalidArgument for a name the image does not have."""

    def read(rel: str) -> str | None:
        found = overlay.lookup_in_layers(image_layers, rel, follow=True)
        if found is None:
            return None
        with open(found, errors="replace") as f:
            return f.read()

    user, _, group = spec.partition(":")
    try:
        u = users.resolve(
            f"{user}:{group or user}" if group or not user.isdigit() else user, read("etc/passwd"), read("etc/group")
        )
    except InvalidArgument:
        if user.isdigit() and (not group or group.isdigit()):
            return int(user), int(group or user)
        raise
    return u.uid, u.gid if group or not user.isdigit() else int(user)


def _is_dir_in(layers: list[str], path: str) -> bool:
    found = overlay.lookup_in_layers(layers, path.lstrip("/"), follow=True)
    return found is not None and stat.S_ISDIR(os.lstat(found).st_mode)


def write_layer(entries: CopyEntries, out: BinaryIO, *, image_layers: list[str]) -> None:
    """A layer tarball of ``entries`` into ``out``, with the parent directories they need (kept
    as the image already has them)."""
    now = int(time.time())
    written: set[str] = set()
    with archive.tar_writer(out) as tf:

        def parents(path: str) -> None:
            parts = path.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d in written:
                    continue
                written.add(d)
                ti = tarfile.TarInfo(d + "/")
                ti.type = tarfile.DIRTYPE
                lower = overlay.lookup_in_layers(image_layers, d)
                if lower is not None and stat.S_ISDIR(os.lstat(lower).st_mode):
                    st = os.lstat(lower)
                    ti.mode, ti.uid, ti.gid, ti.mtime = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime)
                else:
                    ti.mode, ti.mtime = 0o755, now
                tf.addfile(ti)

        for target, duid, dgid, dmode in entries.created_dirs:
            rel = target.strip("/")
            if rel and rel not in written:
                parents(target)
                written.add(rel)
                ti = tarfile.TarInfo(rel + "/")
                ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = tarfile.DIRTYPE, dmode, duid, dgid, now
                tf.addfile(ti)
        for target, real, st, uid, gid, mode in entries.files:
            rel = target.strip("/")
            if not rel:
                continue
            parents(target)
            if rel in written and stat.S_ISDIR(st.st_mode):
                continue
            ti = tarfile.TarInfo(rel)
            ti.uid, ti.gid, ti.mtime = uid, gid, int(st.st_mtime)
            ti.mode = mode if mode is not None else stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                ti.type = tarfile.DIRTYPE
                written.add(rel)
                tf.addfile(ti)
            elif stat.S_ISLNK(st.st_mode):
                ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(real)
                tf.addfile(ti)
            elif stat.S_ISREG(st.st_mode):
                ti.size = st.st_size
                with open(real, "rb") as f:
                    tf.addfile(ti, f)
        for target, data, mode, uid, gid, mtime in entries.blobs:
            parents(target)
            ti = tarfile.TarInfo(target.strip("/"))
            ti.size, ti.mode, ti.uid, ti.gid, ti.mtime = len(data), mode, uid, gid, mtime
            tf.addfile(ti, io.BytesIO(data))
        for src, dest in entries.archives:
            d = dest.strip("/")
            if d:
                parents(d + "/x")
            with open(src, "rb") as raw:
                stream, _ = open_decompressed(raw)
                with tarfile.open(fileobj=stream, mode="r|") as inner:
                    for m in inner:
                        name = archive.clean_path(m.name)
                        if not name:
                            continue
                        m.name = f"{d}/{name}" if d else name
                        if m.islnk():
                            m.linkname = f"{d}/{archive.clean_path(m.linkname)}" if d else m.linkname
                        tf.addfile(m, inner.extractfile(m) if m.isreg() else None)


def _is_archive(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    if detect(head) != "none" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return tarfile.is_tarfile(path)
    return looks_like_tar(head)


def fetch(url: str, checksum: str | None) -> tuple[bytes, str, int]:
    """ADD's remote source: its bytes, file name and modification time. Raises CopyFailed."""
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            data = resp.read()
            modified = resp.headers.get("Last-Modified")
    except OSError as e:
        raise CopyFailed(f"failed to download {url}: {e}") from None
    if checksum:
        algo, _, expected = checksum.partition(":")
        if algo != "sha256" or hashlib.sha256(data).hexdigest() != expected:
            raise CopyFailed(
                f"checksum mismatch for {url}: expected {checksum}, got sha256:{hashlib.sha256(data).hexdigest()}"
            )
    name = posixpath.basename(urllib.parse.urlparse(url).path) or "index.html"
    mtime = int(time.time())
    if modified:
        mtime = int(email.utils.parsedate_to_datetime(modified).timestamp())
    return data, name, mtime
