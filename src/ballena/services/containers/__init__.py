"""Container use cases, one module per concern (each class takes only what it uses):

- ``requests``: a create request made whole and checked (image config merged, defaults);
- ``lifecycle``: create, start, stop, kill, restart, remove, wait, rename, pause, update, exits
  and restart policies, start-up recovery;
- ``bundle``: the OCI bundle, the container's /etc files, seccomp, the monitor's config;
- ``supervision``: following each running container's task, attached clients, stdin;
- ``attachments``: ``docker network connect`` / ``disconnect``;
- ``execs``: ``docker exec``;
- ``logs``: ``docker logs``;
- ``queries``: lookups, ``ps`` and its filters, sizes, ``top``;
- ``restarts``, ``waits``, ``cleanup``, ``etcfiles``, ``locks``: the parts lifecycle and the
  others share (restart back-off, wait conditions, removal of files, /etc, one lock per container);
- ``layout``: where a container's things live on the host; ``events``: what it publishes.

The walk of a ``docker run`` is drawn in docs/architecture.md.
"""

from ballena.services.containers.attachments import NetworkAttachments
from ballena.services.containers.bundle import Bundles
from ballena.services.containers.events import ContainerEvents
from ballena.services.containers.execs import Execs, ExecSession
from ballena.services.containers.layout import DnsDefaults, HostDefaults, LogDefaults, Paths, RuntimeInfo
from ballena.services.containers.lifecycle import DEFAULT_STOP_TIMEOUT, Lifecycle
from ballena.services.containers.logs import Logs
from ballena.services.containers.queries import ContainerFiles, ContainerQueries
from ballena.services.containers.requests import LIST_FILTERS, PRUNE_FILTERS, CreateRequest, normalize_create
from ballena.services.containers.supervision import Subscriber, Supervisor

__all__ = [
    "DEFAULT_STOP_TIMEOUT",
    "LIST_FILTERS",
    "PRUNE_FILTERS",
    "Bundles",
    "ContainerEvents",
    "ContainerFiles",
    "ContainerQueries",
    "CreateRequest",
    "DnsDefaults",
    "ExecSession",
    "Execs",
    "HostDefaults",
    "Lifecycle",
    "LogDefaults",
    "Logs",
    "NetworkAttachments",
    "Paths",
    "RuntimeInfo",
    "Subscriber",
    "Supervisor",
    "normalize_create",
]
