"""Container events as Docker publishes them: the container's ID, with its image, name and
labels as attributes."""

from __future__ import annotations

from ballena.core.containers import Container
from ballena.services.events import EventBus

__all__ = ["ContainerEvents"]


class ContainerEvents:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    def publish(self, c: Container, action: str, **extra: str) -> None:
        attrs = {"image": c.image, "name": c.name}
        attrs.update(dict(c.labels))
        attrs.update(extra)
        self.bus.publish("container", action, c.id, attrs)
