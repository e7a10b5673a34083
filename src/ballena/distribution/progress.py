"""The progress messages ``docker pull`` and ``docker push`` draw (Docker's JSON stream)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ballena.pkg.units import human_size

Emit = Callable[[dict[str, Any]], None]


def bar(current: int, total: int) -> str:
    """Docker's ``progress`` text: ``[=====>     ]  1.2MB/3.4MB``."""
    if total <= 0:
        return f"{human_size(current):>8}" if current > 0 else ""
    done = min(int(current / total * 100) // 2, 50)
    return f"[{'=' * done}>{' ' * (50 - done)}] {human_size(current):>8}/{human_size(total)}"


def status(emit: Emit, text: str, ident: str | None = None) -> None:
    msg: dict[str, Any] = {"status": text}
    if ident is not None:
        msg["progressDetail"] = {}
        msg["id"] = ident
    emit(msg)


class Meter:
    """``Downloading``/``Pushing``/``Extracting`` lines for one layer, at most ten a second."""

    def __init__(self, emit: Emit, ident: str, action: str, total: int) -> None:
        self.emit, self.ident, self.action, self.total = emit, ident, action, total
        self.current = 0
        self._last = 0.0

    def advance(self, n: int, *, force: bool = False) -> None:
        self.current += n
        now = time.monotonic()
        if force or now - self._last >= 0.1:
            self._last = now
            self.emit(
                {
                    "status": self.action,
                    "progressDetail": {"current": self.current, "total": self.total},
                    "progress": bar(self.current, self.total),
                    "id": self.ident,
                }
            )
