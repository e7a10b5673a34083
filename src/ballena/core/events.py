"""Events: what happened to which object, as ``docker events`` shows it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    type: str  # container, image, network, volume, daemon, builder
    action: str  # create, start, die, tag, untag, delete, ...
    actor_id: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    time_ns: int = 0
    scope: str = "local"
