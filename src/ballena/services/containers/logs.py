"""``docker logs``: the json-file log the monitor writes, read back with Docker's filters
(streams, since/until, tail, timestamps), and followed until the container stops.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from ballena.core.containers import Container
from ballena.errors import InvalidArgument, NotFound
from ballena.pkg.timeutil import now_ns, parse_rfc3339
from ballena.services.containers.queries import ContainerQueries
from ballena.shim.logfile import log_files
from ballena.stores.containers import ContainerStore

__all__ = ["Logs"]

Entry = tuple[int, bytes]  # (stream, data)


class Logs:
    def __init__(
        self, *, store: ContainerStore, queries: ContainerQueries, driver_of: Callable[[Container], str]
    ) -> None:
        self.store = store
        self.queries = queries
        self.driver_of = driver_of  # the container's log driver (its own or the daemon's)

    async def logs(
        self,
        ref: str,
        *,
        stdout: bool,
        stderr: bool,
        follow: bool,
        since_ns: int,
        until_ns: int,
        tail: int,
        timestamps: bool,
    ) -> tuple[Container, AsyncIterator[Entry]]:
        """The container and its log entries (``tail`` < 0: all). Raises InvalidArgument for
        no stream asked or a driver that cannot be read, NotFound."""
        c = self.queries.get(ref)
        if not stdout and not stderr:
            raise InvalidArgument("You must choose at least one stream")
        if self.driver_of(c) == "none":
            raise InvalidArgument("configured logging driver does not support reading")
        reader = _Reader(stdout=stdout, stderr=stderr, since_ns=since_ns, until_ns=until_ns, timestamps=timestamps)
        return c, self._stream(c.id, self.store.log_path(c.id), reader, follow=follow, tail=tail, until_ns=until_ns)

    async def _stream(
        self, cid: str, path: Path, reader: _Reader, *, follow: bool, tail: int, until_ns: int
    ) -> AsyncIterator[Entry]:
        # Past entries: every file, oldest first, keeping the last ``tail`` that match.
        positions: dict[str, int] = {}
        entries: list[Entry] = []
        for p in log_files(str(path)):
            try:
                with open(p, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue
            # Where reading goes on: after the last whole line.
            positions[p] = data.rfind(b"\n") + 1
            entries += filter(None, (reader.render(line) for line in data[: positions[p]].split(b"\n") if line))
        if tail >= 0:
            entries = entries[-tail:] if tail > 0 else []
        for e in entries:
            yield e
        if not follow:
            return
        # Follow the live file; rotation starts it over.
        current = str(path)
        offset = positions.get(current, 0)
        ino = os.stat(current).st_ino if os.path.exists(current) else 0
        buf = b""
        while True:
            try:
                st: os.stat_result | None = os.stat(current)
            except FileNotFoundError:
                st = None
            if st is not None and st.st_ino != ino:
                ino, offset, buf = st.st_ino, 0, b""
            if st is not None and st.st_size > offset:
                with open(current, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
                offset += len(chunk)
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    r = reader.render(line)
                    if r is not None:
                        yield r
                continue
            if until_ns and now_ns() > until_ns:
                return
            try:
                c = self.store.get(cid)
            except NotFound:
                return
            if not c.state.running:
                # One last look after the exit: the monitor flushed before reporting.
                if st is not None and os.stat(current).st_size > offset:
                    continue
                return
            await asyncio.sleep(0.05)


class _Reader:
    """Turns json-file lines into entries, as the request's filters want them."""

    def __init__(self, *, stdout: bool, stderr: bool, since_ns: int, until_ns: int, timestamps: bool) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.since_ns = since_ns
        self.until_ns = until_ns
        self.timestamps = timestamps

    def render(self, line: bytes) -> Entry | None:
        try:
            entry = json.loads(line)
        except ValueError:
            return None
        stream = 2 if entry.get("stream") == "stderr" else 1
        if (stream == 1 and not self.stdout) or (stream == 2 and not self.stderr):
            return None
        ns = 0
        if self.since_ns or self.until_ns or self.timestamps:
            try:
                ns = parse_rfc3339(entry.get("time", ""))
            except InvalidArgument:
                ns = 0
            if self.since_ns and ns < self.since_ns:
                return None
            if self.until_ns and ns > self.until_ns:
                return None
        data = entry.get("log", "").encode()
        if self.timestamps:
            secs, frac = divmod(ns, 10**9)
            data = (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z ").encode() + data
        return stream, data
