"""A stack of overlay directories (top first) read as the one tree overlayfs would show,
without mounting it: for the builder's COPY --from, volumes seeded from an image, ``docker
diff`` and the /etc files of a container that is not running.

Whiteouts are overlayfs's: a character device 0:0 hides a lower entry, the xattr
``trusted.overlay.opaque=y`` hides a lower directory's content. Symlinks are resolved inside
the stack (an absolute target is taken from the stack's root), never on the host.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator

from ballena.pkg.securejoin import MAX_SYMLINKS

OPAQUE_XATTR = "trusted.overlay.opaque"


def is_whiteout_device(st: os.stat_result) -> bool:
    """overlayfs's mark of a deleted entry: a character device 0:0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    """A directory whose lower content overlayfs hides."""
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def content_xattrs(path: str) -> dict[str, bytes]:
    """The extended attributes of ``path`` that are image content (capabilities, user.*), not
    overlayfs's bookkeeping."""
    out: dict[str, bytes] = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for name in names:
        if name.startswith("trusted.overlay.") or name.startswith("system."):
            continue  # overlay's bookkeeping and ACL internals are not image content
        if name == "security.capability" or name.startswith("user.") or name.startswith("security."):
            try:
                out[name] = os.getxattr(path, name, follow_symlinks=False)
            except OSError:
                pass
    return out


def lookup_in_layers(layers: list[str], rel: str, *, follow: bool = False) -> str | None:
    """The real path of ``rel`` in a stack of overlay directories (top first), or None when it
    is absent or deleted.

    Symlinks on the way are resolved inside the stack, as if its merged view were ``/`` (the
    securejoin rule): an image's ``/etc/x -> /root`` leads to the image's /root, never the
    host's. The final component is followed too with ``follow``."""
    parts = resolve_in_layers(layers, rel, follow=follow)
    if parts is None:
        return None
    if not parts:
        return layers[0] if layers else None
    return _union_entry(layers, parts)


def resolve_in_layers(layers: list[str], rel: str, *, follow: bool = False) -> list[str] | None:
    """The components of ``rel`` in the merged view of ``layers`` with every symlink resolved
    inside it (``..`` never climbs above its root); None when a component does not exist."""
    todo = [p for p in rel.replace("\\", "/").split("/") if p]
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        if part == ".":
            continue
        real = _union_entry(layers, [*done, part])
        if real is None:
            return None
        if (todo or follow) and stat.S_ISLNK(os.lstat(real).st_mode):
            links += 1
            if links > MAX_SYMLINKS:
                return None
            target = os.readlink(real)
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/") if p] + todo
            continue
        done.append(part)
    return done


def _union_entry(layers: list[str], parts: list[str]) -> str | None:
    """The real path of the merged entry at ``parts`` (components with no symlink among them),
    as overlayfs finds it: the topmost layer that has it, unless a whiteout, a non-directory or
    an opaque directory on the way hides it. Each component is checked with lstat, so no
    symlink in a layer is ever followed on the host."""
    for layer in layers:
        acc = layer
        opaque = False
        for i, part in enumerate(parts):
            acc = os.path.join(acc, part)
            try:
                st = os.lstat(acc)
            except (FileNotFoundError, NotADirectoryError):
                break
            if is_whiteout_device(st):
                return None
            if i == len(parts) - 1:
                return acc
            if not stat.S_ISDIR(st.st_mode):
                return None  # a file or a link here hides whatever lower layers have below
            if is_opaque(acc):
                opaque = True
        if opaque:
            return None
    return None


def _layer_dirs(layers: list[str], parts: list[str]) -> list[str | None]:
    """The real directory at ``parts`` in each layer that contributes to the merged one."""
    out: list[str | None] = []
    for layer in layers:
        acc, ok = layer, True
        for part in parts:
            acc = os.path.join(acc, part)
            try:
                st = os.lstat(acc)
            except (FileNotFoundError, NotADirectoryError):
                ok = False
                break
            if not stat.S_ISDIR(st.st_mode):
                return out  # hides everything below
        if not ok:
            out.append(None)
            continue
        out.append(acc)
        if is_opaque(acc):
            break
    return out


