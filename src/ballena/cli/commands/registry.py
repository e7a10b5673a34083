"""Registry commands: pull, push, login, logout, search, image tags.

Logins live in ``~/.docker/config.json`` (see ``ballena.cli.dockerconfig``), shared with the
docker CLI; pulls and pushes send the matching one to the daemon as ``X-Registry-Auth``.
"""

from __future__ import annotations

import sys

from ballena.cli import dockerconfig
from ballena.cli.common import UsageError, die, flags, out, render
from ballena.client.api import APIError, Client

TYPE_CHECKING = False  # typing costs a command ~5 ms to import
if TYPE_CHECKING:
    from typing import Any, TextIO

    from ballena.pkg.reference import Reference


def _reference(image: str) -> Reference:
    from ballena.errors import InvalidArgument
    from ballena.pkg.reference import parse_normalized

    try:
        return parse_normalized(image)
    except InvalidArgument as e:
        raise UsageError(f'invalid reference format: repository name "{image}" {e.message}', 1) from None


def _auth_header(domain: str) -> dict[str, str]:
    """The X-Registry-Auth header for ``domain`` from the saved logins (always sent, as the
    docker CLI does: an empty AuthConfig means anonymous)."""
    try:
        creds = dockerconfig.get_credentials(domain)
    except (OSError, ValueError):
        creds = {}
    return {"X-Registry-Auth": dockerconfig.encode_auth_header(creds)}


def pull_image(
    client: Client,
    image: str,
    *,
    quiet: bool = False,
    out: TextIO = sys.stdout,
    all_tags: bool = False,
    platform: str | None = None,
) -> None:
    ref = _reference(image)
    tag = ref.digest or ref.tag or (None if all_tags else "latest")
    if not ref.tag and not ref.digest and not all_tags and not quiet:
        out.write("Using default tag: latest\n")
    params: dict[str, Any] = {"fromImage": ref.name_only().familiar(), "tag": tag, "platform": platform}
    progress = Progress(out, quiet)
    for msg in client.stream_json("POST", "/images/create", params=params, headers=_auth_header(ref.domain)):
        if msg.get("error"):
            progress.finish()
            die(msg["error"])
        progress.show(msg)
    progress.finish()


