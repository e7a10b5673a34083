"""Fakes shared by the service tests: a bridge driver that records instead of touching the host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ballena.services.events import EventBus
from ballena.services.networks import NetworkService
from ballena.stores.metadata import Database
from ballena.stores.networks import NetworkStore


class FakeDriver:
    def __init__(self) -> None:
        self.bridges: list[str] = []
        self.existing: str | None = None

    async def ensure(self, n: Any) -> None:
        self.bridges.append(n.bridge)

    async def delete(self, n: Any) -> None:
        self.bridges.remove(n.bridge)

    async def existing_kind(self, bridge: str) -> str | None:
        return "" if bridge == "eth0" else None

    async def address_of(self, bridge: str) -> str | None:
        return self.existing

    async def host_routes(self) -> list[str]:
        return ["10.0.2.0/24"]

    async def apply_rules(self, networks: Any, ports: Any) -> None:
        pass

    def close(self) -> None:
        pass


def network_service(tmp_path: Path, driver: FakeDriver | None = None) -> NetworkService:
    return NetworkService(
        store=NetworkStore(Database(tmp_path / "m.db")), events=EventBus(), driver=driver or FakeDriver()
    )  # type: ignore[arg-type]
