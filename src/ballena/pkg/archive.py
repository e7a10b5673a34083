"""Layer tarballs and overlayfs directories, converted both ways.

An OCI layer marks a deleted path ``d/x`` with an empty entry ``d/.wh.x`` and a directory whose
lower content is hidden with ``d/.wh..wh..opq``. overlayfs marks the same with a character
device 0:0 at ``d/x`` and the xattr ``trusted.overlay.opaque=y`` on ``d``. A layer is unpacked
into an empty directory that becomes an overlay lower (or upper) directory as it is; a container's
upper directory is packed back into an OCI layer for commit and build. Reading a stack of such
directories as one tree is `pkg/overlay.py`.

Paths in a tarball are untrusted: ``..``, absolute names and writes through symlinks never leave
the destination.
"""

from __future__ import annotations

import errno
import functools
import io
import os
import queue
import shutil
import stat
import tarfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from ballena.errors import InvalidArgument
from ballena.pkg.overlay import OPAQUE_XATTR, content_xattrs, is_opaque, is_whiteout_device, lookup_in_layers

WHITEOUT_PREFIX = ".wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
WHITEOUT_META_PREFIX = ".wh..wh."
_PAX_XATTR = "SCHILY.xattr."
_COPY_CHUNK = 1 << 20


def clean_path(name: str) -> str:
    """A tar member name as a relative path inside the layer: ``""`` is the root.

    Raises InvalidArgument for names that climb out of it.
    """
    parts: list[str] = []
    for part in name.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise InvalidArgument(f"invalid path in layer: {name!r} climbs out of the root")
        parts.append(part)
    return "/".join(parts)