def walk_union(layers: list[str], rel: str = "") -> Iterator[tuple[str, str, os.stat_result]]:
    """The merged view of overlay layers (top first) under the directory ``rel`` (resolved
    inside the stack, final symlink followed), as overlayfs shows it: (relative path, real
    path, lstat), parents before children, names sorted. Paths are relative to the stack's
    root as ``rel`` resolved."""
    parts = resolve_in_layers(layers, rel, follow=True)
    if parts is None:
        return
    found = _union_entry(layers, parts) if parts else (layers[0] if layers else None)
    if found is None or not stat.S_ISDIR(os.lstat(found).st_mode):
        return
    yield from _merge(_layer_dirs(layers, parts), "/".join(parts))


def _merge(dirs: list[str | None], rel: str) -> Iterator[tuple[str, str, os.stat_result]]:
    """One merged directory: ``dirs`` is its real directory in each layer, top first."""
    entries: dict[str, tuple[int, str, os.stat_result]] = {}
    deleted: set[str] = set()
    for i, d in enumerate(dirs):
        if d is None:
            continue
        for name in os.listdir(d):
            if name in entries or name in deleted:
                continue
            real = os.path.join(d, name)
            st = os.lstat(real)
            if is_whiteout_device(st):
                deleted.add(name)
                continue
            entries[name] = (i, real, st)
    for name in sorted(entries):
        i, real, st = entries[name]
        path = f"{rel}/{name}" if rel else name
        yield path, real, st
        if not stat.S_ISDIR(st.st_mode):
            continue
        below: list[str | None] = []
        for d in dirs[i:]:
            sub = os.path.join(d, name) if d is not None else None
            if sub is not None and os.path.lexists(sub) and not os.path.isdir(sub):
                break
            below.append(sub if sub is not None and os.path.isdir(sub) else None)
            if below[-1] is not None and is_opaque(sub):  # type: ignore[arg-type]
                break
        yield from _merge(below, path)


def copy_from_layers(layers: list[str], rel: str, dest: str) -> bool:
    """Copy the merged content of ``rel`` into the empty directory ``dest`` (Docker fills a new
    volume from the image this way). Owners, modes, times and links are kept. Returns whether
    the image had anything there."""
    parts = resolve_in_layers(layers, rel, follow=True)  # the image's symlinks, inside the image
    if parts is None:
        return False
    base = "/".join(parts)
    found = _union_entry(layers, parts) if parts else (layers[0] if layers else None)
    if found is None:
        return False
    st = os.lstat(found)
    if not stat.S_ISDIR(st.st_mode):
        return False
    os.chown(dest, st.st_uid, st.st_gid)
    os.chmod(dest, stat.S_IMODE(st.st_mode))
    links: dict[tuple[int, int], str] = {}
    dir_times: list[tuple[str, os.stat_result]] = []
    copied = False
    for path, real, est in walk_union(layers, base):
        copied = True
        sub = path[len(base) + 1 :] if base else path
        target = os.path.join(dest, sub)
        mode = est.st_mode
        if stat.S_ISDIR(mode):
            os.makedirs(target, exist_ok=True)
            dir_times.append((target, est))
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(real), target)
        elif stat.S_ISREG(mode):
            key = (est.st_dev, est.st_ino)
            if est.st_nlink > 1 and key in links:
                os.link(links[key], target)
                continue
            shutil.copyfile(real, target, follow_symlinks=False)
            links[key] = target
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
            if stat.S_ISFIFO(mode):
                os.mkfifo(target, stat.S_IMODE(mode))
            else:
                os.mknod(target, mode, est.st_rdev)
        else:
            continue
        os.lchown(target, est.st_uid, est.st_gid)
        if not stat.S_ISLNK(mode):
            os.chmod(target, stat.S_IMODE(mode))
            for name, value in content_xattrs(real).items():
                try:
                    os.setxattr(target, name, value, follow_symlinks=False)
                except OSError:
                    pass
            if not stat.S_ISDIR(mode):
                os.utime(target, ns=(est.st_atime_ns, est.st_mtime_ns), follow_symlinks=False)
    for target, est in reversed(dir_times):
        os.utime(target, ns=(est.st_atime_ns, est.st_mtime_ns), follow_symlinks=False)
    return copied
