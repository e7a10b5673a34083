"""The Engine API's routes for what a single-host Ballena does not have: swarm mode (nodes,
services, tasks, secrets, configs, cluster volumes), plugins, and BuildKit sessions.

Each answers as dockerd answers on a host where that part is off, so that clients' clean-up
and feature probes work: outside a swarm, dockerd says 503 "This node is not a swarm manager
..." to every cluster query and 503 "This node is not part of a swarm" to ``swarm leave``.
Where dockerd would do something we cannot (``swarm init``, installing a plugin), the answer is
a 400 saying so, never "page not found". Listing plugins answers the truth: none.
"""

from __future__ import annotations

from ballena.api.http import Request, Response, json_response
from ballena.api.router import Router
from ballena.errors import InvalidArgument, NotFound, Unavailable

__all__ = ["build"]

NO_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm '
    "and try again."
)
NO_SWARM = "This node is not part of a swarm"
NO_SWARM_MODE = "Ballena runs containers on one host and has no swarm mode: {what} is not available"
NO_PLUGINS = "Ballena has no plugin system: {what} is not available"
NO_SESSIONS = (
    "Ballena builds with its own builder, not BuildKit: use the classic builder (DOCKER_BUILDKIT=0, "
    "or `docker builder build`), which it serves"
)

# Cluster objects: (method, path) -> dockerd's answer outside a swarm.
_CLUSTER_ROUTES = [
    ("GET", "/swarm"),
    ("POST", "/swarm/update"),
    ("GET", "/swarm/unlockkey"),
    ("POST", "/swarm/unlock"),
    ("GET", "/nodes"),
    ("GET", "/nodes/{id}"),
    ("DELETE", "/nodes/{id}"),
    ("POST", "/nodes/{id}/update"),
    ("GET", "/services"),
    ("POST", "/services/create"),
    ("GET", "/services/{id}"),
    ("DELETE", "/services/{id}"),
    ("POST", "/services/{id}/update"),
    ("GET", "/services/{id}/logs"),
    ("GET", "/tasks"),
    ("GET", "/tasks/{id}"),
    ("GET", "/tasks/{id}/logs"),
    ("GET", "/secrets"),
    ("POST", "/secrets/create"),
    ("GET", "/secrets/{id}"),
    ("DELETE", "/secrets/{id}"),
    ("POST", "/secrets/{id}/update"),
    ("GET", "/configs"),
    ("POST", "/configs/create"),
    ("GET", "/configs/{id}"),
    ("DELETE", "/configs/{id}"),
    ("POST", "/configs/{id}/update"),
]

_PLUGIN_BY_NAME = [
    ("GET", "/plugins/{name:.+}/json"),
    ("DELETE", "/plugins/{name:.+}"),
    ("POST", "/plugins/{name:.+}/enable"),
    ("POST", "/plugins/{name:.+}/disable"),
    ("POST", "/plugins/{name:.+}/upgrade"),
    ("POST", "/plugins/{name:.+}/push"),
    ("POST", "/plugins/{name:.+}/set"),
]


def build() -> Router:
    r = Router()

    async def no_manager(req: Request) -> Response:
        raise Unavailable(NO_MANAGER)

    for method, path in _CLUSTER_ROUTES:
        r.add(method, path, no_manager)

    @r.route("POST", "/swarm/leave")
    async def leave(req: Request) -> Response:
        raise Unavailable(NO_SWARM)

    @r.route("POST", "/swarm/init")
    async def init(req: Request) -> Response:
        raise InvalidArgument(NO_SWARM_MODE.format(what="swarm init"))

    @r.route("POST", "/swarm/join")
    async def join(req: Request) -> Response:
        raise InvalidArgument(NO_SWARM_MODE.format(what="swarm join"))

    @r.route("PUT", "/volumes/{name:.+}")
    async def update_volume(req: Request) -> Response:
        raise Unavailable("volume update only valid for cluster volumes, but swarm is unavailable")

    @r.route("GET", "/plugins")
    async def plugins(req: Request) -> Response:
        return json_response([])

    @r.route("GET", "/plugins/privileges")
    async def privileges(req: Request) -> Response:
        raise InvalidArgument(NO_PLUGINS.format(what="plugin install"))

    @r.route("POST", "/plugins/pull")
    async def pull(req: Request) -> Response:
        raise InvalidArgument(NO_PLUGINS.format(what="plugin install"))

    @r.route("POST", "/plugins/create")
    async def create(req: Request) -> Response:
        raise InvalidArgument(NO_PLUGINS.format(what="plugin create"))

    async def no_such_plugin(req: Request) -> Response:
        raise NotFound(f'plugin "{req.params["name"]}" not found')

    for method, path in _PLUGIN_BY_NAME:
        r.add(method, path, no_such_plugin)

    @r.route("POST", "/session")
    async def session(req: Request) -> Response:
        raise InvalidArgument(NO_SESSIONS)

    return r