def _remove_any(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


class _Extractor:
    """Writes members under ``root`` without ever following a symlink the layer planted."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        self._safe_dirs: set[str] = {""}
        self.dir_times: list[tuple[str, float]] = []
        self.size = 0

    def _ensure_parent(self, rel_parent: str) -> str:
        if rel_parent in self._safe_dirs:
            return os.path.join(self.root, rel_parent) if rel_parent else self.root
        path = self.root
        acc = ""
        for part in rel_parent.split("/"):
            acc = f"{acc}/{part}" if acc else part
            path = os.path.join(path, part)
            if acc in self._safe_dirs:
                continue
            try:
                st = os.lstat(path)
                if not stat.S_ISDIR(st.st_mode):
                    # A file or symlink where the layer needs a directory: the layer wins.
                    os.unlink(path)
                    os.mkdir(path, 0o755)
            except FileNotFoundError:
                os.mkdir(path, 0o755)
            self._safe_dirs.add(acc)
        return path

    def apply(self, tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        rel = clean_path(member.name)
        if not rel:
            if member.isdir():
                self._set_meta(self.root, member, is_dir=True)
            return
        parent_rel, _, base = rel.rpartition("/")
        parent = self._ensure_parent(parent_rel)
        if base == WHITEOUT_OPAQUE:
            os.setxattr(parent, OPAQUE_XATTR, b"y")
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return  # other AUFS metadata files carry nothing overlay needs
        if base.startswith(WHITEOUT_PREFIX):
            target = os.path.join(parent, base[len(WHITEOUT_PREFIX) :])
            _remove_any(target)
            os.mknod(target, stat.S_IFCHR | 0o600, os.makedev(0, 0))
            self._safe_dirs.discard(rel[: -len(base)] + base[len(WHITEOUT_PREFIX) :])
            return
        path = os.path.join(parent, base)
        try:
            st = os.lstat(path)
            if not (member.isdir() and stat.S_ISDIR(st.st_mode)):
                _remove_any(path)
                self._forget(rel)
        except FileNotFoundError:
            pass
        if member.isdir():
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass
            self._safe_dirs.add(rel)
        elif member.isreg():
            src = tf.extractfile(member)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                assert src is not None
                remaining = member.size
                while remaining > 0:
                    chunk = src.read(min(_COPY_CHUNK, remaining))
                    if not chunk:
                        raise InvalidArgument(f"unexpected end of layer while reading {rel!r}")
                    os.write(fd, chunk)
                    remaining -= len(chunk)
            finally:
                os.close(fd)
            self.size += member.size
        elif member.issym():
            os.symlink(member.linkname, path)
        elif member.islnk():
            target_rel = clean_path(member.linkname)
            target = os.path.join(self.root, target_rel)
            if not target_rel or not os.path.realpath(os.path.dirname(target)).startswith(self.root):
                raise InvalidArgument(f"invalid hardlink {rel!r} -> {member.linkname!r}")
            try:
                os.link(target, path, follow_symlinks=False)
            except FileNotFoundError:
                raise InvalidArgument(f"hardlink {rel!r} points to missing {member.linkname!r}") from None
            return  # a hard link shares the target's metadata
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(path, kind | (member.mode & 0o7777), os.makedev(member.devmajor, member.devminor))
        elif member.isfifo():
            os.mkfifo(path, member.mode & 0o7777)
        else:
            return  # sockets and unknown types are not part of an image
        self._set_meta(path, member, is_dir=member.isdir())

    def _forget(self, rel: str) -> None:
        prefix = rel + "/"
        self._safe_dirs = {d for d in self._safe_dirs if d != rel and not d.startswith(prefix)}

    def _set_meta(self, path: str, member: tarfile.TarInfo, *, is_dir: bool) -> None:
        _set_meta(path, member, times=not is_dir)
        if is_dir:
            self.dir_times.append((path, member.mtime))

    def finish(self) -> None:
        # Directory times last: creating children changed them.
        for path, mtime in reversed(self.dir_times):
            try:
                os.utime(path, (mtime, mtime), follow_symlinks=False)
            except FileNotFoundError:
                pass


def _set_owner_and_xattrs(target: str | int, member: tarfile.TarInfo, *, chown: bool = True) -> None:
    """The owner and content xattrs of an unpacked ``member``, on ``target``: a path (never
    followed) or an open descriptor."""
    if chown:
        try:
            if isinstance(target, int):
                os.fchown(target, member.uid, member.gid)
            else:
                os.lchown(target, member.uid, member.gid)
        except OSError as e:  # an unprivileged test run cannot chown
            if e.errno != errno.EPERM:
                raise
    for key, value in member.pax_headers.items():
        if key.startswith(_PAX_XATTR):
            try:
                raw = value.encode("utf-8", "surrogateescape")
                os.setxattr(target, key[len(_PAX_XATTR) :], raw, follow_symlinks=isinstance(target, int))
            except OSError:
                pass  # e.g. security.* needing privileges the caller lacks


def _set_meta(path: str, member: tarfile.TarInfo, *, times: bool) -> None:
    """Owner, content xattrs, mode and (with ``times``) mtime of an unpacked ``member``."""
    _set_owner_and_xattrs(path, member)
    if member.issym():
        os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)
        return
    os.chmod(path, member.mode & 0o7777)  # after chown, which clears set-id bits
    if times:
        os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)


COPY_BUFSIZE = 1 << 20


class Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _Position:
    """A write-only stream that counts what went through (all tarfile's "w" mode asks)."""

    def __init__(self, out: Writable) -> None:
        self._out = out
        self._pos = 0

    def write(self, data: bytes) -> int:
        self._out.write(data)
        self._pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        flush = getattr(self._out, "flush", None)
        if flush is not None:
            flush()


def tar_writer(out: Writable, *, copybufsize: int = COPY_BUFSIZE) -> tarfile.TarFile:
    """A PAX tar writer straight onto ``out``, which need not seek.

    Not tarfile's stream mode ("w|"): that one gathers output in an immutable buffer it
    copies on every append, and copies file data in 16 KiB pieces; here file data goes out
    in ``copybufsize`` writes (1 MiB unless told otherwise), as fast as the disk gives it.
    """
    return tarfile.open(  # type: ignore[call-overload, no-any-return]
        fileobj=_Position(out), mode="w", format=tarfile.PAX_FORMAT, copybufsize=copybufsize
    )


def apply_layer(stream: BinaryIO, dest: str) -> int:
    """Unpack an uncompressed OCI layer stream into the empty directory ``dest``, whiteouts as
    overlayfs wants them. Returns the layer's size (bytes of regular files).

    Raises InvalidArgument for a malformed or truncated archive.
    """
    ex = _Extractor(dest)
    try:
        with tarfile.open(fileobj=stream, mode="r|", errorlevel=2) as tf:
            for member in tf:
                ex.apply(tf, member)
    except (tarfile.TarError, EOFError) as e:
        raise InvalidArgument(f"invalid tar archive: {e}") from None
    ex.finish()
    return ex.size


# --- From an overlay upper directory back to an OCI layer ---------------------------------------


def _tarinfo_for(path: str, arcname: str, st: os.stat_result) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(arcname)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.uname = ti.gname = ""
    ti.mtime = int(st.st_mtime)
    if stat.S_ISDIR(st.st_mode):
        ti.type = tarfile.DIRTYPE
    elif stat.S_ISREG(st.st_mode):
        ti.type = tarfile.REGTYPE
        ti.size = st.st_size
    elif stat.S_ISLNK(st.st_mode):
        ti.type = tarfile.SYMTYPE
        ti.linkname = os.readlink(path)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        ti.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(st.st_mode):
        ti.type = tarfile.FIFOTYPE
    else:
        raise ValueError("socket")
    xattrs = content_xattrs(path)
    if xattrs:
        ti.pax_headers = {_PAX_XATTR + k: v.decode("utf-8", "surrogateescape") for k, v in xattrs.items()}
    return ti


@dataclass(frozen=True, slots=True)
class _Entry:
    rel: str
    path: str
    st: os.stat_result


def _walk(root: str, rel: str = "") -> Iterator[_Entry]:
    base = os.path.join(root, rel) if rel else root
    try:
        names = sorted(os.listdir(base))
    except FileNotFoundError:
        return
    for name in names:
        child_rel = f"{rel}/{name}" if rel else name
        path = os.path.join(base, name)
        st = os.lstat(path)
        yield _Entry(child_rel, path, st)
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, child_rel)


def write_layer_from_upper(upper: str, out: BinaryIO, *, mirror: str | None = None) -> int:
    """Pack an overlay upper directory as an OCI layer into ``out``. Returns the content size.

    ``mirror``: an empty directory that receives, meanwhile, what ``apply_layer`` would unpack
    from that layer (commit's new layer, with no tar to parse in between; see ``_Mirror``)."""
    size = 0
    hardlinks: dict[tuple[int, int], str] = {}
    copy = _Mirror(mirror) if mirror is not None else None
    try:
        with tar_writer(out) as tf:
            for e in _walk(upper):
                if is_whiteout_device(e.st):
                    parent, _, name = e.rel.rpartition("/")
                    wh = tarfile.TarInfo(f"{parent}/{WHITEOUT_PREFIX}{name}" if parent else WHITEOUT_PREFIX + name)
                    wh.mtime = int(e.st.st_mtime)
                    wh.mode = 0o600
                    tf.addfile(wh)
                    if copy is not None:
                        copy.whiteout(e.rel)
                    continue
                try:
                    ti = _tarinfo_for(e.path, e.rel + ("/" if stat.S_ISDIR(e.st.st_mode) else ""), e.st)
                except ValueError:
                    continue
                if stat.S_ISREG(e.st.st_mode) and e.st.st_nlink > 1:
                    key = (e.st.st_dev, e.st.st_ino)
                    if key in hardlinks:
                        ti.type = tarfile.LNKTYPE
                        ti.linkname = hardlinks[key]
                        ti.size = 0
                        tf.addfile(ti)
                        if copy is not None:
                            copy.hardlink(e.rel, ti.linkname)
                        continue
                    hardlinks[key] = e.rel
                data = None
                if ti.type == tarfile.REGTYPE:
                    with open(e.path, "rb") as f:
                        if copy is not None and ti.size <= _READ_ONCE:
                            data = f.read(ti.size)  # read once, for the tar and the copy
                            tf.addfile(ti, io.BytesIO(data))
                        else:
                            tf.addfile(ti, f)
                    size += ti.size
                else:
                    tf.addfile(ti)
                opaque = stat.S_ISDIR(e.st.st_mode) and is_opaque(e.path)
                if opaque:
                    op = tarfile.TarInfo(f"{e.rel}/{WHITEOUT_OPAQUE}")
                    op.mtime = int(e.st.st_mtime)
                    op.mode = 0o600
                    tf.addfile(op)
                if copy is not None:
                    copy.entry(e, ti, opaque=opaque, data=data)
        if copy is not None:
            copy.finish()
    finally:
        if copy is not None:
            copy.stop()
    return size


class _Mirror:
    """What ``apply_layer`` would unpack from the layer being packed, made from the upper
    directory itself: for commit, the new layer with no tar parsed back (which cost the old way
    a third of its CPU, and its GIL fights with the packing thread).

    Files are made by a worker thread (the kernel copies their content: ``copy_file_range``)
    while the walking thread writes the tar; directories by the walking thread, in order,
    before their children; hard links, and directory times (which creating children changes),
    come last. The result is the unpacked layer's: integer mtimes, content xattrs only,
    whiteouts as 0:0 devices, opaque directories marked.

    One worker, not more: creating a file costs this disk 35-130 us, nearly all of it under
    the directory's lock, and more threads only spin on it (10,000 files: 1.7-2.0 s of CPU
    with one worker, 3.1-3.6 s with two, the same wall time or worse)."""

    THREADS = 1

    def __init__(self, dest: str) -> None:
        self.dest = os.path.realpath(dest)
        self.jobs: queue.SimpleQueue[tuple[str, str, tarfile.TarInfo, bytes | None] | None] = queue.SimpleQueue()
        self.errors: list[BaseException] = []
        self.links: list[tuple[str, str]] = []
        self.dir_times: list[tuple[str, float]] = []
        self.threads = [
            threading.Thread(target=self._work, name="commit-files", daemon=True) for _ in range(self.THREADS)
        ]
        for t in self.threads:
            t.start()

    def entry(self, e: _Entry, ti: tarfile.TarInfo, *, opaque: bool, data: bytes | None = None) -> None:
        """``data``: a regular file's content, when the walk has read it already."""
        path = os.path.join(self.dest, e.rel)
        if ti.isdir():
            os.mkdir(path, 0o700)
            _set_meta(path, ti, times=False)
            if opaque:
                os.setxattr(path, OPAQUE_XATTR, b"y")
            self.dir_times.append((path, ti.mtime))
        else:
            self.jobs.put((e.path, path, ti, data))

    def whiteout(self, rel: str) -> None:
        self.jobs.put(("", os.path.join(self.dest, rel), _WHITEOUT, None))

    def hardlink(self, rel: str, target_rel: str) -> None:
        self.links.append((os.path.join(self.dest, target_rel), os.path.join(self.dest, rel)))

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            if self.errors:
                continue  # the commit fails: drain the queue without doing more
            try:
                _make_leaf(*job)
            except BaseException as e:
                self.errors.append(e)

    def stop(self) -> None:
        """Let the threads go (idempotent); what they had left to do is dropped."""
        if not self.threads:
            return
        for _ in self.threads:
            self.jobs.put(None)
        for t in self.threads:
            t.join()
        self.threads = []

    def finish(self) -> None:
        self.stop()
        if self.errors:
            raise self.errors[0]
        for target, path in self.links:
            os.link(target, path, follow_symlinks=False)
        for path, mtime in reversed(self.dir_times):
            os.utime(path, (mtime, mtime), follow_symlinks=False)


_WHITEOUT = tarfile.TarInfo("whiteout")  # a marker: made as apply_layer makes a whiteout
# Files up to this size are read once by the walk, for both the tar and the new layer's copy.
_READ_ONCE = 1 << 16


def _make_leaf(src: str, path: str, ti: tarfile.TarInfo, data: bytes | None) -> None:
    if ti is _WHITEOUT:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))
        return
    if ti.isreg():
        _copy_file(src, path, ti, data)
        return
    if ti.issym():
        os.symlink(ti.linkname, path)
    elif ti.ischr() or ti.isblk():
        kind = stat.S_IFCHR if ti.ischr() else stat.S_IFBLK
        os.mknod(path, kind | (ti.mode & 0o7777), os.makedev(ti.devmajor, ti.devminor))
    elif ti.isfifo():
        os.mkfifo(path, ti.mode & 0o7777)
    _set_meta(path, ti, times=True)


