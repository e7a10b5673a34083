"""What each layer of an image adds, changes, removes and wastes: the course's ``dive``.

A layer is an overlay directory: new and changed files as themselves, a deleted path as a
character device 0:0 (a whiteout), a directory whose lower content is hidden marked opaque.
Walking the layers from the bottom while keeping which layer each visible path came from tells,
for every layer, what it added and changed, what it removed, and how many of *its own* bytes
the final image can no longer see because a later layer overwrote or deleted them: its wasted
bytes (the 40 MB of apt lists a ``RUN rm -rf /var/lib/apt/lists/*`` removes from view but not
from the image). Efficiency is the share of all layer bytes still visible at the top.

Results are cached per image ID (an image never changes); ``scan`` is blocking.
"""

from __future__ import annotations

import os
import stat
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ballena.errors import InvalidArgument
from ballena.pkg import reference
from ballena.pkg.overlay import is_opaque, is_whiteout_device
from ballena.stores.images import ImageStore

CACHED_IMAGES = 8


@dataclass(frozen=True, slots=True)
class Entry:
    """One path a layer holds: ``kind`` is file, dir, symlink, other, whiteout or opaque."""

    path: str  # relative, no leading slash
    kind: str
    size: int = 0


@dataclass(slots=True)
class LayerReport:
    index: int
    chain_id: str
    created_by: str
    size: int = 0  # bytes of the files it holds
    added: int = 0
    changed: int = 0
    removed: int = 0
    wasted: int = 0  # of its own bytes, hidden by a later layer
    tree: list[dict[str, Any]] = field(default_factory=list)


def scan(upper: Path) -> list[Entry]:
    """The entries of one overlay layer directory, sorted by path."""
    out: list[Entry] = []
    root = str(upper)
    seen: set[int] = set()  # a hard link's bytes count once (busybox: 270 names, one file)
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames.sort()  # walk in path order: which name of a hard link carries its bytes is fixed
        for name in sorted([*dirnames, *filenames]):
            full = os.path.join(dirpath, name)
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            st = os.lstat(full)
            if is_whiteout_device(st):
                out.append(Entry(rel, "whiteout"))
            elif stat.S_ISDIR(st.st_mode):
                out.append(Entry(rel, "opaque" if is_opaque(full) else "dir"))
            elif stat.S_ISREG(st.st_mode):
                first = st.st_nlink == 1 or st.st_ino not in seen
                seen.add(st.st_ino)
                out.append(Entry(rel, "file", st.st_size if first else 0))
            elif stat.S_ISLNK(st.st_mode):
                out.append(Entry(rel, "symlink", len(os.readlink(full))))
            else:
                out.append(Entry(rel, "other"))
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
    return sorted(out, key=lambda e: e.path)


def analyse(layers: list[list[Entry]], created_by: list[str], chain_ids: list[str]) -> list[LayerReport]:
    """Every layer's figures and its annotated tree (status per entry, wasted or not)."""
    reports = [
        LayerReport(index=i, chain_id=c, created_by=b)
        for i, (c, b) in enumerate(zip(chain_ids, created_by, strict=True))
    ]
    visible: dict[str, tuple[int, int]] = {}  # path -> (layer, size) of what the top would show
    children: dict[str, set[str]] = {}  # directory -> its visible entries, to hide a subtree fast
    rows: list[list[dict[str, Any]]] = [[] for _ in layers]

    def show(path: str, layer: int, size: int) -> None:
        visible[path] = (layer, size)
        children.setdefault(path.rpartition("/")[0], set()).add(path)

    def hide(path: str, *, below: int, subtree_only: bool = False) -> None:
        """Hide ``path`` and what is under it from the layers below ``below``."""
        stack = list(children.pop(path, ())) if subtree_only else [path]
        while stack:
            p = stack.pop()
            if p not in visible:
                continue
            layer, size = visible.pop(p)
            children.get(p.rpartition("/")[0], set()).discard(p)
            stack.extend(children.pop(p, ()))
            if layer < below and size:
                reports[layer].wasted += size
                row = _row_of(rows[layer], p)
                if row is not None:
                    row["Wasted"] = True

    for i, entries in enumerate(layers):
        report = reports[i]
        for e in entries:  # an opaque directory hides the lower content before this layer's own
            if e.kind == "opaque":
                hide(e.path, below=i, subtree_only=True)
        for e in entries:
            row: dict[str, Any] = {"Path": "/" + e.path, "Kind": e.kind, "Size": e.size, "Wasted": False}
            if e.kind == "whiteout":
                row["Status"] = "removed"
                row["Kind"] = "file"
                report.removed += 1
                hide(e.path, below=i)
            else:
                kind = "dir" if e.kind == "opaque" else e.kind
                row["Kind"] = kind
                existed = e.path in visible
                if existed and kind != "dir":
                    hide(e.path, below=i)
                row["Status"] = "changed" if existed else "added"
                if kind != "dir":
                    report.changed += existed
                    report.added += not existed
                    report.size += e.size
                show(e.path, i, e.size if kind != "dir" else 0)
            rows[i].append(row)
    for report, layer_rows in zip(reports, rows, strict=True):
        report.tree = layer_rows
    return reports


