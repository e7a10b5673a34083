"""Image commands: images, rmi, tag, history, import, save, load, image inspect/prune."""

from __future__ import annotations

import os
import sys

from ballena.cli.common import die, filters_param, flags, out, render
from ballena.cli.display import ellipsis, short_id, since, size
from ballena.client.api import APIError, Client

TYPE_CHECKING = False  # typing itself costs the CLI ~5 ms to import

if TYPE_CHECKING:
    from typing import Any

IMAGE_HEADERS = {
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "ID": "IMAGE ID",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "Digest": "DIGEST",
    "Containers": "CONTAINERS",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
    "VirtualSize": "SIZE",
}


class ImageRow(dict):  # type: ignore[type-arg]
    def __template_json__(self) -> dict[str, Any]:
        return {k: v for k, v in self.items() if not k.startswith("_")}


def _rows(images: list[dict[str, Any]], *, digests: bool, no_trunc: bool) -> list[ImageRow]:
    from ballena.cli.display import unix_to_rfc3339_local

    rows: list[ImageRow] = []
    for img in images:
        tags = img.get("RepoTags") or []
        repo_digests = [d for d in (img.get("RepoDigests") or []) if d != "<none>@<none>"]
        base = {
            "ID": short_id(img["Id"], no_trunc),
            "CreatedSince": since(img.get("Created", 0)),
            "CreatedAt": unix_to_rfc3339_local(img.get("Created", 0)),
            "Size": size(img.get("Size", 0)),
            "Containers": str(img["Containers"]) if img.get("Containers", -1) >= 0 else "N/A",
            "SharedSize": size(img["SharedSize"]) if img.get("SharedSize", -1) >= 0 else "N/A",
            "UniqueSize": size(img.get("Size", 0)),
            "VirtualSize": size(img.get("Size", 0)),
        }
        tags = [t for t in tags if t != "<none>:<none>"]
        if not tags and not repo_digests:
            rows.append(ImageRow(Repository="<none>", Tag="<none>", Digest="<none>", **base))
            continue
        seen_repos: set[str] = set()
        for t in tags:
            repo, _, tag = t.rpartition(":")
            seen_repos.add(repo)
            digest = next((d.split("@", 1)[1] for d in repo_digests if d.split("@", 1)[0] == repo), "<none>")
            rows.append(ImageRow(Repository=repo, Tag=tag, Digest=digest, **base))
        for d in repo_digests:
            repo, _, dig = d.partition("@")
            if repo not in seen_repos:
                rows.append(ImageRow(Repository=repo, Tag="<none>", Digest=dig, **base))
    return rows


