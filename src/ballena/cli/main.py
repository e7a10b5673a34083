"""Entry point: global flags, then the one command module the user asked for is imported."""

from __future__ import annotations

import os
import sys

from ballena import __version__

TYPE_CHECKING = False  # the typing module alone costs a simple command ~5 ms
if TYPE_CHECKING:
    from typing import NoReturn

# command word -> (module under ballena.cli.commands, function)
COMMANDS: dict[str, tuple[str, str]] = {
    "images": ("images", "ls"),
    "rmi": ("images", "rm"),
    "tag": ("images", "tag"),
    "history": ("images", "history"),
    "import": ("images", "import_"),
    "save": ("images", "save"),
    "load": ("images", "load"),
    "version": ("system", "version"),
    "info": ("system", "info"),
    "events": ("system", "events"),
    "inspect": ("inspect", "inspect"),
    "bootstrap": ("bootstrap", "bootstrap"),
    "create": ("run", "create"),
    "run": ("run", "run"),
    "start": ("run", "start"),
    "stop": ("containers", "stop"),
    "restart": ("containers", "restart"),
    "kill": ("containers", "kill"),
    "rm": ("containers", "rm"),
    "ps": ("containers", "ps"),
    "logs": ("containers", "logs"),
    "wait": ("containers", "wait"),
    "rename": ("containers", "rename"),
    "pause": ("containers", "pause"),
    "unpause": ("containers", "unpause"),
    "attach": ("containers", "attach"),
    "exec": ("containers", "exec_"),
    "top": ("containers", "top"),
    "stats": ("containers", "stats"),
    "port": ("containers", "port"),
    "update": ("containers", "update"),
    "cp": ("containers", "cp"),
    "diff": ("containers", "diff"),
    "commit": ("containers", "commit"),
    "export": ("containers", "export"),
    "build": ("build", "build"),
    "compose": ("compose", "compose"),
    "pull": ("registry", "pull"),
    "push": ("registry", "push"),
    "login": ("registry", "login"),
    "logout": ("registry", "logout"),
    "search": ("registry", "search"),
    "ui": ("ui", "ui"),
}

GROUPS: dict[str, dict[str, tuple[str, str]]] = {
    "image": {
        "ls": ("images", "ls"),
        "list": ("images", "ls"),
        "rm": ("images", "rm"),
        "remove": ("images", "rm"),
        "tag": ("images", "tag"),
        "history": ("images", "history"),
        "layers": ("images", "layers"),
        "import": ("images", "import_"),
        "save": ("images", "save"),
        "load": ("images", "load"),
        "inspect": ("images", "inspect"),
        "prune": ("images", "prune"),
        "pull": ("registry", "pull"),
        "push": ("registry", "push"),
        "tags": ("registry", "tags"),
        "build": ("build", "build"),
    },
    "system": {
        "info": ("system", "info"),
        "events": ("system", "events"),
        "df": ("system", "df"),
        "prune": ("system", "prune"),
    },
    "container": {
        "create": ("run", "create"),
        "run": ("run", "run"),
        "start": ("run", "start"),
        "stop": ("containers", "stop"),
        "restart": ("containers", "restart"),
        "kill": ("containers", "kill"),
        "rm": ("containers", "rm"),
        "remove": ("containers", "rm"),
        "ls": ("containers", "ps"),
        "list": ("containers", "ps"),
        "ps": ("containers", "ps"),
        "logs": ("containers", "logs"),
        "wait": ("containers", "wait"),
        "rename": ("containers", "rename"),
        "pause": ("containers", "pause"),
        "unpause": ("containers", "unpause"),
        "attach": ("containers", "attach"),
        "exec": ("containers", "exec_"),
        "inspect": ("containers", "inspect"),
        "prune": ("containers", "prune"),
        "top": ("containers", "top"),
        "stats": ("containers", "stats"),
        "port": ("containers", "port"),
        "update": ("containers", "update"),
        "cp": ("containers", "cp"),
        "diff": ("containers", "diff"),
        "commit": ("containers", "commit"),
        "export": ("containers", "export"),
    },
    "network": {
        "create": ("networks", "create"),
        "ls": ("networks", "ls"),
        "list": ("networks", "ls"),
        "inspect": ("networks", "inspect"),
        "rm": ("networks", "rm"),
        "remove": ("networks", "rm"),
        "prune": ("networks", "prune"),
        "connect": ("networks", "connect"),
        "disconnect": ("networks", "disconnect"),
    },
    "volume": {
        "create": ("volumes", "create"),
        "ls": ("volumes", "ls"),
        "list": ("volumes", "ls"),
        "inspect": ("volumes", "inspect"),
        "rm": ("volumes", "rm"),
        "remove": ("volumes", "rm"),
        "prune": ("volumes", "prune"),
    },
    "builder": {"prune": ("build", "prune"), "build": ("build", "build")},
    "dockerfile": {"parse": ("dockerfile", "parse")},
}

