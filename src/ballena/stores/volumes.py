"""Local volumes: ``<root>/<name>/_data`` directories (Docker's layout) and their metadata in the
metadata database. A volume with mount options (``type=tmpfs``, ``o=bind,device=...``) has its
device mounted on ``_data`` while containers use it."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from ballena.core.volumes import Volume
from ballena.errors import AlreadyExists, NotFound
from ballena.pkg.timeutil import now_ns
from ballena.stores.metadata import Database


class VolumeStore:
    def __init__(self, root: Path, db: Database) -> None:
        self.root = root
        self.db = db
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o701)

    def data_dir(self, name: str) -> Path:
        return self.root / name / "_data"

    def _row(self, r: tuple[Any, ...]) -> Volume:
        name, driver, labels, options, created, anonymous = r
        return Volume(
            name=str(name),
            driver=str(driver),
            mountpoint=str(self.data_dir(str(name))),
            created_ns=int(created),
            labels=json.loads(str(labels)),
            options=json.loads(str(options)),
            anonymous=bool(anonymous),
        )

    def get(self, name: str) -> Volume:
        rows = self.db.query(
            "SELECT name, driver, labels, options, created, anonymous FROM volumes WHERE name=?", (name,)
        )
        if not rows:
            raise NotFound(f"get {name}: no such volume")
        return self._row(rows[0])

    def exists(self, name: str) -> bool:
        return bool(self.db.query("SELECT 1 FROM volumes WHERE name=?", (name,)))

    def all(self) -> list[Volume]:
        rows = self.db.query("SELECT name, driver, labels, options, created, anonymous FROM volumes")
        return [self._row(r) for r in rows]

    def create(self, name: str, *, labels: dict[str, str], options: dict[str, str], anonymous: bool) -> Volume:
        """Raises AlreadyExists (the caller decides whether that is fine, as Docker does)."""
        d = self.data_dir(name)
        with self.db.tx() as conn:
            try:
                conn.execute(
                    "INSERT INTO volumes(name, driver, labels, options, created, anonymous) VALUES (?,?,?,?,?,?)",
                    (name, "local", json.dumps(labels), json.dumps(options), now_ns(), int(anonymous)),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"volume {name} already exists") from None
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d.parent, 0o701)
        return self.get(name)

    def remove(self, name: str) -> None:
        with self.db.tx() as conn:
            conn.execute("DELETE FROM volumes WHERE name=?", (name,))
        d = self.root / name
        if d.exists():
            trash = self.root / f".removing-{name}"
            os.replace(d, trash)
            shutil.rmtree(trash, ignore_errors=True)

    def clean(self) -> None:
        known = {v.name for v in self.all()}
        for entry in os.scandir(self.root):
            if entry.name.startswith(".removing-") or (
                entry.is_dir() and entry.name not in known and entry.name != "metadata.db"
            ):
                shutil.rmtree(entry.path, ignore_errors=True)
