"""Bridges between blocking code in worker threads and asyncio streams.

``produce(fn)`` runs ``fn(writer)`` in a thread and yields what it writes as an async
iterator; the thread blocks when the consumer (an HTTP client) is slower, so memory stays
bounded. Closing the iterator early makes the thread's next write raise BrokenPipeError.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

_CHUNK = 256 * 1024
_DEPTH = 8


class _ThreadWriter:
    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes | BaseException | None]) -> None:
        self._loop = loop
        self._queue = queue
        self._slots = threading.Semaphore(_DEPTH)
        self._buf = bytearray()
        self.cancelled = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.cancelled:
            raise BrokenPipeError("consumer went away")
        self._buf += data
        if len(self._buf) >= _CHUNK:
            self._flush()
        return len(data)

    def _flush(self) -> None:
        if not self._buf:
            return
        chunk = bytes(self._buf)
        self._buf.clear()
        self._put(chunk)

    def _put(self, item: bytes | BaseException | None) -> None:
        while not self._slots.acquire(timeout=0.5):
            if self.cancelled:
                raise BrokenPipeError("consumer went away")
        self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def release(self) -> None:
        self._slots.release()

    def flush(self) -> None:
        self._flush()

    def close(self, error: BaseException | None = None) -> None:
        try:
            self._flush()
        finally:
            self._put(error)

    # tarfile and friends ask for these
    def tell(self) -> int:  # pragma: no cover - only for file-like completeness
        raise OSError("not seekable")


async def produce(fn: Callable[[Any], None]) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
    writer = _ThreadWriter(loop, queue)

    def run() -> None:
        try:
            fn(writer)
        except BrokenPipeError:
            return
        except BaseException as e:
            try:
                writer.close(e)
            except BrokenPipeError:
                pass
            return
        try:
            writer.close()
        except BrokenPipeError:
            pass

    thread = threading.Thread(target=run, name="produce", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            writer.release()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        writer.cancelled = True
