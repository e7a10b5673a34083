"""The overlay snapshotter: ``<root>/<id>/fs`` directories stacked by overlayfs.

Crash safety: a row is inserted before its directory is made and removed after the directory
is renamed away, so a directory without a row is garbage that ``clean()`` removes at start-up.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
from pathlib import Path

from ballena.core.snapshots import Mount, SnapshotInfo
from ballena.errors import AlreadyExists, Conflict, NotFound
from ballena.pkg.timeutil import now_ns
from ballena.stores.metadata import Database

# overlayfs options Docker uses: no inode index (keeps layers movable), no metacopy so a
# committed upper directory is a complete layer.
_OVERLAY_OPTS = ("index=off", "metacopy=off")


class OverlaySnapshotter:
    def __init__(self, root: Path, db: Database) -> None:
        self.root = root
        self.db = db
        root.mkdir(parents=True, exist_ok=True)

    # -- queries ------------------------------------------------------------------------------

    def stat(self, key: str) -> SnapshotInfo:
        rows = self.db.query("SELECT key, id, parent, kind FROM snapshots WHERE key=?", (key,))
        if not rows:
            raise NotFound(f"snapshot {key}: not found")
        k, i, p, kind = rows[0]
        return SnapshotInfo(key=str(k), id=int(i), parent=p if p is None else str(p), kind=str(kind))  # type: ignore[arg-type]

    def exists(self, key: str) -> bool:
        return bool(self.db.query("SELECT 1 FROM snapshots WHERE key=?", (key,)))

    def _dir(self, info: SnapshotInfo) -> Path:
        return self.root / str(info.id)

    def upper_dir(self, key: str) -> Path:
        return self._dir(self.stat(key)) / "fs"

    def lower_dirs(self, key: str) -> list[Path]:
        """The parents' ``fs`` directories, nearest first."""
        out: list[Path] = []
        parent = self.stat(key).parent
        while parent:
            info = self.stat(parent)
            out.append(self._dir(info) / "fs")
            parent = info.parent
        return out

    def mounts(self, key: str) -> list[Mount]:
        info = self.stat(key)
        lowers = self.lower_dirs(key)
        d = self._dir(info)
        if info.kind == "active":
            if not lowers:
                return [Mount(type="bind", source=str(d / "fs"), options=("rbind", "rw"))]
            return [
                Mount(
                    type="overlay",
                    source="overlay",
                    options=(
                        *_OVERLAY_OPTS,
                        "lowerdir=" + ":".join(str(p) for p in lowers),
                        f"upperdir={d / 'fs'}",
                        f"workdir={d / 'work'}",
                    ),
                )
            ]
        stack = [d / "fs", *lowers]
        if len(stack) == 1:
            return [Mount(type="bind", source=str(stack[0]), options=("rbind", "ro"))]
        return [
            Mount(
                type="overlay",
                source="overlay",
                options=(*_OVERLAY_OPTS, "lowerdir=" + ":".join(str(p) for p in stack)),
            )
        ]

    def usage(self, key: str) -> int:
        return dir_size(self.upper_dir(key))

    def children(self, key: str) -> list[str]:
        return [str(r[0]) for r in self.db.query("SELECT key FROM snapshots WHERE parent=?", (key,))]

    def keys(self, *, prefix: str = "") -> list[str]:
        rows = self.db.query("SELECT key FROM snapshots WHERE key LIKE ?", (prefix + "%",))
        return [str(r[0]) for r in rows]

    # -- changes ------------------------------------------------------------------------------

    def prepare(self, key: str, parent: str | None) -> list[Mount]:
        """A new active snapshot on ``parent``. Raises AlreadyExists, NotFound (parent)."""
        with self.db.tx() as conn:
            if parent is not None:
                rows = conn.execute("SELECT kind FROM snapshots WHERE key=?", (parent,)).fetchall()
                if not rows:
                    raise NotFound(f"parent snapshot {parent}: not found")
                if rows[0][0] != "committed":
                    raise Conflict(f"parent snapshot {parent} is not committed")
            try:
                conn.execute(
                    "INSERT INTO snapshots(key, id, parent, kind, created) VALUES "
                    "(?, (SELECT COALESCE(MAX(id), 0) + 1 FROM snapshots), ?, 'active', ?)",
                    (key, parent, now_ns()),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"snapshot {key}: already exists") from None
            sid = conn.execute("SELECT id FROM snapshots WHERE key=?", (key,)).fetchone()[0]
            d = self.root / str(sid)
            if d.exists():  # left by a crash between a rename and its row's removal
                shutil.rmtree(d)
            (d / "fs").mkdir(parents=True)
            (d / "work").mkdir()
            os.chmod(d / "fs", 0o755)
        return self.mounts(key)

    def commit(self, name: str, key: str) -> None:
        """Turn the active snapshot ``key`` into the committed layer ``name``."""
        with self.db.tx() as conn:
            info = self.stat(key)
            if info.kind != "active":
                raise Conflict(f"snapshot {key} is not active")
            if conn.execute("SELECT 1 FROM snapshots WHERE key=?", (name,)).fetchone():
                raise AlreadyExists(f"snapshot {name}: already exists")
            conn.execute("UPDATE snapshots SET key=?, kind='committed' WHERE key=?", (name, key))
        shutil.rmtree(self._dir(info) / "work", ignore_errors=True)

    def remove(self, key: str, *, defer: bool = False) -> Path | None:
        """Remove a snapshot that nothing stands on. Raises NotFound, Conflict.

        Its directory is renamed away in the same transaction; with ``defer`` the caller
        deletes it from the returned path (``clean`` does it after a crash)."""
        with self.db.tx() as conn:
            info = self.stat(key)
            if conn.execute("SELECT 1 FROM snapshots WHERE parent=? LIMIT 1", (key,)).fetchone():
                raise Conflict(f"snapshot {key} has children")
            d = self._dir(info)
            # Unique: an ID is reused once freed, and the last removal may still be emptying.
            trash = self.root / f"removing-{info.id}-{secrets.token_hex(4)}"
            if d.exists():
                os.replace(d, trash)
            conn.execute("DELETE FROM snapshots WHERE key=?", (key,))
        if defer:
            return trash
        _rmtree(trash)
        return None

    def clean(self) -> None:
        """Remove directories no row owns (interrupted removals and preparations)."""
        ids = {str(r[0]) for r in self.db.query("SELECT id FROM snapshots")}
        for entry in os.scandir(self.root):
            if entry.name not in ids:
                _rmtree(Path(entry.path))


def _rmtree(path: Path) -> None:
    if not path.exists():
        return
    try:
        shutil.rmtree(path)
    except OSError:
        # Immutable or busy files: make them deletable and retry once.
        os.system(f"chattr -R -i {str(path)!r} 2>/dev/null")
        shutil.rmtree(path, ignore_errors=True)


def dir_size(path: Path) -> int:
    """Bytes of regular files under ``path``, each inode once (as ``du --apparent-size``)."""
    total = 0
    seen: set[int] = set()
    stack = [str(path)]
    while stack:
        d = stack.pop()
        try:
            it = os.scandir(d)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        with it:
            for e in it:
                try:
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                    elif e.is_file(follow_symlinks=False):
                        st = e.stat(follow_symlinks=False)
                        if st.st_nlink > 1:
                            if st.st_ino in seen:
                                continue
                            seen.add(st.st_ino)
                        total += st.st_size
                except FileNotFoundError:
                    continue
    return total