USAGE = """Usage:  ballena [OPTIONS] COMMAND

A Docker-compatible container engine

Common Commands:
  run         Create and run a new container from an image
  exec        Execute a command in a running container
  ps          List containers
  build       Build an image from a Dockerfile
  pull        Download an image from a registry
  push        Upload an image to a registry
  images      List images
  login       Log in to a registry
  logout      Log out from a registry
  search      Search Docker Hub for images
  version     Show the Ballena version information
  info        Display system-wide information
  bootstrap   Make an offline base image (busybox, debian:bookworm)
  ui          Open the web dashboard (containers, stats, logs, terminal, layers)

Management Commands:
  builder     Manage builds
  compose     Docker Compose v2, run against this daemon with Ballena's builder
  container   Manage containers
  dockerfile  Inspect how a Dockerfile parses
  image       Manage images
  network     Manage networks
  system      Manage Ballena
  volume      Manage volumes

Global Options:
  -H, --host string   Daemon socket to connect to (default: $BALLENA_HOST, $DOCKER_HOST,
                      unix:///run/ballena/ballena.sock)
  -D, --debug         Enable debug mode
  -v, --version       Print version information and quit
"""


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    host: str | None = None
    while args and args[0].startswith("-"):
        flag = args.pop(0)
        if flag in ("-H", "--host"):
            if not args:
                _fail("flag needs an argument: --host")
            host = args.pop(0)
        elif flag.startswith("--host=") or flag.startswith("-H="):
            host = flag.split("=", 1)[1]
        elif flag in ("-D", "--debug", "--tls", "--tlsverify"):
            if flag == "--tlsverify":
                os.environ["DOCKER_TLS_VERIFY"] = "1"
        elif flag in ("-l", "--log-level", "--config", "-c", "--context", "--tlscacert", "--tlscert", "--tlskey"):
            value = args.pop(0) if args else ""
            if flag == "--tlscacert" or flag == "--tlscert" or flag == "--tlskey":
                os.environ.setdefault("DOCKER_CERT_PATH", os.path.dirname(value))
        elif flag in ("-v", "--version"):
            print(f"Ballena version {__version__}")
            sys.exit(0)
        elif flag in ("-h", "--help"):
            print(USAGE)
            sys.exit(0)
        else:
            _fail(f"unknown flag: {flag}\nSee 'ballena --help'.")
    if not args:
        print(USAGE)
        sys.exit(0)
    word = args.pop(0)
    target = COMMANDS.get(word)
    prog = f"ballena {word}"
    if target is None and word in GROUPS:
        if not args or args[0] in ("-h", "--help"):
            print(f"Usage:  ballena {word} COMMAND\n\nCommands:\n" + "\n".join(f"  {c}" for c in GROUPS[word]))
            sys.exit(0)
        sub = args.pop(0)
        target = GROUPS[word].get(sub)
        prog = f"ballena {word} {sub}"
        if target is None:
            _fail(f"ballena: '{word} {sub}' is not a ballena command.\nSee 'ballena {word} --help'")
    if target is None:
        _fail(f"ballena: '{word}' is not a ballena command.\nSee 'ballena --help'")
    module_name, func_name = target
    from ballena.cli.common import run_command
    from ballena.client.api import Client

    __import__(f"ballena.cli.commands.{module_name}")
    module = sys.modules[f"ballena.cli.commands.{module_name}"]
    fn = getattr(module, func_name)
    client = Client(host)
    os.environ["BALLENA_PROG"] = prog
    code = run_command(lambda c, a: fn(c, a, prog=prog), client, args)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    sys.exit(code)


def _fail(message: str) -> NoReturn:
    print(message, file=sys.stderr)
    sys.exit(125)


if __name__ == "__main__":
    main()