def _copy_file(src: str, dst: str, ti: tarfile.TarInfo, data: bytes | None) -> None:
    """The new file ``dst`` with ``data``, or ``ti.size`` bytes of ``src`` (copied by the
    kernel), and the metadata ``_set_meta`` gives an unpacked file, set through its descriptor:
    no path lookups in a directory that may hold thousands of names, and no chmod when the
    mode it was created with stands (each inode update costs this disk ~20 us)."""
    mode = ti.mode & 0o7777
    dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode & 0o777)
    try:
        if data is not None:
            view = memoryview(data)
            while view:
                view = view[os.write(dfd, view) :]
        else:
            _copy_content(src, dfd, ti.size)
        chowned = bool(ti.uid or ti.gid)  # made by root: 0:0 already
        _set_owner_and_xattrs(dfd, ti, chown=chowned)
        if chowned or mode & 0o7000 or mode & _umask():
            os.fchmod(dfd, mode)  # after chown, which clears set-id bits
        os.utime(dfd, (ti.mtime, ti.mtime))
    finally:
        os.close(dfd)


def _copy_content(src: str, dfd: int, size: int) -> None:
    sfd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        left = size
        while left > 0:
            try:
                n = os.copy_file_range(sfd, dfd, left)
            except OSError as e:
                if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                n = os.write(dfd, os.read(sfd, min(left, COPY_BUFSIZE)))
            if n == 0:
                raise OSError(errno.EIO, f"{src} shrank while it was committed")
            left -= n
    finally:
        os.close(sfd)


