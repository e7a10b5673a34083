"""The metadata database: one SQLite file in WAL mode that makes every image change atomic.

Schema (version 2)::

    snapshots(key PK, id UNIQUE, parent, kind, created)
        kind 'committed': a read-only layer directory, key = the layer's chain ID
        kind 'active':    a writable upper directory (a container, an extraction in progress)
        files: <root>/snapshots/<id>/fs (and /work for active ones)
    layers(chain_id PK, diff_id, parent, size, blob, media_type, blob_size)
        an unpacked layer: its snapshot has key = chain_id; blob is the tarball kept in the
        content store (uncompressed, digest = diff_id, unless it came compressed from a registry)
    images(id PK, parent, created, last_tag, size)
        id = digest of the image config blob in the content store
    image_layers(image_id, position, chain_id)        which layers an image stands on
    tags(ref PK, image_id, created)                   docker.io/library/busybox:latest -> image
    digests(ref PK, image_id)                         docker.io/library/busybox@sha256:... -> image
    build_cache(key PK, image_id, created, last_used) the builder's step cache
    volumes(name PK, driver, labels, options, created, anonymous)   local volumes
    networks(id PK, name UNIQUE, driver, subnet, gateway, ip_range, bridge, internal, attachable,
             labels, options, created, builtin, pools, enable_ipv6, ipam_options)    networks
        pools: the IPAM config (JSON); subnet/gateway/ip_range: its first IPv4 pool (version 1)
    endpoints(network_id, container_id, container_name, endpoint_id, ipv4, ipv6, mac, aliases,
              links, PK (network_id, container_id), UNIQUE (network_id, ipv4), UNIQUE (network_id, ipv6))
        a running container's interface on a network: its addresses are reserved by this row,
        so two containers can never hold one (NULL where it has none)

Garbage collection: a layer is kept while an image or a snapshot stands on it; a blob while a
layer, image or manifest refers to it. ``ImageStore`` runs it after deletions and at start-up.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ballena.errors import SystemFailure

SCHEMA_VERSION = 2

# Columns added since version 1, by table: (name, definition). Added where missing, so a
# version-1 database opens as a version-2 one.
_ADDED_COLUMNS = {
    "networks": (
        ("pools", "TEXT NOT NULL DEFAULT ''"),
        ("enable_ipv6", "INTEGER NOT NULL DEFAULT 0"),
        ("ipam_options", "TEXT NOT NULL DEFAULT '{}'"),
    ),
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    key TEXT PRIMARY KEY, id INTEGER UNIQUE NOT NULL, parent TEXT, kind TEXT NOT NULL,
    created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS layers (
    chain_id TEXT PRIMARY KEY, diff_id TEXT NOT NULL, parent TEXT, size INTEGER NOT NULL,
    blob TEXT, media_type TEXT, blob_size INTEGER);
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY, parent TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL,
    last_tag INTEGER NOT NULL DEFAULT 0, size INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id TEXT NOT NULL, position INTEGER NOT NULL, chain_id TEXT NOT NULL,
    PRIMARY KEY (image_id, position));
CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id);
CREATE TABLE IF NOT EXISTS tags (ref TEXT PRIMARY KEY, image_id TEXT NOT NULL, created INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS tags_image ON tags(image_id);
CREATE TABLE IF NOT EXISTS digests (ref TEXT PRIMARY KEY, image_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS manifests (digest TEXT PRIMARY KEY, image_id TEXT NOT NULL, repo TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blob_sources (blob TEXT NOT NULL, repo TEXT NOT NULL, PRIMARY KEY (blob, repo));
CREATE TABLE IF NOT EXISTS layer_blobs (
    diff_id TEXT NOT NULL, digest TEXT NOT NULL, media_type TEXT NOT NULL, size INTEGER NOT NULL,
    PRIMARY KEY (diff_id, digest));
CREATE TABLE IF NOT EXISTS volumes (
    name TEXT PRIMARY KEY, driver TEXT NOT NULL, labels TEXT NOT NULL, options TEXT NOT NULL,
    created INTEGER NOT NULL, anonymous INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS networks (
    id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, driver TEXT NOT NULL, subnet TEXT NOT NULL,
    gateway TEXT NOT NULL, ip_range TEXT NOT NULL, bridge TEXT NOT NULL, internal INTEGER NOT NULL,
    attachable INTEGER NOT NULL, labels TEXT NOT NULL, options TEXT NOT NULL, created INTEGER NOT NULL,
    builtin INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS endpoints (
    network_id TEXT NOT NULL, container_id TEXT NOT NULL, container_name TEXT NOT NULL,
    endpoint_id TEXT NOT NULL, ipv4 TEXT, ipv6 TEXT, mac TEXT NOT NULL, aliases TEXT NOT NULL,
    links TEXT NOT NULL, PRIMARY KEY (network_id, container_id),
    UNIQUE (network_id, ipv4), UNIQUE (network_id, ipv6));
CREATE INDEX IF NOT EXISTS endpoints_container ON endpoints(container_id);
CREATE TABLE IF NOT EXISTS build_cache (
    key TEXT PRIMARY KEY, image_id TEXT NOT NULL, created INTEGER NOT NULL, last_used INTEGER NOT NULL);
"""


class Database:
    """A serialised SQLite connection. ``tx()`` is one atomic, durable transaction.

    Calls are short (microseconds), so the daemon makes them from the event loop or from worker
    threads alike; a lock keeps them one at a time.
    """

    def __init__(self, path: Path) -> None:
        try:
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=OFF")
            self._conn.executescript(_SCHEMA)
            self._migrate()
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as e:
            raise SystemFailure(f"cannot open metadata database {path}: {e}") from e
        self._lock = threading.RLock()
        self._depth = 0

    def _migrate(self) -> None:
        for table, columns in _ADDED_COLUMNS.items():
            have = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
            for name, definition in columns:
                if name not in have:
                    self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A transaction; nested calls join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    def query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
