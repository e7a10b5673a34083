"""The build cache: a step's key names the image it produced.

A key is a digest of what decides the step's result: the parent image, the instruction, the
configuration and build arguments it sees, and for COPY/ADD a hash of the files' content and
metadata. Entries live in the metadata database's ``build_cache`` table; an entry whose image
is gone is a miss.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from ballena.errors import NotFound
from ballena.pkg.records import tag
from ballena.pkg.timeutil import now_ns, rfc3339nano
from ballena.stores.images import ImageStore

__all__ = ["BuildCache", "CacheRecord", "step_key"]


def step_key(*, parent: str | None, text: str, config: Any, args: dict[str, str | None], extra: Any = None) -> str:
    payload = json.dumps(
        {"parent": parent or "scratch", "text": text, "extra": extra, "config": config, "args": args},
        sort_keys=True,
        default=str,
    )
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheRecord:
    """One entry as ``system df`` shows it (Docker's BuildCache record)."""

    __json_case__: ClassVar[str] = "pascal"
    id: str = tag("ID")
    parents: tuple[str, ...] | None = tag(default=None)
    type: str = tag(default="regular")
    description: str = tag(default="")
    in_use: bool = tag(default=False)
    shared: bool = tag(default=False)
    size: int = tag(default=0)
    created_at: str = tag(default="")
    last_used_at: str = tag(default="")
    usage_count: int = tag(default=1)


class BuildCache:
    def __init__(self, store: ImageStore) -> None:
        self.store = store

    def lookup(self, key: str) -> str | None:
        """The image a step made before, or None; a hit is marked as used now."""
        rows = self.store.db.query("SELECT image_id FROM build_cache WHERE key=?", (key,))
        if not rows or not self.store.exists(str(rows[0][0])):
            return None
        with self.store.db.tx() as conn:
            conn.execute("UPDATE build_cache SET last_used=? WHERE key=?", (now_ns(), key))
        return str(rows[0][0])

    def remember(self, key: str, image_id: str) -> None:
        with self.store.db.tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO build_cache(key, image_id, created, last_used) VALUES (?,?,?,?)",
                (key, image_id, now_ns(), now_ns()),
            )

    def entries(self) -> list[tuple[str, str]]:
        """(key, image ID) of every entry."""
        return [(str(k), str(i)) for k, i in self.store.db.query("SELECT key, image_id FROM build_cache")]

    def forget(self, key: str) -> None:
        with self.store.db.tx() as conn:
            conn.execute("DELETE FROM build_cache WHERE key=?", (key,))

    def top_size(self, image_id: str) -> int:
        """Bytes of the layer an entry's step added (0 for a metadata step)."""
        img = self.store.get(image_id)
        layer = self.store.layer(img.chain_ids[-1]) if img.chain_ids else None
        return layer.size if layer else 0

    def usage(self) -> list[CacheRecord]:
        """``system df``'s build cache: the steps whose image still exists."""
        out = []
        for key, image_id, created, last_used in self.store.db.query(
            "SELECT key, image_id, created, last_used FROM build_cache"
        ):
            try:
                img = self.store.get(str(image_id))
            except NotFound:
                continue
            last = (img.config.get("history") or [{}])[-1]
            out.append(
                CacheRecord(
                    id=str(key)[7:19],
                    parents=(img.parent[7:19],) if img.parent else None,
                    description=str(last.get("created_by", "")),
                    in_use=bool(img.repo_tags),
                    size=0 if last.get("empty_layer") else self.top_size(img.id),
                    created_at=rfc3339nano(int(created)),
                    last_used_at=rfc3339nano(int(last_used)),
                )
            )
        return out