def ls(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] [REPOSITORY[:TAG]]", max_args=1)
    p.bool("all", "a", "Show all images (default hides intermediate images)")
    p.bool("quiet", "q", "Only show image IDs")
    p.bool("digests", None, "Show digests")
    p.bool("no-trunc", None, "Don't truncate output")
    p.list("filter", "f", "Filter output based on conditions provided")
    p.str("format", None, "Format output using a custom template")
    a = p.parse(argv)
    filters = a.filter or []
    if a.args:
        filters = [*filters, f"reference={a.args[0]}"]
    images = client.get("/images/json", params={"all": a.all, "filters": filters_param(filters)}) or []
    rows = _rows(images, digests=a.digests, no_trunc=a.no_trunc)
    if a.quiet:
        for r in rows:
            out(r["ID"])
        return 0
    default = (
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
        if a.digests
        else "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    )
    text = render(rows, a.format, default=default, headers=IMAGE_HEADERS)
    if text:
        out(text)
    return 0


def rm(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] IMAGE [IMAGE...]", min_args=1)
    p.bool("force", "f", "Force removal of the image")
    p.bool("no-prune", None, "Do not delete untagged parents")
    a = p.parse(argv)
    code = 0
    for name in a.args:
        try:
            records = (
                client.delete(f"/images/{name}", params={"force": a.force or None, "noprune": a.no_prune or None}) or []
            )
        except APIError as e:
            print(f"Error response from daemon: {e.message}", file=sys.stderr)
            code = 1
            continue
        for r in records:
            if r.get("Untagged"):
                out(f"Untagged: {r['Untagged']}")
            if r.get("Deleted"):
                out(f"Deleted: {r['Deleted']}")
    return code


def tag(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", min_args=2, max_args=2)
    a = p.parse(argv)
    source, target = a.args
    from ballena.errors import InvalidArgument
    from ballena.pkg.reference import parse_normalized

    try:
        ref = parse_normalized(target)
    except InvalidArgument as e:
        die(f'Error parsing reference: "{target}" is not a valid repository/tag: {e.message}')
    if ref.digest is not None:
        die("refusing to create a tag with a digest reference")
    client.request(
        "POST", f"/images/{source}/tag", params={"repo": ref.familiar_name, "tag": ref.tag or "latest"}
    ).read()
    return 0


def history(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] IMAGE", min_args=1, max_args=1)
    p.bool("human", "H", "Print sizes and dates in human readable format", default=True)
    p.bool("no-trunc", None, "")
    p.bool("quiet", "q", "")
    p.str("format", None, "")
    a = p.parse(argv)
    items = client.get(f"/images/{a.args[0]}/history") or []
    from ballena.cli.display import unix_to_rfc3339_local

    rows = []
    for h in items:
        created_by = h.get("CreatedBy", "").replace("\t", " ")
        rows.append(
            {
                "ID": short_id(h["Id"], a.no_trunc) if h["Id"] != "<missing>" else "<missing>",
                "CreatedSince": since(h.get("Created", 0)) if a.human else unix_to_rfc3339_local(h.get("Created", 0)),
                "CreatedAt": unix_to_rfc3339_local(h.get("Created", 0)),
                "CreatedBy": created_by if a.no_trunc else ellipsis(created_by, 45),
                "Size": size(h.get("Size", 0)) if a.human else str(h.get("Size", 0)),
                "Comment": h.get("Comment", ""),
            }
        )
    if a.quiet:
        for r in rows:
            out(r["ID"])
        return 0
    text = render(
        rows,
        a.format,
        default="table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
        headers={
            "ID": "IMAGE",
            "CreatedSince": "CREATED",
            "CreatedAt": "CREATED AT",
            "CreatedBy": "CREATED BY",
            "Size": "SIZE",
            "Comment": "COMMENT",
        },
    )
    out(text)
    return 0


def import_(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] file|URL|- [REPOSITORY[:TAG]]", min_args=1, max_args=2)
    p.list("change", "c", "Apply Dockerfile instruction to the created image")
    p.str("message", "m", "Set commit message for imported image", default="")
    p.str("platform", None, "", default=None)
    a = p.parse(argv)
    source = a.args[0]
    repository = a.args[1] if len(a.args) > 1 else None
    repo = tag_ = None
    if repository:
        from ballena.errors import InvalidArgument
        from ballena.pkg.reference import parse_normalized

        try:
            ref = parse_normalized(repository)
        except InvalidArgument as e:
            die(f"Error response from daemon: {e.message}")
        repo, tag_ = ref.familiar_name, ref.tag
    params = {"fromSrc": "-", "repo": repo, "tag": tag_, "message": a.message or None, "changes": a.change}
    if source == "-":
        body = sys.stdin.buffer
    elif "://" in source:
        params["fromSrc"] = source
        body = None
    else:
        try:
            body = open(source, "rb")  # noqa: SIM115 - closed at exit
        except OSError as e:
            die(f"open {source}: {e.strerror.lower() if e.strerror else e}")
    for msg in client.stream_json("POST", "/images/create", params=params, body=body if body is not None else b""):
        if msg.get("error"):
            die(msg["error"])
        if msg.get("status"):
            out(msg["status"])
    return 0


def save(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] IMAGE [IMAGE...]", min_args=1)
    p.str("output", "o", "Write to a file, instead of STDOUT")
    p.str("platform", None, "", default=None)
    a = p.parse(argv)
    if not a.output and sys.stdout.isatty():
        die("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    chunks = client.stream_raw("GET", "/images/get", params={"names": a.args})
    if a.output:
        tmp = a.output + ".tmp"
        with open(tmp, "wb") as f:
            for c in chunks:
                f.write(c)
        os.replace(tmp, a.output)
    else:
        w = sys.stdout.buffer
        for c in chunks:
            w.write(c)
        w.flush()
    return 0


def load(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS]")
    p.str("input", "i", "Read from tar archive file, instead of STDIN")
    p.bool("quiet", "q", "")
    p.str("platform", None, "", default=None)
    a = p.parse(argv)
    if a.input:
        try:
            body: Any = open(a.input, "rb")  # noqa: SIM115
        except OSError as e:
            die(f"open {a.input}: {(e.strerror or str(e)).lower()}")
    else:
        if sys.stdin.isatty():
            die("requested load from stdin, but stdin is empty")
        body = sys.stdin.buffer
    for msg in client.stream_json("POST", "/images/load", params={"quiet": True if a.quiet else None}, body=body):
        if msg.get("error"):
            die(msg["error"])
        if msg.get("stream"):
            sys.stdout.write(msg["stream"])
        elif msg.get("status") and not a.quiet:
            out(msg["status"])
    return 0


def inspect(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] IMAGE [IMAGE...]", min_args=1)
    p.str("format", "f", "")
    a = p.parse(argv)
    from ballena.cli.commands.inspect import print_inspected

    results, errors = [], []
    for n in a.args:
        try:
            results.append(client.get(f"/images/{n}/json"))
        except APIError as e:
            if e.status != 404:
                raise
            errors.append(f"Error response from daemon: {e.message}")
    return print_inspected(results, errors, a.format)


def prune(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS]")
    p.bool("all", "a", "Remove all unused images, not just dangling ones")
    p.bool("force", "f", "Do not prompt for confirmation")
    p.list("filter", None, "")
    a = p.parse(argv)
    warning = (
        "WARNING! This will remove all images without at least one container associated to them."
        if a.all
        else "WARNING! This will remove all dangling images."
    )
    if not a.force and not confirm(warning):
        return 0
    filters = list(a.filter or [])
    filters.append(f"dangling={'false' if a.all else 'true'}")
    report = client.post("/images/prune", params={"filters": filters_param(filters)}) or {}
    print_prune_report(report.get("ImagesDeleted") or [], report.get("SpaceReclaimed", 0), "Deleted Images:")
    return 0


def confirm(warning: str) -> bool:
    sys.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def print_prune_report(deleted: list[dict[str, str]], reclaimed: int, title: str) -> None:
    if deleted:
        out(title)
        for d in deleted:
            if d.get("Untagged"):
                out(f"untagged: {d['Untagged']}")
            if d.get("Deleted"):
                out(f"deleted: {d['Deleted']}")
        out()
    out(f"Total reclaimed space: {size(reclaimed)}")


def layers(client: Client, argv: list[str], *, prog: str) -> int:
    """Each layer's Dockerfile line, size, files added/changed/removed and wasted bytes (dive's
    figures), or with ``--tree N`` that layer's files."""
    p = flags(prog, f"{prog} [OPTIONS] IMAGE", min_args=1, max_args=1)
    p.str("tree", None, "Print the files of layer N (from 0): + added, ~ changed, - removed, ! wasted later")
    p.str("format", None, "Format the output: json")
    p.bool("no-trunc", None, "Don't truncate the Dockerfile lines")
    a = p.parse(argv)
    import json
    import urllib.parse

    params = {"tree": a.tree} if a.tree is not None else None
    try:
        report = client.get(f"/ballena/images/{urllib.parse.quote(a.args[0], safe=':/@')}/layers", params=params)
    except APIError as e:
        die(f"Error response from daemon: {e.message}")
    if a.format == "json":
        out(json.dumps(report, indent=2))
        return 0
    if a.format:
        die(f"unknown format {a.format!r}: use json")
    if a.tree is not None:
        marks = {"added": "+", "changed": "~", "removed": "-"}
        for row in report["Tree"]:
            wasted = " !" if row["Wasted"] else ""
            shown = size(row["Size"]) if row["Kind"] != "dir" else ""
            out(f"{marks[row['Status']]} {shown:>9}  {row['Path']}{'/' if row['Kind'] == 'dir' else ''}{wasted}")
        return 0
    rows = [
        {
            "Index": str(layer["Index"]),
            "Size": size(layer["Size"]),
            "Added": str(layer["Added"]),
            "Changed": str(layer["Changed"]),
            "Removed": str(layer["Removed"]),
            "Wasted": size(layer["Wasted"]) if layer["Wasted"] else "0B",
            "CreatedBy": layer["CreatedBy"] if a.no_trunc else ellipsis(layer["CreatedBy"], 60),
        }
        for layer in report["Layers"]
    ]
    out(
        render(
            rows,
            None,
            default="table {{.Index}}\t{{.Size}}\t{{.Added}}\t{{.Changed}}\t{{.Removed}}\t{{.Wasted}}\t{{.CreatedBy}}",
            headers={
                "Index": "LAYER",
                "Size": "SIZE",
                "Added": "ADDED",
                "Changed": "CHANGED",
                "Removed": "REMOVED",
                "Wasted": "WASTED",
                "CreatedBy": "CREATED BY",
            },  # fmt: skip
        )
    )
    base = report.get("Base")
    own = report["Layers"][base["Layers"] :] if base else report["Layers"]
    notes = [""]
    if base:
        last = base["Layers"] - 1
        notes.append(f"From {base['Name']}: " + (f"layers 0-{last}" if last else "layer 0"))
    if own:
        biggest = max(own, key=lambda layer: layer["Size"])
        what = "Biggest layer of its own" if base else "Biggest layer"
        notes.append(f"{what}: {biggest['Index']} ({size(biggest['Size'])}) {ellipsis(biggest['CreatedBy'], 70)}")
    out("\n".join(notes))
    out(
        f"Image: {size(report['Size'])} in layers, {size(report['Wasted'])} wasted, "
        f"efficiency {report['Efficiency'] * 100:.1f} %"
    )
    return 0
