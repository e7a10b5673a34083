"""File operations on a container's filesystem, run in a helper forked from the zygote: the
``docker cp`` archive endpoints and ``docker export``.

The helper sees exactly what the container sees, and nothing of the host:

- a running container: it joins the container's mount namespace (root, volumes, binds);
- a stopped one (or an export): it makes a private mount namespace, mounts the container's
  root filesystem (and for ``cp`` its volumes and binds) there, and chroots into it.

Either way an absolute symlink inside the container resolves inside the container (Docker's
"chrootarchive" idea), and no mount is ever visible on the host, so a crash leaks nothing.

Protocol: the request is the config (``config.FileHelperConfig``); tar bytes travel as
``framing`` data frames (``0`` in, ``1`` out) and the result is a final JSON frame
``{"done": true, ...}``, with ``error`` and ``kind`` (a ``ballena.errors`` kind) on failure.
"""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import stat
import tarfile
import time
from typing import Any

from ballena.errors import BallenaError, Forbidden, InvalidArgument, NotFound, kind_name
from ballena.pkg import archive, httpbody, linux
from ballena.pkg import framing as proto
from ballena.pkg.securejoin import secure_join
from ballena.runtime import native
from ballena.shim.config import FileHelperConfig

# Go's os.FileMode type bits, which the docker CLI reads in the path-stat header.
_GO_MODE_DIR = 1 << 31
_GO_MODE_SYMLINK = 1 << 27
_GO_MODE_DEVICE = 1 << 26
_GO_MODE_NAMED_PIPE = 1 << 25
_GO_MODE_SOCKET = 1 << 24
_GO_MODE_SETUID = 1 << 23
_GO_MODE_SETGID = 1 << 22
_GO_MODE_CHAR_DEVICE = 1 << 21
_GO_MODE_STICKY = 1 << 20


def go_file_mode(st: os.stat_result) -> int:
    mode = stat.S_IMODE(st.st_mode) & 0o777
    fmt = stat.S_IFMT(st.st_mode)
    if fmt == stat.S_IFDIR:
        mode |= _GO_MODE_DIR
    elif fmt == stat.S_IFLNK:
        mode |= _GO_MODE_SYMLINK
    elif fmt == stat.S_IFIFO:
        mode |= _GO_MODE_NAMED_PIPE
    elif fmt == stat.S_IFSOCK:
        mode |= _GO_MODE_SOCKET
    elif fmt == stat.S_IFBLK:
        mode |= _GO_MODE_DEVICE
    elif fmt == stat.S_IFCHR:
        mode |= _GO_MODE_DEVICE | _GO_MODE_CHAR_DEVICE
    if st.st_mode & stat.S_ISUID:
        mode |= _GO_MODE_SETUID
    if st.st_mode & stat.S_ISGID:
        mode |= _GO_MODE_SETGID
    if st.st_mode & stat.S_ISVTX:
        mode |= _GO_MODE_STICKY
    return mode


def path_stat(path: str) -> dict[str, Any]:
    """What ``X-Docker-Container-Path-Stat`` carries for ``path`` (inside the chroot)."""
    clean = os.path.normpath(path) if path not in ("", "/") else "/"
    resolved = secure_join("/", clean)
    try:
        st = os.lstat(resolved)
    except FileNotFoundError:
        raise NotFound(f"Could not find the file {path} in container") from None
    link = ""
    if stat.S_ISLNK(st.st_mode):
        link = secure_join("/", os.path.join(os.path.dirname(clean), os.readlink(resolved)))
    mtime = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(st.st_mtime)) + f".{st.st_mtime_ns % 10**9:09d}Z"
    return {
        "name": os.path.basename(path.rstrip("/")) or "/",
        "size": st.st_size,
        "mode": go_file_mode(st),
        "mtime": mtime,
        "linkTarget": link,
    }


def encode_stat(info: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(info).encode()).decode()


class _FrameWriter:
    """A file-like object that sends what tarfile writes as data frames."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def write(self, data: bytes) -> int:
        self.buf += data
        if len(self.buf) >= 1 << 18:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self.buf:
            self.sock.sendall(proto.encode(proto.STDOUT, bytes(self.buf)))
            self.buf.clear()


class _SocketWriter:
    """What tarfile writes, straight onto the client's connection (the answer's raw body)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def write(self, data: bytes) -> int:
        self.sock.sendall(data)
        return len(data)

    def flush(self) -> None:
        pass


