"""Network definitions in the metadata database (endpoints live on the containers)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ballena.core.networks import Network
from ballena.errors import AlreadyExists, NotFound
from ballena.stores.metadata import Database

_COLUMNS = (
    "id, name, driver, subnet, gateway, ip_range, bridge, internal, attachable, labels, options, created, builtin"
)


class NetworkStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _row(r: tuple[Any, ...]) -> Network:
        (
            nid,
            name,
            driver,
            subnet,
            gateway,
            ip_range,
            bridge,
            internal,
            attachable,
            labels,
            options,
            created,
            builtin,
        ) = r
        return Network(
            id=str(nid),
            name=str(name),
            driver=str(driver),
            subnet=str(subnet),
            gateway=str(gateway),
            ip_range=str(ip_range),
            bridge=str(bridge),
            internal=bool(internal),
            attachable=bool(attachable),
            labels=json.loads(str(labels)),
            options=json.loads(str(options)),
            created_ns=int(created),
            builtin=bool(builtin),
        )

    def all(self) -> list[Network]:
        return [self._row(r) for r in self.db.query(f"SELECT {_COLUMNS} FROM networks")]

    def get(self, nid: str) -> Network:
        rows = self.db.query(f"SELECT {_COLUMNS} FROM networks WHERE id=?", (nid,))
        if not rows:
            raise NotFound(f"network {nid} not found")
        return self._row(rows[0])

    def add(self, n: Network) -> None:
        with self.db.tx() as conn:
            try:
                conn.execute(
                    f"INSERT INTO networks({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        n.id,
                        n.name,
                        n.driver,
                        n.subnet,
                        n.gateway,
                        n.ip_range,
                        n.bridge,
                        int(n.internal),
                        int(n.attachable),
                        json.dumps(dict(n.labels)),
                        json.dumps(dict(n.options)),
                        n.created_ns,
                        int(n.builtin),
                    ),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"network with name {n.name} already exists") from None

    def update(self, n: Network) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE networks SET subnet=?, gateway=?, bridge=? WHERE id=?", (n.subnet, n.gateway, n.bridge, n.id)
            )

    def remove(self, nid: str) -> None:
        with self.db.tx() as conn:
            conn.execute("DELETE FROM networks WHERE id=?", (nid,))
