"""``cp``, ``diff``, ``commit``, ``export``: a container's files from the command line."""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import tarfile

from ballena.cli.common import UsageError, die, flags, out
from ballena.cli.display import size
from ballena.client.api import APIError, Client

TYPE_CHECKING = False  # typing costs a command ~5 ms to import
if TYPE_CHECKING:
    from typing import Any

_DIR = 1 << 31
_SYMLINK = 1 << 27


def _split_container_path(arg: str) -> tuple[str | None, str]:
    """``ctr:/path`` -> (ctr, /path); a local path (absolute, ./, or with no colon) -> (None, path)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    name, _, path = arg.partition(":")
    return name, path


def cp(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(
        prog,
        f"{prog} [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n        {prog} [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
        min_args=2,
        max_args=2,
    )
    p.bool("archive", "a", "Archive mode (copy all uid/gid information)")
    p.bool("follow-link", "L", "Always follow symbol link in SRC_PATH")
    p.bool("quiet", "q", "Suppress progress output during copy")
    a = p.parse(argv)
    src_ctr, src = _split_container_path(a.args[0])
    dst_ctr, dst = _split_container_path(a.args[1])
    if src_ctr and dst_ctr:
        raise UsageError("copying between containers is not supported", 1)
    if not src_ctr and not dst_ctr:
        raise UsageError("must specify at least one container source", 1)
    if src_ctr:
        return _from_container(client, src_ctr, src, dst, quiet=a.quiet, follow=a.follow_link)
    assert dst_ctr is not None
    return _to_container(client, src, dst_ctr, dst, archive=a.archive, quiet=a.quiet, follow=a.follow_link)


def _stat(header: str | None) -> dict[str, Any]:
    return json.loads(base64.b64decode(header)) if header else {}


def _from_container(client: Client, ctr: str, src: str, dst: str, *, quiet: bool, follow: bool) -> int:
    try:
        resp = client.request("GET", f"/containers/{ctr}/archive", params={"path": src})
    except APIError as e:
        die(f"Error response from daemon: {e.message}")
    info = _stat(resp.getheader("x-docker-container-path-stat"))
    data = resp.read()
    if dst == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    src_is_dir = bool(info.get("mode", 0) & _DIR)
    src_base = info.get("name") or os.path.basename(src.rstrip("/"))
    contents_only = src.endswith("/.")
    if os.path.isdir(dst):
        target = dst if contents_only else os.path.join(dst, src_base)
    else:
        if dst.endswith("/"):
            die(f'destination directory "{dst}" must exist')
        if not os.path.isdir(os.path.dirname(os.path.abspath(dst))):
            die(f'no such directory: "{os.path.dirname(dst)}"')
        target = dst
    total = 0
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        members = tf.getmembers()
        top = members[0].name.split("/")[0] if members else src_base
        for m in members:
            rel = m.name[len(top) :].lstrip("/") if m.name.startswith(top) else m.name
            path = os.path.join(target, rel) if rel else target
            if not src_is_dir and rel == "" and os.path.isdir(path):
                path = os.path.join(path, src_base)
            _extract_local(tf, m, path)
            total += m.size
    if not quiet:
        print(f"Successfully copied {size(total)} to {dst}", file=sys.stderr)
    return 0


def _extract_local(tf: tarfile.TarFile, m: tarfile.TarInfo, path: str) -> None:
    if m.isdir():
        os.makedirs(path, exist_ok=True)
        os.chmod(path, m.mode & 0o7777)
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if os.path.lexists(path) and not os.path.isdir(path):
        os.unlink(path)
    if m.issym():
        os.symlink(m.linkname, path)
        return
    if m.isreg():
        src = tf.extractfile(m)
        assert src is not None
        with open(path, "wb") as f:
            while chunk := src.read(1 << 20):
                f.write(chunk)
        os.chmod(path, m.mode & 0o7777)
        os.utime(path, (m.mtime, m.mtime))


def _to_container(client: Client, src: str, ctr: str, dst: str, *, archive: bool, quiet: bool, follow: bool) -> int:
    if src == "-":
        body = sys.stdin.buffer.read()
        try:
            client.request("PUT", f"/containers/{ctr}/archive", params={"path": dst}, body=body).read()
        except APIError as e:
            die(f"Error response from daemon: {e.message}")
        return 0
    if not os.path.lexists(src):
        die(f"lstat {os.path.abspath(src)}: no such file or directory")
    # Where does it go? Docker's rules: into DST if it is a directory, else as DST.
    try:
        resp = client.request("HEAD", f"/containers/{ctr}/archive", params={"path": dst})
        resp.read()
        dst_info = _stat(resp.getheader("x-docker-container-path-stat"))
        dst_exists = True
    except APIError as e:
        if e.status != 404:
            die(f"Error response from daemon: {e.message}")
        dst_info, dst_exists = {}, False
    src_is_dir = os.path.isdir(src) and (follow or not os.path.islink(src))
    contents_only = src.endswith("/.")
    if dst_exists and dst_info.get("mode", 0) & _DIR:
        parent, name = dst, ("." if contents_only else os.path.basename(os.path.normpath(src)))
    else:
        if dst.endswith("/"):
            die(f"Error response from daemon: Could not find the file {dst} in container {ctr}")
        parent, name = os.path.dirname(dst.rstrip("/")) or "/", os.path.basename(dst.rstrip("/"))
    buf = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, dereference=follow) as tf:
        if src_is_dir:
            base = os.path.normpath(src)
            for root, dirs, files in os.walk(base, followlinks=follow):
                dirs.sort()
                rel = os.path.relpath(root, base)
                arc = name if rel == "." else os.path.join(name, rel)
                tf.add(root, arcname=arc, recursive=False, filter=_owner(archive))
                for f in sorted(files):
                    full = os.path.join(root, f)
                    tf.add(full, arcname=os.path.join(arc, f), recursive=False, filter=_owner(archive))
                    total += os.lstat(full).st_size
        else:
            tf.add(src, arcname=name, recursive=False, filter=_owner(archive))
            total += os.stat(src).st_size if follow else os.lstat(src).st_size
    try:
        client.request(
            "PUT",
            f"/containers/{ctr}/archive",
            params={"path": parent, "noOverwriteDirNonDir": True, "copyUIDGID": archive or None},
            body=buf.getvalue(),
        ).read()
    except APIError as e:
        die(f"Error response from daemon: {e.message}")
    if not quiet:
        print(f"Successfully copied {size(total)} to {ctr}:{dst}", file=sys.stderr)
    return 0


def _owner(keep: bool) -> Any:
    def f(ti: tarfile.TarInfo) -> tarfile.TarInfo:
        if not keep:
            ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        return ti

    return f


def diff(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} CONTAINER", min_args=1, max_args=1)
    a = p.parse(argv)
    for c in client.get(f"/containers/{a.args[0]}/changes") or []:
        out(f"{'CAD'[c['Kind']]} {c['Path']}")
    return 0


def commit(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] CONTAINER [REPOSITORY[:TAG]]", min_args=1, max_args=2)
    p.str("author", "a", 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    p.list("change", "c", "Apply Dockerfile instruction to the created image")
    p.str("message", "m", "Commit message")
    p.bool("pause", "p", "Pause container during commit", default=True)
    a = p.parse(argv)
    repo = tag = None
    if len(a.args) == 2:
        from ballena.errors import InvalidArgument
        from ballena.pkg.reference import parse_normalized

        try:
            ref = parse_normalized(a.args[1])
        except InvalidArgument as e:
            die(f'Error parsing reference: "{a.args[1]}" is not a valid repository/tag: {e.message}')
        repo, tag = ref.familiar_name, ref.tag
    res = client.post(
        "/commit",
        params={
            "container": a.args[0],
            "repo": repo,
            "tag": tag,
            "comment": a.message,
            "author": a.author,
            "changes": a.change,
            "pause": a.pause,
        },
    )
    out(res["Id"])
    return 0


def export(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] CONTAINER", min_args=1, max_args=1)
    p.str("output", "o", "Write to a file, instead of STDOUT")
    a = p.parse(argv)
    if not a.output and sys.stdout.isatty():
        die("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    chunks = client.stream_raw("GET", f"/containers/{a.args[0]}/export")
    if a.output:
        with open(a.output + ".tmp", "wb") as f:
            for c in chunks:
                f.write(c)
        os.replace(a.output + ".tmp", a.output)
    else:
        for c in chunks:
            sys.stdout.buffer.write(c)
        sys.stdout.buffer.flush()
    return 0