class _FrameStream(io.RawIOBase):
    """The tar bytes the daemon sends as stdin frames, read straight into the caller's buffer
    (``recv_into``), until the JSON frame that ends them. Wrapped in a large BufferedReader,
    tarfile's many small reads then cost a memcpy each, not a parse of our framing."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.left = 0  # payload bytes of the current stdin frame still to read
        self.done = False

    def readable(self) -> bool:
        return True

    def _exact(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise InvalidArgument("unexpected end of the archive stream")
            out += chunk
        return bytes(out)

    def readinto(self, b: Any) -> int:
        while self.left == 0:
            if self.done:
                return 0
            kind, size = proto.HEADER.unpack(self._exact(proto.HEADER.size))
            if kind == proto.STDIN:
                self.left = size
            else:
                self._exact(size)  # the end message
                self.done = True
                return 0
        view = memoryview(b)[: min(len(b), self.left)]
        n = self.sock.recv_into(view)
        if n == 0:
            raise InvalidArgument("unexpected end of the archive stream")
        self.left -= n
        return n

    def drain(self) -> None:
        buf = bytearray(1 << 16)
        while self.readinto(buf):
            pass


# -- entering the container's filesystem ------------------------------------------------------------


def _enter(cfg: FileHelperConfig) -> None:
    pid = cfg.pid
    if pid and cfg.op != "export":
        fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        try:
            linux.setns(fd, linux.CLONE_NEWNS)
        finally:
            os.close(fd)
        os.chdir("/")
        return
    linux.unshare(linux.CLONE_NEWNS)
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    root = cfg.mountpoint
    os.makedirs(root, exist_ok=True)
    for r in cfg.rootfs_mounts:
        flags, _prop, data = native.parse_mount_options(list(r.options))
        linux.mount(r.source or r.type, root, None if flags & linux.MS_BIND else r.type, flags, data or None)
    for m in cfg.mounts:
        native.do_mount(root, m.spec())
    os.chroot(root)
    os.chdir("/")


# -- operations ---------------------------------------------------------------------------------------


def _op_stat(cfg: FileHelperConfig, sock: socket.socket) -> dict[str, Any]:
    return {"ok": True, "stat": path_stat(cfg.path)}


def _op_get(cfg: FileHelperConfig, sock: socket.socket) -> dict[str, Any]:
    path = cfg.path
    info = path_stat(path)
    sock.sendall(proto.encode_json({"stat": info}))
    clean = os.path.normpath(path)
    resolved = secure_join("/", clean)
    if path.rstrip("/").endswith("/.") or path.endswith("/."):
        rebase = "."
    else:
        rebase = os.path.basename(clean) or "."
    if stat.S_ISLNK(os.lstat(resolved).st_mode) and path.endswith("/"):
        resolved = secure_join("/", os.path.join(os.path.dirname(clean), os.readlink(resolved)))
    writer: _FrameWriter | _SocketWriter = _FrameWriter(sock)
    if cfg.to_client:
        _msg, fds = proto.recv_json(sock, max_fds=1)  # the client's connection, passed at spawn
        sock.settimeout(60)
        go, _ = proto.recv_json(sock)  # the daemon has written the answer's head
        if not fds or not go or not go.get("go"):
            return {"ok": True}  # the client went away meanwhile
        client = socket.socket(fileno=fds[0])
        client.settimeout(600)  # polls: the descriptor stays non-blocking for the daemon's loop
        writer = _SocketWriter(client)
    try:
        with archive.tar_writer(writer, copybufsize=_STEP) as tf:
            _add_tree(tf, resolved, rebase)
        writer.flush()
    finally:
        if isinstance(writer, _SocketWriter):
            writer.sock.close()
    return {"ok": True}


def _add_tree(tf: tarfile.TarFile, real: str, name: str) -> None:
    st = os.lstat(real)
    if not stat.S_ISDIR(st.st_mode):
        ti = tf.gettarinfo(real, arcname=name)
        ti.uname = ti.gname = ""
        if ti.isreg():
            with open(real, "rb") as f:
                tf.addfile(ti, f)
        else:
            tf.addfile(ti)
        return
    hardlinks: dict[tuple[int, int], str] = {}
    for root, dirs, files in os.walk(real):
        dirs.sort()
        rel_root = os.path.relpath(root, real)
        arc_root = name if rel_root == "." else os.path.join(name, rel_root)
        ti = tf.gettarinfo(root, arcname=arc_root)
        ti.uname = ti.gname = ""
        tf.addfile(ti)
        for fname in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            full = os.path.join(root, fname)
            try:
                fst = os.lstat(full)
            except FileNotFoundError:
                continue
            if stat.S_ISSOCK(fst.st_mode):
                continue
            ti = tf.gettarinfo(full, arcname=os.path.join(arc_root, fname))
            ti.uname = ti.gname = ""
            key = (fst.st_dev, fst.st_ino)
            if ti.isreg() and fst.st_nlink > 1:
                if key in hardlinks:
                    ti.type, ti.linkname, ti.size = tarfile.LNKTYPE, hardlinks[key], 0
                    tf.addfile(ti)
                    continue
                hardlinks[key] = ti.name
            if ti.isreg():
                with open(full, "rb") as f:
                    tf.addfile(ti, f)
            else:
                tf.addfile(ti)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]


_STEP = 1 << 16


def _op_put(cfg: FileHelperConfig, sock: socket.socket) -> dict[str, Any]:
    path = cfg.path
    resolved = secure_join("/", os.path.normpath(path))
    try:
        st = os.stat(resolved)
    except FileNotFoundError:
        raise NotFound(f"Could not find the file {path} in container") from None
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidArgument("extraction point is not a directory")
    if cfg.readonly_root:
        raise Forbidden("container rootfs is marked read-only")
    sock.sendall(proto.encode_json({"ready": True}))
    source: _ArchiveSource | httpbody.BodyReader
    if cfg.body_framing:
        # The request's own connection, then what the daemon had read past its head.
        frames = _FrameStream(sock)
        _msg, fds = proto.recv_json(sock, max_fds=1)
        if not fds:
            raise InvalidArgument("the daemon passed no connection for the archive")
        client = socket.socket(fileno=fds[0])
        client.settimeout(600)  # polls: the descriptor stays non-blocking for the daemon's loop
        prefix = bytearray()
        while data := frames.read(1 << 20):
            prefix += data
        source = httpbody.BodyReader(client, cfg.body_framing, bytes(prefix))
    else:
        client = None
        source = _ArchiveSource(_FrameStream(sock))
    no_overwrite = cfg.no_overwrite_dir_non_dir
    headers = _TarHeaders(source)
    try:
        while (member := headers.next()) is not None:
            if member.sparse is not None:
                raise InvalidArgument(f"invalid tar archive: {member.name}: sparse files are not supported")
            rel = archive.clean_path(member.name)
            if rel:
                # The parents resolved inside the container, the last name not: a tar entry
                # replaces a symlink of that name, as Docker's untar does, never its target.
                parent, _, name = rel.rpartition("/")
                target = os.path.join(secure_join(resolved, parent) if parent else resolved, name)
                if no_overwrite and os.path.lexists(target):
                    existing_dir = os.path.isdir(target) and not os.path.islink(target)
                    if existing_dir != member.isdir():
                        raise InvalidArgument(
                            f"cannot overwrite {'directory' if existing_dir else 'non-directory'} "
                            f'"{os.path.join(path, rel)}" with '
                            f"{'non-directory' if existing_dir else 'directory'}"
                        )
                _extract(source, member, target, keep_owner=cfg.copy_uid_gid)
            source.skip(headers.offset - source.tell())  # what is left of its data, and the padding
        source.drain()
    except tarfile.TarError as e:
        raise InvalidArgument(f"invalid tar archive: {e}") from None
    except (EOFError, TimeoutError) as e:
        raise InvalidArgument(f"the archive stream ended early: {e}") from None
    finally:
        if client is not None:
            client.close()
    return {"ok": True}


# An all-zero block, or no block at all: tarfile's names for them, not in its stubs.
_END_OF_ARCHIVE = (tarfile.EOFHeaderError, tarfile.EmptyHeaderError)  # type: ignore[attr-defined]


class _TarHeaders:
    """The members of a tar stream, one header at a time, parsed by tarfile's own
    ``TarInfo.fromtarfile`` (GNU long names and pax headers included). It asks the "tarfile"
    it is given for the stream (``fileobj``: ``read`` and ``tell``), the names' encoding, the
    global pax headers, and leaves in ``offset`` where the member's data blocks end. The data
    itself is ours to move: ``BodyReader.copy_to`` writes it to the file with no copy between,
    where ``tarfile.open(mode="r|")`` would copy each byte three more times."""

    encoding = tarfile.ENCODING
    errors = "surrogateescape"

    def __init__(self, source: _ArchiveSource | httpbody.BodyReader) -> None:
        self.fileobj = source
        self.pax_headers: dict[str, str] = {}
        self.offset = 0

    def next(self) -> tarfile.TarInfo | None:
        """The next member; None at the end-of-archive blocks, or where the stream ends
        between two members (as Go's reader, and so Docker, accept)."""
        try:
            return tarfile.TarInfo.fromtarfile(self)  # type: ignore[arg-type]
        except _END_OF_ARCHIVE:
            return None
        except tarfile.HeaderError as e:  # truncated, invalid, a bad pax or GNU header
            raise tarfile.ReadError(str(e)) from None


class _ArchiveSource:
    """``BodyReader``'s reading methods over the archive the daemon relays as frames."""

    def __init__(self, stream: _FrameStream) -> None:
        self.stream = stream
        self.buf = bytearray(_STEP)
        self.position = 0

    def tell(self) -> int:
        return self.position

    def read(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n and (got := self.stream.readinto(memoryview(self.buf)[: n - len(out)])):
            out += memoryview(self.buf)[:got]
        self.position += len(out)
        return bytes(out)

    def copy_to(self, fd: int, n: int) -> None:
        view = memoryview(self.buf)
        while n:
            got = self.stream.readinto(view[: min(n, len(view))])
            if not got:
                raise EOFError("the archive ended in the middle of a file")
            written = 0
            while written < got:
                written += os.write(fd, view[written:got])
            self.position += got
            n -= got

    def skip(self, n: int) -> None:
        while n:
            got = self.stream.readinto(memoryview(self.buf)[: min(n, _STEP)])
            if not got:
                raise EOFError("the archive ended early")
            self.position += got
            n -= got

    def drain(self) -> None:
        self.stream.drain()


def _extract(
    source: _ArchiveSource | httpbody.BodyReader, member: tarfile.TarInfo, target: str, *, keep_owner: bool
) -> None:
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if os.path.lexists(target) and not (member.isdir() and os.path.isdir(target)):
        if os.path.isdir(target) and not os.path.islink(target):
            import shutil

            shutil.rmtree(target)
        else:
            os.unlink(target)
    if member.isdir():
        os.makedirs(target, exist_ok=True)
    elif member.isreg():
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            source.copy_to(fd, member.size)
        finally:
            os.close(fd)
    elif member.issym():
        os.symlink(member.linkname, target)
    elif member.islnk():
        os.link(
            secure_join("/", member.linkname)
            if member.linkname.startswith("/")
            else os.path.join(os.path.dirname(target), os.path.basename(member.linkname)),
            target,
        )
        return
    elif member.isfifo():
        os.mkfifo(target, member.mode & 0o7777)
    elif member.ischr() or member.isblk():
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        os.mknod(target, kind | (member.mode & 0o7777), os.makedev(member.devmajor, member.devminor))
    else:
        return
    if keep_owner:
        os.lchown(target, member.uid, member.gid)
    else:
        os.lchown(target, 0, 0)
    if not member.issym():
        os.chmod(target, member.mode & 0o7777)
        os.utime(target, (member.mtime, member.mtime))


def _op_export(cfg: FileHelperConfig, sock: socket.socket) -> dict[str, Any]:
    sock.sendall(proto.encode_json({"ready": True}))
    writer = _FrameWriter(sock)
    archive.write_tree("/", writer)  # type: ignore[arg-type]
    writer.flush()
    return {"ok": True}


_OPS = {"stat": _op_stat, "get": _op_get, "put": _op_put, "export": _op_export}


def run(cfg: FileHelperConfig, sock: socket.socket) -> None:
    """The helper's whole life (a fresh child of the zygote)."""
    try:
        _enter(cfg)
        result = _OPS[cfg.op](cfg, sock)
    except BallenaError as e:
        result = {"error": e.message, "kind": kind_name(e)}
    except OSError as e:
        result = {"error": f"{e.strerror or e}", "kind": "NotFound" if e.errno == 2 else "SystemFailure"}
    except Exception as e:
        result = {"error": f"{type(e).__name__}: {e}", "kind": "SystemFailure"}
    try:
        sock.sendall(proto.encode_json({"done": True, **result}))
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