class Progress:
    """Docker's pull/push display: one line per layer, redrawn in place on a terminal."""

    def __init__(self, stream: TextIO, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self.lines: dict[str, int] = {}
        self.count = 0

    def show(self, msg: dict[str, Any]) -> None:
        if self.quiet or "aux" in msg:
            return
        status = msg.get("status", "")
        if not status:
            return
        ident = msg.get("id")
        text = f"{ident}: {status}" if ident else status
        if msg.get("progress") and self.tty:
            text += " " + msg["progress"]
        if ident and self.tty:
            if ident in self.lines:
                up = self.count - self.lines[ident]
                self.stream.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")
            else:
                self.lines[ident] = self.count
                self.count += 1
                self.stream.write(text + "\n")
        elif not ident or not (msg.get("progressDetail") or {}).get("current"):
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        self.stream.flush()


def pull(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] NAME[:TAG|@DIGEST]", min_args=1, max_args=1)
    p.bool("all-tags", "a", "Download all tagged images in the repository")
    p.bool("quiet", "q", "Suppress verbose output")
    p.str("platform", None, "Set platform if server is multi-platform capable")
    a = p.parse(argv)
    try:
        pull_image(client, a.args[0], quiet=a.quiet, all_tags=a.all_tags, platform=a.platform)
    except APIError as e:
        die(f"Error response from daemon: {e.message}")
    ref = _reference(a.args[0])
    out(str(ref.name_only()) if a.all_tags else str(ref.tagged_or_latest()))  # the full name, as docker
    return 0


def push(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] NAME[:TAG]", min_args=1, max_args=1)
    p.bool("all-tags", "a", "Push all tags of an image to the repository")
    p.bool("quiet", "q", "Suppress verbose output")
    p.str("platform", None, "Push a platform-specific manifest as a single-platform image")
    a = p.parse(argv)
    ref = _reference(a.args[0])
    if a.all_tags and (ref.tag or ref.digest):
        die("tag can't be used with --all-tags/-a")
    tag = ref.tag
    if not a.all_tags and not tag:
        out("Using default tag: latest")
        tag = "latest"
    progress = Progress(sys.stdout, a.quiet)
    try:
        for msg in client.stream_json(
            "POST",
            f"/images/{ref.name_only().familiar()}/push",
            params={"tag": tag},
            headers=_auth_header(ref.domain),
        ):
            if msg.get("error"):
                die(msg["error"])
            progress.show(msg)
    except APIError as e:
        die(f"Error response from daemon: {e.message}")
    if a.quiet:
        out(ref.name_only().with_tag(tag).familiar() if tag else ref.name_only().familiar())
    return 0


def login(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] [SERVER]", max_args=1)
    p.str("username", "u", "Username")
    p.str("password", "p", "Password or Personal Access Token (PAT)")
    p.bool("password-stdin", None, "Take the Password or Personal Access Token (PAT) from stdin")
    a = p.parse(argv)
    server = a.args[0] if a.args else dockerconfig.DOCKER_IO_KEY
    key = dockerconfig.server_key(server)
    username, password = a.username or "", a.password or ""
    if a.password and a.password_stdin:
        die("--password and --password-stdin are mutually exclusive", 1)
    if a.password_stdin:
        if not username:
            die("Must provide --username with --password-stdin", 1)
        password = sys.stdin.read().rstrip("\r\n")
    elif a.password:
        print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", file=sys.stderr)
    if not username:
        saved = dockerconfig.get_credentials(key)
        default = saved.get("username", "")
        sys.stdout.write(f"Username{' (' + default + ')' if default else ''}: ")
        sys.stdout.flush()
        username = sys.stdin.readline().strip() or default
        if not username:
            die("Error: Non-null Username Required", 1)
    if not password:
        import getpass

        password = getpass.getpass("Password: ")
        if not password:
            die("Error: Password Required", 1)
    body = {"username": username, "password": password, "serveraddress": key}
    try:
        result = client.post("/auth", body=body) or {}
    except APIError as e:
        die(f"Error response from daemon: {e.message}")
    try:
        dockerconfig.store_credentials(key, username, password, result.get("IdentityToken") or "")
    except (OSError, ValueError) as e:
        die(f"Error saving credentials: {e}")
    out(result.get("Status") or "Login Succeeded")
    return 0


def logout(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [SERVER]", max_args=1)
    a = p.parse(argv)
    server = a.args[0] if a.args else dockerconfig.DOCKER_IO_KEY
    key = dockerconfig.server_key(server)
    try:
        found = dockerconfig.erase_credentials(key)
    except (OSError, ValueError) as e:
        die(f"Error: {e}")
    if not found:
        out(f"Not logged in to {key}")
        return 0
    out(f"Removing login credentials for {key}")
    return 0


SEARCH_HEADERS = {"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS", "IsOfficial": "OFFICIAL"}


def search(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] TERM", min_args=1, max_args=1)
    p.list("filter", "f", "Filter output based on conditions provided")
    p.str("format", None, "Pretty-print search using a Go template")
    p.int("limit", None, "Max number of search results", default=0)
    p.bool("no-trunc", None, "Don't truncate output")
    a = p.parse(argv)
    from ballena.cli.common import filters_param

    term = a.args[0]
    first = term.split("/")[0]
    domain = first if "/" in term and ("." in first or ":" in first or first == "localhost") else "docker.io"
    try:
        results = client.get(
            "/images/search",
            params={"term": term, "limit": a.limit or None, "filters": filters_param(a.filter)},
            headers=_auth_header(domain),
        )
    except APIError as e:
        die(f"Error response from daemon: {e.message}")
    rows = []
    for r in results or []:
        desc = (r.get("description") or "").replace("\n", " ")
        if not a.no_trunc and len(desc) > 45:
            desc = desc[:44] + "…"
        rows.append(
            {
                "Name": r.get("name", ""),
                "Description": desc,
                "StarCount": str(r.get("star_count", 0)),
                "IsOfficial": "[OK]" if r.get("is_official") else "",
            }
        )
    text = render(
        rows, a.format, default="table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}",
        headers=SEARCH_HEADERS,
    )  # fmt: skip
    if text:
        out(text)
    return 0


def tags(client: Client, argv: list[str], *, prog: str) -> int:
    """The tags of a repository, asked of its registry directly (hub-tool's ``tag ls``)."""
    p = flags(prog, f"{prog} [OPTIONS] REPOSITORY", min_args=1, max_args=1)
    p.str("format", None, "Pretty-print tags using a Go template")
    a = p.parse(argv)
    import os
    from pathlib import Path

    from ballena.distribution.auth import TokenCache, credentials_from_json
    from ballena.distribution.client import RegistryClient
    from ballena.distribution.endpoints import Registries
    from ballena.errors import BallenaError

    ref = _reference(a.args[0])
    if ref.tag or ref.digest:
        die(f"{a.args[0]}: give a repository, without a tag or digest")
    certs = Path(os.environ.get("BALLENA_REGISTRY_CERTS_DIR") or "/etc/ballena/certs.d")
    creds = credentials_from_json(dockerconfig.get_credentials(ref.domain))  # type: ignore[arg-type]
    rc = RegistryClient(Registries(certs_dir=certs), ref.domain, ref.path, credentials=creds, tokens=TokenCache())
    try:
        found = rc.list_tags()
    except BallenaError as e:
        die(f"Error: {e.message}")
    finally:
        rc.close()
    rows = [{"Repository": ref.familiar_name, "Tag": t} for t in sorted(found)]
    text = render(rows, a.format, default="table {{.Tag}}", headers={"Tag": "TAG", "Repository": "REPOSITORY"})
    if text:
        out(text)
    return 0