def _row_of(layer_rows: list[dict[str, Any]], path: str) -> dict[str, Any] | None:
    """The row of ``path`` in a layer's (path-sorted) rows."""
    lo, hi, want = 0, len(layer_rows), "/" + path
    while lo < hi:
        mid = (lo + hi) // 2
        if layer_rows[mid]["Path"] < want:
            lo = mid + 1
        else:
            hi = mid
    return layer_rows[lo] if lo < len(layer_rows) and layer_rows[lo]["Path"] == want else None


class LayerAnalysis:
    """``GET /ballena/images/{name}/layers``: the figures, and one layer's tree on request."""

    def __init__(self, *, store: ImageStore) -> None:
        self.store = store
        self._cache: OrderedDict[str, list[LayerReport]] = OrderedDict()

    def layers(self, name: str, *, tree: int | None = None) -> dict[str, Any]:
        """Blocking. Raises NotFound (no such image), InvalidArgument (no such layer)."""
        image_id = self.store.resolve(name)
        reports = self._reports(image_id)
        if tree is not None and not 0 <= tree < len(reports):
            raise InvalidArgument(f"layer {tree} does not exist: the image has layers 0 to {len(reports) - 1}")
        total = sum(r.size for r in reports)
        wasted = sum(r.wasted for r in reports)
        out: dict[str, Any] = {
            "Id": image_id,
            "Size": total,
            "Wasted": wasted,
            "Efficiency": round(1 - wasted / total, 4) if total else 1.0,
            "Layers": [
                {
                    "Index": r.index,
                    "ChainID": r.chain_id,
                    "CreatedBy": r.created_by,
                    "Size": r.size,
                    "Added": r.added,
                    "Changed": r.changed,
                    "Removed": r.removed,
                    "Wasted": r.wasted,
                }
                for r in reports
            ],
        }
        base = self._base_of(image_id)
        if base is not None:
            out["Base"] = {"Name": base[0], "Layers": base[1]}
        if tree is not None:
            out["Tree"] = reports[tree].tree
        return out

    def _base_of(self, image_id: str) -> tuple[str, int] | None:
        """The image it was built FROM, as far as this store can tell: the tagged image whose
        layers are the longest proper prefix of its own (``debian:bookworm-slim``, 1)."""
        chains = self.store.get(image_id).chain_ids
        best: tuple[str, int] | None = None
        for img in self.store.all():
            n = len(img.chain_ids)
            if img.repo_tags and 0 < n < len(chains) and img.chain_ids == chains[:n] and (best is None or n > best[1]):
                # Of its tags, the most telling: "latest", else the longest (bookworm-slim, not 12-slim).
                tag = max(img.repo_tags, key=lambda t: (t.endswith(":latest"), len(t)))
                best = (reference.parse_normalized(tag).familiar(), n)
        return best

    def _reports(self, image_id: str) -> list[LayerReport]:
        if image_id in self._cache:
            self._cache.move_to_end(image_id)
            return self._cache[image_id]
        img = self.store.get(image_id)
        chains = list(img.chain_ids)
        reports = analyse(
            [scan(self.store.snapshots.upper_dir(c)) for c in chains], _layer_commands(img.config, len(chains)), chains
        )
        self._cache[image_id] = reports
        while len(self._cache) > CACHED_IMAGES:
            self._cache.popitem(last=False)
        return reports


def _layer_commands(config: Any, count: int) -> list[str]:
    """The history line that made each layer (empty layers skipped), as the builder wrote it."""
    made = [
        str(h.get("created_by") or h.get("comment") or "")
        for h in config.get("history") or []
        if not h.get("empty_layer")
    ]
    made = made[-count:] if len(made) >= count else [""] * (count - len(made)) + made
    return [_instruction(c) for c in made]


def _instruction(created_by: str) -> str:
    """``/bin/sh -c #(nop) COPY ...`` -> ``COPY ...``; ``/bin/sh -c apt-get ...`` -> ``RUN apt-get ...``."""
    text = created_by.strip()
    if text.startswith("|") and "/bin/sh -c " in text:  # "|1 A=1 /bin/sh -c ...": the build args RUN saw
        text = text[text.index("/bin/sh -c ") :]
    if text.startswith("/bin/sh -c #(nop) "):
        return text[len("/bin/sh -c #(nop) ") :].strip()
    if text.startswith("/bin/sh -c "):
        return "RUN " + text[len("/bin/sh -c ") :]
    return text
