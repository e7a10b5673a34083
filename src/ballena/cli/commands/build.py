"""``ballena build`` and ``ballena builder prune``.

The context goes to the daemon as a tar, as the docker CLI's classic builder sends it: paths
matched by ``.dockerignore`` (or ``<Dockerfile>.dockerignore``) stay home, and a Dockerfile
from outside the context or from stdin travels inside the tar under a random name. The tar is
written by a thread into a pipe while the request streams it, so a large context never sits
in memory.
"""

from __future__ import annotations

import io
import os
import secrets
import sys
import tarfile
import threading

from ballena.cli.commands.images import confirm
from ballena.cli.common import die, flags, out
from ballena.cli.display import size
from ballena.client.api import Client
from ballena.pkg.units import human_size_precision

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

# What makes a stdin context an archive rather than a bare Dockerfile (tar, gzip, bzip2, xz, zstd).
_ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


def _is_archive(head: bytes) -> bool:
    return head.startswith(_ARCHIVE_MAGIC) or head[257:262] == b"ustar"


def _ignore_matcher(context: str, dockerfile_rel: str | None) -> Any:
    from ballena.builder.dockerignore import Matcher, parse

    candidates = [os.path.join(context, dockerfile_rel + ".dockerignore")] if dockerfile_rel else []
    candidates.append(os.path.join(context, ".dockerignore"))
    for path in candidates:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return Matcher(parse(f.read()))
        except FileNotFoundError:
            continue
        except OSError as e:
            die(f"failed to read {path}: {e.strerror}")
    return None


def _write_context(
    w: BinaryIO, context: str, keep: set[str], matcher: Any, extra: tuple[str, bytes] | None, counter: list[int]
) -> None:
    """Tar ``context`` into ``w``, leaving out ignored paths (but never the files in ``keep``)."""

    class Counting(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b: Any) -> int:
            n = w.write(b)
            counter[0] += len(b)
            return n if n is not None else len(b)

    with tarfile.open(fileobj=Counting(), mode="w|", format=tarfile.PAX_FORMAT) as tf:  # type: ignore[call-overload]
        for root, dirs, files in os.walk(context):
            rel_root = os.path.relpath(root, context)
            dirs.sort()
            for name in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
                rel = name if rel_root == "." else f"{rel_root}/{name}"
                if matcher is not None and rel not in keep and matcher.excluded(rel):
                    continue
                _add(tf, os.path.join(root, name), rel)
            for name in list(dirs):
                rel = name if rel_root == "." else f"{rel_root}/{name}"
                full = os.path.join(root, name)
                excluded = matcher is not None and matcher.excluded(rel)
                if os.path.islink(full) or (excluded and not matcher.has_exclusions()):
                    dirs.remove(name)  # a symlinked dir is sent as the link; an ignored one not at all
                elif not excluded:
                    _add(tf, full, rel)
        if extra is not None:
            info = tarfile.TarInfo(extra[0])
            info.size = len(extra[1])
            info.mode = 0o600
            tf.addfile(info, io.BytesIO(extra[1]))


def _add(tf: tarfile.TarFile, path: str, arcname: str) -> None:
    try:
        info = tf.gettarinfo(path, arcname)
    except OSError as e:
        die(f"error checking context: can't stat '{path}': {e.strerror}")
    # Docker's context tar carries no owner names and zeroes the owners: the daemon decides.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if info.isreg():
        try:
            with open(path, "rb") as f:
                tf.addfile(info, f)
        except PermissionError:
            die(f"error checking context: can't open '{path}': permission denied")
    else:
        tf.addfile(info)


def _stream_context(
    context: str, keep: set[str], matcher: Any, extra: tuple[str, bytes] | None
) -> tuple[BinaryIO, list[int]]:
    r, w = os.pipe()
    counter = [0]
    writer = os.fdopen(w, "wb")

    def run() -> None:
        try:
            _write_context(writer, context, keep, matcher, extra, counter)
        except BaseException as e:  # the request sees EOF; say why on stderr
            print(f"error sending the build context: {e}", file=sys.stderr)
        finally:
            writer.close()

    threading.Thread(target=run, daemon=True).start()
    return os.fdopen(r, "rb"), counter


