"""Legacy links (``--link name:alias``) as dockerd keeps them.

On the default bridge a link gives the linking container environment variables describing the
linked one (``ALIAS_PORT_5432_TCP_ADDR``, ``ALIAS_ENV_SECRET`` ...) and an ``/etc/hosts``
line (``etcfiles``); on a user network it is only a DNS alias (``sandboxes``). The link target
must run when the linking container starts. ``docker inspect`` shows each link as
``/target:/container/alias``; ``docker rm --link /container/alias`` removes one.
"""

from __future__ import annotations

from collections.abc import Callable

from ballena.core.containers import Container
from ballena.errors import Conflict, InvalidArgument, NotFound

__all__ = ["inspect_links", "link_env", "parse_link", "without_link"]


def parse_link(link: str) -> tuple[str, str]:
    """``db:alias`` -> ("db", "alias"); ``db`` -> ("db", "db"). Leading slashes dropped."""
    target, _, alias = link.partition(":")
    target = target.strip("/")
    alias = alias.rsplit("/", 1)[-1] if alias else target
    if not target or not alias:
        raise InvalidArgument(f"invalid link: {link!r}")
    return target, alias


def _env_name(alias: str) -> str:
    return alias.upper().replace("-", "_").replace(".", "_")


def link_env(c: Container, lookup: Callable[[str], Container]) -> list[str]:
    """The variables ``c``'s links give it (moby's ``links.Link.ToEnv``), links on the default
    bridge only. Raises Conflict when a target does not run, NotFound when it is gone."""
    if not c.host_config.links or (c.host_config.network_mode or "bridge") not in ("bridge", "default"):
        return []
    env: list[str] = []
    for link in c.host_config.links:
        target_name, alias = parse_link(link)
        try:
            target = lookup(target_name)
        except NotFound:
            raise NotFound(f"could not get container for {target_name}") from None
        if not target.state.running:
            raise Conflict(f"Cannot link to a non running container: /{target.name} AS /{c.name}/{alias}")
        ep = target.networks.get("bridge")
        ip = ep.ip_address if ep is not None else ""
        prefix = _env_name(alias)
        env.append(f"{prefix}_NAME=/{c.name}/{alias}")
        ports = sorted(
            {*(target.config.exposed_ports or ()), *(target.host_config.port_bindings or {})},
            key=lambda p: (p.partition("/")[2] or "tcp", int(p.partition("/")[0])),
        )
        for i, key in enumerate(ports):
            port, _, proto = key.partition("/")
            proto = proto or "tcp"
            url = f"{proto}://{ip}:{port}"
            if i == 0:
                env.append(f"{prefix}_PORT={url}")
            base = f"{prefix}_PORT_{port}_{proto.upper()}"
            env += [f"{base}={url}", f"{base}_ADDR={ip}", f"{base}_PORT={port}", f"{base}_PROTO={proto}"]
        for item in target.config.env or ():
            name, eq, value = item.partition("=")
            if eq and name not in ("HOME", "PATH"):  # set by builds, not the target's own
                env.append(f"{prefix}_ENV_{name}={value}")
    return env


def inspect_links(c: Container) -> list[str] | None:
    """``HostConfig.Links`` as ``docker inspect`` shows them: ``/target:/container/alias``."""
    if not c.host_config.links:
        return None
    return [f"/{t}:/{c.name}/{a}" for t, a in map(parse_link, c.host_config.links)]


def without_link(c: Container, alias: str) -> tuple[str, ...] | None:
    """``c``'s links but the one named ``alias``. Raises NotFound when it has none such."""
    links = tuple(c.host_config.links or ())
    kept = tuple(link for link in links if parse_link(link)[1] != alias)
    if kept == links:
        raise NotFound(f"Could not find container for entity id /{c.name}/{alias}")
    return kept or None
