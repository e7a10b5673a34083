"""`run`, `create` and `start`: create the container, then attach before starting so no output is lost."""

from __future__ import annotations

import sys
import threading
import time
from contextlib import nullcontext

from ballena.cli import dockerconfig
from ballena.cli.commands.createflags import build_create_body, container_flags
from ballena.cli.common import die, flags, for_each, out
from ballena.cli.streams import RawTerminal, demux_to, on_resize, pump_stdin, terminal_size
from ballena.client.api import APIError, Client
from ballena.errors import exit_code_for

TYPE_CHECKING = False  # typing costs a command ~5 ms to import
if TYPE_CHECKING:
    from typing import Any

    from ballena.cli.flags import Values


def _create(client: Client, a: Values, image: str, cmd: list[str], prog: str) -> str:
    body, name = build_create_body(a, image, cmd)
    params = {"name": name, "platform": a.platform}
    if a.pull == "always":
        _pull(client, image, quiet=a.quiet)
    try:
        res = client.post("/containers/create", params=params, body=body)
    except APIError as e:
        if e.status != 404 or "No such image" not in e.message or a.pull == "never":
            raise
        print(f"Unable to find image '{_tagged(image)}' locally", file=sys.stderr)
        _pull(client, image, quiet=a.quiet)
        res = client.post("/containers/create", params=params, body=body)
    for w in res.get("Warnings") or []:
        print(f"WARNING: {w}", file=sys.stderr)
    if a.cidfile:
        with open(a.cidfile, "x") as f:
            f.write(res["Id"])
    return str(res["Id"])


def _tagged(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    return image if (":" in last or "@" in image) else image + ":latest"


def _pull(client: Client, image: str, quiet: bool) -> None:
    from ballena.cli.commands.registry import pull_image

    pull_image(client, image, quiet=quiet, out=sys.stderr)


def create(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] IMAGE [COMMAND] [ARG...]", interspersed=False, min_args=1)
    container_flags(p)
    a = p.parse(argv)
    try:
        cid = _create(client, a, a.args[0], a.args[1:], prog)
    except APIError as e:
        die(f"Error response from daemon: {e.message}", 125)
    out(cid)
    return 0


def run(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(
        prog,
        f"{prog} [OPTIONS] IMAGE [COMMAND] [ARG...]",
        interspersed=False,
        min_args=1,
        description="Create and run a new container from an image",
    )
    container_flags(p)
    p.bool("detach", "d", "Run container in background and print container ID")
    p.bool("rm", None, "Automatically remove the container and its associated anonymous volumes when it exits")
    p.list("attach", "a", "Attach to STDIN, STDOUT or STDERR")
    p.str("detach-keys", None, "Override the key sequence for detaching a container")
    p.bool("sig-proxy", None, "Proxy received signals to the process", default=True)
    a = p.parse(argv)
    image, cmd = a.args[0], a.args[1:]
    try:
        cid = _create(client, a, image, cmd, prog)
    except APIError as e:
        die(
            f"docker: Error response from daemon: {e.message}".replace("docker:", "ballena:", 1) + "\n\n"
            f"Run '{prog} --help' for more information",
            125,
        )
    if a.detach:
        try:
            client.post(f"/containers/{cid}/start")
        except APIError as e:
            code = exit_code_for(e.message, default=125)
            die(f"ballena: Error response from daemon: {e.message}\n\nRun '{prog} --help' for more information", code)
        out(cid)
        return 0
    attach_streams = set(a.attach or ["stdout", "stderr"] + (["stdin"] if a.interactive else []))
    return attach_and_start(
        client,
        cid,
        tty=a.tty,
        stdin="stdin" in attach_streams and a.interactive,
        stdout="stdout" in attach_streams,
        stderr="stderr" in attach_streams,
        remove=a.rm,
        detach_keys=a.detach_keys,
        prog=prog,
        sig_proxy=a.sig_proxy,
    )


def attach_and_start(
    client: Client,
    cid: str,
    *,
    tty: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    remove: bool,
    detach_keys: str | None,
    prog: str,
    sig_proxy: bool,
    start: bool = True,
) -> int:
    params = {
        "stream": True,
        "stdin": stdin,
        "stdout": stdout,
        "stderr": stderr,
        "detachKeys": dockerconfig.detach_keys(detach_keys),
    }
    sock, initial = client.hijack(f"/containers/{cid}/attach", params=params)
    result: dict[str, Any] = {}
    waiter = Client(client.host)

    def wait() -> None:
        try:
            result["status"] = waiter.post(
                f"/containers/{cid}/wait", params={"condition": "removed" if remove else "next-exit"}
            )
        except Exception as e:
            result["error"] = e

    wait_thread = threading.Thread(target=wait, daemon=True)
    wait_thread.start()
    time.sleep(0)  # let the wait request go out before the start
    if start:
        try:
            client.post(f"/containers/{cid}/start")
        except APIError as e:
            sock.close()
            print(
                f"ballena: Error response from daemon: {e.message}\n\nRun '{prog} --help' for more information",
                file=sys.stderr,
            )
            if remove:
                wait_thread.join(5)
            return exit_code_for(e.message, default=125)
    if tty:

        def resize() -> None:
            size = terminal_size()
            if size:
                try:
                    Client(client.host).post(f"/containers/{cid}/resize", params={"h": size[0], "w": size[1]})
                except Exception:
                    pass

        resize()
        on_resize(resize)
    with RawTerminal(sys.stdin.fileno()) if (tty and stdin) else nullcontext():
        if stdin:
            pump_stdin(sock)
        demux_to(sock, initial, tty=tty)
    sock.close()
    wait_thread.join()
    if "error" in result:
        die(f"Error waiting for container: {result['error']}", 125)
    status = result.get("status") or {}
    return int(status.get("StatusCode", 0))


def start(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] CONTAINER [CONTAINER...]", min_args=1)
    p.bool("attach", "a", "Attach STDOUT/STDERR and forward signals")
    p.bool("interactive", "i", "Attach container's STDIN")
    p.str("detach-keys", None, "Override the key sequence for detaching a container")
    a = p.parse(argv)
    if a.attach or a.interactive:
        if len(a.args) > 1:
            die("you cannot start and attach multiple containers at once")
        info = client.get(f"/containers/{a.args[0]}/json")
        tty = bool(info["Config"]["Tty"])
        return attach_and_start(
            client,
            info["Id"],
            tty=tty,
            stdin=a.interactive,
            stdout=True,
            stderr=True,
            remove=bool(info["HostConfig"].get("AutoRemove")),
            detach_keys=a.detach_keys,
            prog=prog,
            sig_proxy=True,
        )
    return for_each(a.args, lambda n: client.post(f"/containers/{n}/start"))
