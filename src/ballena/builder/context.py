"""A build's context: the directory the client sent (a tar, possibly compressed, or a lone
Dockerfile), unpacked under the daemon's own temporary directory, and the only place on the
host a build may read.

Every path a build names (the Dockerfile, ``.dockerignore``, each COPY/ADD source) is resolved
*inside* the context the way Docker's FollowSymlinkInScope (securejoin) does: symlinks are
followed as if the context were ``/`` and ``..`` never climbs above it. A context holding
``leak -> /etc`` therefore gives ``<context>/etc``, never the host's /etc.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from ballena.builder.dockerignore import Matcher
from ballena.builder.dockerignore import parse as parse_ignore
from ballena.errors import InvalidArgument
from ballena.pkg import archive
from ballena.pkg.compression import detect, open_decompressed
from ballena.pkg.securejoin import secure_join

__all__ = ["BuildContext", "looks_like_tar"]

# A Dockerfile larger than this is not one (BuildKit refuses beyond a few MB too).
MAX_DOCKERFILE = 8 << 20


class BuildContext:
    """A context directory that exists until ``close``. Blocking methods; the daemon calls
    them in threads."""

    def __init__(self, work: Path) -> None:
        self.work = work  # the build's private directory under the daemon's tmp root
        self.root = work / "context"
        self.dockerfile_text: str | None = None  # the body was a lone Dockerfile

    @classmethod
    async def receive(cls, chunks: AsyncIterator[bytes], tmp_root: Path) -> BuildContext:
        """Spool an uploaded context to disk and unpack it. Raises InvalidArgument for a body
        that is neither an archive nor a Dockerfile."""
        tmp_root.mkdir(parents=True, exist_ok=True)
        ctx = cls(Path(tempfile.mkdtemp(prefix="build-", dir=tmp_root)))
        try:
            spooled = ctx.work / "context.upload"
            with open(spooled, "wb") as f:
                async for chunk in chunks:
                    f.write(chunk)
            await asyncio.to_thread(ctx._unpack, spooled)
        except BaseException:
            ctx.close()
            raise
        return ctx

    def _unpack(self, spooled: Path) -> None:
        with open(spooled, "rb") as f:
            head = f.read(512)
        self.root.mkdir()
        if detect(head) == "none" and not looks_like_tar(head):
            if spooled.stat().st_size > MAX_DOCKERFILE:
                raise InvalidArgument("failed to read the build context: not a tar archive")
            self.dockerfile_text = _text(spooled.read_bytes())
        else:
            with open(spooled, "rb") as raw:
                stream, _ = open_decompressed(raw)
                try:
                    archive.apply_layer(io.BufferedReader(_Completed(stream)), str(self.root))  # type: ignore[arg-type]  # path checks included
                except InvalidArgument as e:
                    raise InvalidArgument(f"failed to read the build context: {e.message}") from None
                except (OSError, EOFError, ValueError) as e:
                    raise InvalidArgument(f"failed to read the build context: {e}") from None
        spooled.unlink()

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)

    # -- paths inside ---------------------------------------------------------------------------

    def resolve(self, rel: str) -> str:
        """The host path of ``rel`` inside the context, symlinks followed within it."""
        return secure_join(str(self.root), rel)

    def dockerfile(self, name: str) -> str:
        """The Dockerfile's text (or the lone one the client sent). Raises InvalidArgument
        when it is not a regular file inside the context."""
        if self.dockerfile_text is not None:
            return self.dockerfile_text
        path = self.resolve(name)
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            raise InvalidArgument(f"Cannot locate specified Dockerfile: {name}")
        if st.st_size > MAX_DOCKERFILE:
            raise InvalidArgument(f"Dockerfile {name} is larger than {MAX_DOCKERFILE >> 20} MB")
        with open(path, "rb") as f:
            return _text(f.read())

    def apply_dockerignore(self, dockerfile: str) -> None:
        """Delete what ``.dockerignore`` (or ``<Dockerfile>.dockerignore``) excludes, the
        Dockerfile and the ignore file too when they are listed (read the Dockerfile first):
        as Docker's, they reach the daemon but no COPY. The docker CLI lists the name it gives
        a Dockerfile sent with ``-f -``, so it never lands in an image."""
        if self.dockerfile_text is not None:
            return
        ignore = self.resolve(dockerfile + ".dockerignore")
        if not os.path.isfile(ignore):
            ignore = self.resolve(".dockerignore")
        if not os.path.isfile(ignore):
            return
        with open(ignore, errors="replace") as f:
            matcher = Matcher(parse_ignore(f.read()))
        for root, dirs, files in os.walk(self.root, topdown=True):
            rel_root = os.path.relpath(root, self.root)
            for name in list(dirs):
                rel = name if rel_root == "." else f"{rel_root}/{name}"
                if matcher.excluded(rel) and not matcher.has_exclusions():
                    shutil.rmtree(os.path.join(root, name))
                    dirs.remove(name)
            for name in files:
                rel = name if rel_root == "." else f"{rel_root}/{name}"
                if matcher.excluded(rel):
                    os.unlink(os.path.join(root, name))


class _Completed(io.RawIOBase):
    """A tar stream made whole: Go's archive/tar reader takes one whose last member lacks its
    padding and the end-of-archive blocks, and the docker CLI sends such a tar for
    ``docker build -f - <dir>``; Python's reader wants them, so they are added at the end."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self._count = 0
        self._tail: bytes | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._tail is None:
            data = self._inner.read(len(b))
            if data:
                self._count += len(data)
                b[: len(data)] = data
                return len(data)
            self._tail = b"\0" * ((-self._count) % 512 + 1024)
        n = min(len(b), len(self._tail))
        b[:n], self._tail = self._tail[:n], self._tail[n:]
        return n


def looks_like_tar(head: bytes) -> bool:
    return len(head) >= 262 and head[257:262] == b"ustar"


def _text(data: bytes) -> str:
    """A Dockerfile's text; binary garbage is refused rather than parsed into nothing."""
    if b"\x00" in data:
        raise InvalidArgument("the Dockerfile is not a text file")
    return data.decode("utf-8", errors="replace")
