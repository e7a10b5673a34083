"""Container records on disk: ``<root>/<id>/config.v2.json`` (written atomically) next to the
files the container sees (hostname, hosts, resolv.conf) and its json-file log.

Lookups follow Docker: a full ID, then a name, then a unique ID prefix.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ballena.core.containerconfig import ContainerConfig, EndpointSettings, HostConfig, PortBinding
from ballena.core.containers import Container, Health, State
from ballena.core.volumes import MountPoint
from ballena.errors import Conflict, InvalidArgument, NotFound
from ballena.pkg import records
from ballena.pkg.atomicfile import write_bytes

log = logging.getLogger("ballena.stores")


def _to_json(c: Container) -> dict[str, Any]:
    s = c.state
    return {
        "ID": c.id,
        "Name": c.name,
        "Created": c.created_ns,
        "Image": c.image,
        "ImageID": c.image_id,
        "Path": c.path,
        "Args": list(c.args),
        "Config": records.encode(c.config, private=True),
        "HostConfig": records.encode(c.host_config, private=True),
        "State": {
            "Status": s.status,
            "Pid": s.pid,
            "ExitCode": s.exit_code,
            "Error": s.error,
            "OOMKilled": s.oom_killed,
            "StartedAt": s.started_at_ns,
            "FinishedAt": s.finished_at_ns,
            "Health": records.encode(s.health) if s.health is not None else None,
        },
        "RestartCount": c.restart_count,
        "ManuallyStopped": c.manually_stopped,
        "HasBeenStarted": c.has_been_started,
        "Runtime": c.runtime,
        "Networks": {name: records.encode(ep, private=True) for name, ep in c.networks.items()},
        "Mounts": [records.encode(m, private=True) for m in c.mounts],
        "Platform": c.platform,
        "BuildStep": c.build_step,
        "Ports": {port: [records.encode(b) for b in bindings] for port, bindings in c.ports.items()},
    }


def _from_json(d: dict[str, Any]) -> Container:
    s = d.get("State") or {}
    return Container(
        id=d["ID"],
        name=d["Name"],
        created_ns=int(d["Created"]),
        image=d["Image"],
        image_id=d["ImageID"],
        path=d["Path"],
        args=tuple(d.get("Args") or ()),
        config=records.decode(ContainerConfig, d.get("Config"), private=True),
        host_config=records.decode(HostConfig, d.get("HostConfig"), private=True),
        state=State(
            status=s.get("Status", "created"),
            pid=int(s.get("Pid", 0)),
            exit_code=int(s.get("ExitCode", 0)),
            error=s.get("Error", ""),
            oom_killed=bool(s.get("OOMKilled")),
            started_at_ns=int(s.get("StartedAt", 0)),
            finished_at_ns=int(s.get("FinishedAt", 0)),
            health=records.decode(Health, s["Health"]) if s.get("Health") else None,
        ),
        restart_count=int(d.get("RestartCount", 0)),
        manually_stopped=bool(d.get("ManuallyStopped")),
        has_been_started=bool(d.get("HasBeenStarted")),
        runtime=d.get("Runtime", "ballena"),
        networks={
            name: records.decode(EndpointSettings, ep, private=True) for name, ep in (d.get("Networks") or {}).items()
        },
        mounts=tuple(records.decode(MountPoint, m, private=True) for m in d.get("Mounts") or ()),
        platform=d.get("Platform", "linux"),
        build_step=bool(d.get("BuildStep")),
        ports={
            port: tuple(records.decode(PortBinding, b) for b in bindings or ())
            for port, bindings in (d.get("Ports") or {}).items()
        },
    )


class ContainerStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._by_id: dict[str, Container] = {}
        self._names: dict[str, str] = {}
        self._lock = threading.RLock()

    def dir(self, cid: str) -> Path:
        return self.root / cid

    def log_path(self, cid: str) -> Path:
        """The container's json-file log (its monitor writes it, ``docker logs`` reads it)."""
        return self.root / cid / f"{cid}-json.log"

    def load(self) -> list[Container]:
        """Read every record. A directory without one is an interrupted create (the record is
        written atomically, last) and goes; one that cannot be read is kept, and reported,
        for a person to look at: deleting it would lose a container."""
        out = []
        for entry in os.scandir(self.root):
            if entry.name.startswith(".removing-"):  # a removal the daemon did not finish
                shutil.rmtree(entry.path, ignore_errors=True)
                continue
            path = Path(entry.path) / "config.v2.json"
            try:
                c = _from_json(json.loads(path.read_text()))
            except FileNotFoundError:
                shutil.rmtree(entry.path, ignore_errors=True)
                continue
            except (OSError, ValueError, KeyError, records.DecodeError) as e:
                log.error("container record %s cannot be read, left as it is: %s", path, e)
                continue
            self._by_id[c.id] = c
            self._names[c.name] = c.id
            out.append(c)
        return out

    def all(self) -> list[Container]:
        with self._lock:
            return list(self._by_id.values())

    def __iter__(self) -> Iterator[Container]:
        return iter(self.all())

    def get(self, cid: str) -> Container:
        with self._lock:
            try:
                return self._by_id[cid]
            except KeyError:
                raise NotFound(f"No such container: {cid}") from None

    def exists(self, cid: str) -> bool:
        return cid in self._by_id

    def resolve(self, ref: str) -> Container:
        """Docker's lookup: full ID, name (with or without "/"), unique ID prefix.

        Raises NotFound("No such container: x"), InvalidArgument for an ambiguous prefix.
        """
        if not ref:
            raise NotFound("No such container: ")
        with self._lock:
            if ref in self._by_id:
                return self._by_id[ref]
            name = ref[1:] if ref.startswith("/") else ref
            if name in self._names:
                return self._by_id[self._names[name]]
            matches = [cid for cid in self._by_id if cid.startswith(ref)]
            if len(matches) == 1:
                return self._by_id[matches[0]]
            if len(matches) > 1:
                raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def reserve_name(self, name: str, cid: str) -> None:
        with self._lock:
            owner = self._names.get(name)
            if owner is not None and owner != cid:
                raise Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container "{owner}". '
                    "You have to remove (or rename) that container to be able to reuse that name."
                )
            self._names[name] = cid

    def release_name(self, name: str) -> None:
        with self._lock:
            self._names.pop(name, None)

    def name_taken(self, name: str) -> bool:
        return name in self._names

    def save(self, c: Container, *, durable: bool = True) -> None:
        """Persist ``c`` (atomically). ``durable=False`` skips the fsyncs: right for run-state
        transitions, which a restarted daemon reconciles from the monitors anyway."""
        with self._lock:
            d = self.dir(c.id)
            d.mkdir(parents=True, exist_ok=True)
            write_bytes(
                d / "config.v2.json",
                json.dumps(_to_json(c), separators=(",", ":")).encode(),
                mode=0o600,
                durable=durable,
            )
            self._by_id[c.id] = c
            self._names[c.name] = c.id

    def update(self, c: Container) -> None:
        """Keep in memory only (state transitions persisted by ``save`` at durable points)."""
        with self._lock:
            self._by_id[c.id] = c

    def delete(self, cid: str, *, defer: bool = False) -> Path | None:
        """Forget the container and its directory. The directory is renamed away at once (a
        restart never sees it again); with ``defer`` its contents are left for the caller to
        delete, at leisure, from the returned path."""
        with self._lock:
            c = self._by_id.pop(cid, None)
            if c is not None and self._names.get(c.name) == cid:
                del self._names[c.name]
        d = self.dir(cid)
        if not d.exists():
            return None
        trash = self.root / f".removing-{cid}"
        os.replace(d, trash)
        if defer:
            return trash
        shutil.rmtree(trash, ignore_errors=True)
        return None