@functools.cache
def _umask() -> int:
    """This process's umask, read where reading it changes nothing (``os.umask`` would set it,
    for every thread, for a moment)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o777  # unknown: always chmod


def write_tree(root: str, out: BinaryIO, *, prefix: str = "", skip: Iterable[str] = ()) -> None:
    """A plain tar of a directory tree (``docker export`` of a mounted root filesystem)."""
    skipped = {clean_path(s) for s in skip}
    hardlinks: dict[tuple[int, int], str] = {}
    with tar_writer(out) as tf:
        for e in _walk(root):
            if any(e.rel == s or e.rel.startswith(s + "/") for s in skipped):
                continue
            name = f"{prefix}{e.rel}"
            try:
                ti = _tarinfo_for(e.path, name + ("/" if stat.S_ISDIR(e.st.st_mode) else ""), e.st)
            except ValueError:
                continue
            if stat.S_ISREG(e.st.st_mode) and e.st.st_nlink > 1:
                key = (e.st.st_dev, e.st.st_ino)
                if key in hardlinks:
                    ti.type, ti.linkname, ti.size = tarfile.LNKTYPE, hardlinks[key], 0
                    tf.addfile(ti)
                    continue
                hardlinks[key] = name
            if ti.type == tarfile.REGTYPE:
                with open(e.path, "rb") as f:
                    tf.addfile(ti, f)
            else:
                tf.addfile(ti)


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One line of ``docker diff``: kind 0 modified (C), 1 added (A), 2 deleted (D)."""

    path: str
    kind: int


def overlay_changes(upper: str, lowers: list[str]) -> list[Change]:
    """What ``docker diff`` reports for a container whose writable layer is ``upper``."""
    out: list[Change] = []
    for e in _walk(upper):
        path = "/" + e.rel
        if is_whiteout_device(e.st):
            out.append(Change(path=path, kind=2))
            continue
        out.append(Change(path=path, kind=0 if lookup_in_layers(lowers, e.rel) is not None else 1))
    out.sort(key=lambda c: c.path)
    return out