def build(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] PATH | URL | -", min_args=1, max_args=1)
    p.list("tag", "t", "Name and optionally a tag in the 'name:tag' format")
    p.str("file", "f", "Name of the Dockerfile (Default is 'PATH/Dockerfile')", default="")
    p.list("build-arg", None, "Set build-time variables")
    p.bool("no-cache", None, "Do not use cache when building the image")
    p.bool("pull", None, "Always attempt to pull a newer version of the image")
    p.str("target", None, "Set the target build stage to build.", default="")
    p.bool("quiet", "q", "Suppress the build output and print image ID on success")
    p.list("label", None, "Set metadata for an image")
    p.str("iidfile", None, "Write the image ID to the file", default="")
    p.str("network", None, "Set the networking mode for the RUN instructions during build", default="default")
    p.bool("rm", None, "Remove intermediate containers after a successful build", default=True)
    p.bool("force-rm", None, "Always remove intermediate containers")
    p.list("cache-from", None, "Images to consider as cache sources")
    p.str("platform", None, "Set platform if server is multi-platform capable", default="")
    p.str("progress", None, "Type of progress output (auto, plain, tty, quiet)", default="auto")
    a = p.parse(argv)
    quiet = a.quiet or a.progress == "quiet"

    for t in a.tag or []:
        from ballena.errors import InvalidArgument
        from ballena.pkg.reference import parse_normalized

        try:
            parse_normalized(t)
        except InvalidArgument as e:
            die(f'invalid argument "{t}" for "-t, --tag" flag: {e.message}', 125)

    build_args: dict[str, str | None] = {}
    for item in a.build_arg or []:
        key, eq, value = item.partition("=")
        build_args[key] = value if eq else os.environ.get(key)
    labels: dict[str, str] = {}
    for item in a.label or []:
        key, _, value = item.partition("=")
        labels[key] = value

    source = a.args[0]
    dockerfile_param = a.file or None
    body: Any
    counter: list[int] | None = None
    if source == "-":
        if a.file == "-":
            die("invalid argument: can't use stdin for both build context and dockerfile")
        data = sys.stdin.buffer.read()
        body = data  # an archive is the context; anything else is the Dockerfile, with no context
        if not _is_archive(data[:512]):
            dockerfile_param = None
    elif "://" in source or source.startswith("git@"):
        die("remote build contexts (URLs and git repositories) are not supported; clone or download first")
    else:
        context = os.path.abspath(source)
        if not os.path.isdir(context):
            die(f'unable to prepare context: path "{source}" not found')
        extra: tuple[str, bytes] | None = None
        if a.file == "-":
            extra = (f".dockerfile.{secrets.token_hex(10)}", sys.stdin.buffer.read())
            dockerfile_param = extra[0]
        else:
            df = os.path.abspath(a.file) if a.file else os.path.join(context, "Dockerfile")
            if a.file and not os.path.isabs(a.file) and not os.path.exists(df):
                df = os.path.join(context, a.file)  # docker also tries -f relative to the context
            if not os.path.isfile(df):
                die(
                    f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {df}: "
                    "no such file or directory"
                )
            rel = os.path.relpath(df, context)
            if rel.startswith(".." + os.sep) or rel == "..":
                try:
                    with open(df, "rb") as f:
                        extra = (f".dockerfile.{secrets.token_hex(10)}", f.read())
                except OSError as e:
                    die(f"unable to read Dockerfile {df}: {e.strerror}")
                dockerfile_param = extra[0]
            else:
                dockerfile_param = rel
        matcher = _ignore_matcher(context, None if extra else dockerfile_param)
        keep = {".dockerignore"} | ({dockerfile_param} if dockerfile_param else set())
        body, counter = _stream_context(context, keep, matcher, extra)

    params = {
        "t": a.tag or None,
        "dockerfile": dockerfile_param,
        "buildargs": build_args or None,
        "labels": labels or None,
        "nocache": True if a.no_cache else None,
        "pull": True if a.pull else None,
        "target": a.target or None,
        "q": True if quiet else None,
        "networkmode": a.network if a.network != "default" else None,
        "rm": a.rm,
        "forcerm": True if a.force_rm else None,
        "cachefrom": a.cache_from or None,
        "platform": a.platform or None,
    }
    return _show(client, params, body, counter, quiet=quiet, iidfile=a.iidfile)


def _show(
    client: Client, params: dict[str, Any], body: Any, counter: list[int] | None, *, quiet: bool, iidfile: str
) -> int:
    image_id = ""
    for msg in client.stream_json("POST", "/build", params=params, body=body):
        if counter is not None and not quiet:
            # The daemon answers once the whole context has arrived, so the count is final.
            out(f"Sending build context to Ballena daemon  {human_size_precision(counter[0], 4)}")
            counter = None
        if msg.get("error"):
            detail = msg.get("errorDetail") or {}
            die(msg["error"], int(detail.get("code") or 1))
        aux = msg.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            image_id = aux["ID"]
        if not quiet and msg.get("stream"):
            sys.stdout.write(msg["stream"])
            sys.stdout.flush()
        elif not quiet and msg.get("status"):
            out(msg["status"])
    if not image_id:
        die("the daemon ended the build without an image ID")
    if quiet:
        out(image_id)
    if iidfile:
        tmp = iidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write(image_id)
        os.replace(tmp, iidfile)
    return 0


def prune(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS]")
    p.bool("all", "a", "Remove all unused build cache, not just dangling ones")
    p.bool("force", "f", "Do not prompt for confirmation")
    p.list("filter", None, "Provide filter values")
    a = p.parse(argv)
    if not a.force and not confirm("WARNING! This will remove all dangling build cache."):
        return 0
    report = client.post("/build/prune", params={"all": True if a.all else None}) or {}
    deleted = report.get("CachesDeleted") or []
    if deleted:
        out("Deleted build cache objects:")
        for d in deleted:
            out(d)
        out()
    out(f"Total reclaimed space: {size(report.get('SpaceReclaimed', 0))}")
    return 0
