"""A create request, made whole and checked before anything is written: the container's name,
its configuration merged with the image's (moby's ``merge``), its host configuration with
Docker's defaults, the command it will run. Pure: no I/O but reading the host's CPU list for
the resource checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ballena.core.containerconfig import (
    ContainerConfig,
    HealthConfig,
    HostConfig,
    LogConfig,
    NetworkingConfig,
    RestartPolicy,
)
from ballena.errors import InvalidArgument
from ballena.runtime import spec as ocispec
from ballena.services import resources
from ballena.services.containers.layout import HostDefaults

__all__ = [
    "LIST_FILTERS",
    "NAME_RE",
    "PRUNE_FILTERS",
    "STATUSES",
    "CreateRequest",
    "check_name",
    "merge_image_config",
    "normalize_create",
    "normalize_host_config",
]

NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
LIST_FILTERS = frozenset(
    {"ancestor", "before", "expose", "exited", "health", "id", "isolation", "is-task", "label", "name", "network",
     "publish", "since", "status", "volume"}
)  # fmt: skip
PRUNE_FILTERS = frozenset({"until", "label", "label!"})
_RESTART_NAMES = ("", "no", "always", "unless-stopped", "on-failure")
_SECURITY_OPTS = ("seccomp", "apparmor", "label", "no-new-privileges", "systempaths", "writable-cgroups")


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateRequest:
    """A create, normalised: what ``Lifecycle.create`` records."""

    name: str | None  # without the leading "/", None for a generated one
    image: str  # as the client named it
    config: ContainerConfig  # merged with the image's
    host_config: HostConfig  # with Docker's defaults
    networking: NetworkingConfig
    path: str  # the first process's executable and arguments
    args: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def check_name(name: str) -> str:
    """A container name as given (``/`` prefix allowed), without the ``/``. Raises
    InvalidArgument with Docker's message."""
    if not NAME_RE.match(name):
        raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.lstrip("/")


def normalize_create(
    *,
    name: str | None,
    config: ContainerConfig,
    host_config: HostConfig,
    networking: NetworkingConfig,
    image_config: ContainerConfig,
    defaults: HostDefaults,
) -> CreateRequest:
    """Check and complete a create request against the image's config. Raises
    InvalidArgument with dockerd's messages."""
    if not config.image:
        raise InvalidArgument("No image was specified")
    if host_config.uts_mode == "host" and config.hostname:
        raise InvalidArgument("conflicting options: hostname and the UTS mode")
    hc = normalize_host_config(host_config, defaults)
    warnings = resources.validate(hc.resources)
    if hc.resources.memory_swappiness == -1:  # the docker CLI's "unset", kept as unset (null)
        hc = hc.with_(resources=replace(hc.resources, memory_swappiness=None))
    if hc.resources.memory and not hc.resources.memory_swap:
        # dockerd's default: as much swap as memory
        hc = hc.with_(resources=replace(hc.resources, memory_swap=hc.resources.memory * 2))
    cfg = merge_image_config(config, image_config)
    entrypoint = list(cfg.entrypoint or ())
    cmd = list(cfg.cmd or ())
    if not entrypoint and not cmd:
        raise InvalidArgument("no command specified")
    path, args = (entrypoint[0], [*entrypoint[1:], *cmd]) if entrypoint else (cmd[0], cmd[1:])
    return CreateRequest(
        name=check_name(name) if name else None,
        image=config.image,
        config=cfg,
        host_config=hc,
        networking=networking,
        path=path,
        args=tuple(args),
        warnings=tuple(warnings),
    )


def merge_image_config(user: ContainerConfig, image: ContainerConfig) -> ContainerConfig:
    """moby's merge(): the image fills what the user left out."""
    env = tuple(user.env or ())
    if not env:
        env = tuple(image.env or ())
    else:
        keys = {e.partition("=")[0] for e in env}
        env = env + tuple(e for e in image.env or () if e.partition("=")[0] not in keys)
    cmd, entrypoint = user.cmd, user.entrypoint
    if not entrypoint:
        if not cmd:
            cmd = image.cmd
        if entrypoint is None:
            entrypoint = image.entrypoint
    if entrypoint == ("",):
        entrypoint = None
    return user.with_(
        user=user.user or image.user,
        exposed_ports=_union(image.exposed_ports, user.exposed_ports),
        env=env,
        labels={**(image.labels or {}), **(user.labels or {})},
        cmd=cmd,
        entrypoint=entrypoint,
        working_dir=user.working_dir or image.working_dir,
        volumes=_union(image.volumes, user.volumes),
        stop_signal=user.stop_signal or image.stop_signal,
        healthcheck=merge_healthcheck(user.healthcheck, image.healthcheck),
        on_build=user.on_build or image.on_build,
        shell=user.shell or image.shell,
    )


def merge_healthcheck(user: HealthConfig | None, image: HealthConfig | None) -> HealthConfig | None:
    """moby's merge: the user's healthcheck, whose empty fields (no test, zero durations) come
    from the image's."""
    if user is None or image is None:
        return user or image
    return HealthConfig(
        test=user.test or image.test,
        interval=user.interval or image.interval,
        timeout=user.timeout or image.timeout,
        start_period=user.start_period or image.start_period,
        start_interval=user.start_interval or image.start_interval,
        retries=user.retries or image.retries,
    )


def _union(first: tuple[str, ...] | None, second: tuple[str, ...] | None) -> tuple[str, ...] | None:
    keys = tuple(dict.fromkeys((*(first or ()), *(second or ()))))
    return keys or None


def normalize_host_config(hc: HostConfig, defaults: HostDefaults) -> HostConfig:
    """Docker's defaults for what the client left out, and dockerd's checks of restart
    policy, runtime, shm size, capabilities and security options."""
    policy = hc.restart_policy
    name, retries = policy.name, policy.maximum_retry_count
    if name not in _RESTART_NAMES:
        raise InvalidArgument(f"invalid restart policy '{name}'")
    if retries and name != "on-failure":
        raise InvalidArgument("invalid restart policy: maximum retry count can only be used with 'on-failure'")
    if retries < 0:
        raise InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
    if hc.auto_remove and name not in ("", "no"):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    runtime = hc.runtime or defaults.default_runtime
    if runtime not in defaults.runtimes:
        raise InvalidArgument(f"Unknown runtime specified {runtime}")
    if hc.shm_size < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    for cap in (*(hc.cap_add or ()), *(hc.cap_drop or ())):
        try:
            ocispec.normalize_cap(cap)
        except ValueError as e:
            raise InvalidArgument(str(e)) from None
    for opt in hc.security_opt or ():
        key = opt.split("=", 1)[0].split(":", 1)[0]
        if key not in _SECURITY_OPTS:
            raise InvalidArgument(f'invalid --security-opt 1: "{opt}"')
    log = hc.log_config
    if not log.type:  # the daemon's driver, with its options under the container's (dockerd's merge)
        log = LogConfig(type=defaults.log.driver, config={**(defaults.log.options or {}), **(log.config or {})})
    default_paths = not hc.privileged
    return hc.with_(
        restart_policy=RestartPolicy(name=name or "no", maximum_retry_count=retries),
        runtime=runtime,
        network_mode="bridge" if hc.network_mode in ("", "default") else hc.network_mode,
        log_config=log,
        shm_size=hc.shm_size or defaults.shm_size,
        ipc_mode=hc.ipc_mode or defaults.ipc_mode,
        cgroupns_mode=hc.cgroupns_mode or defaults.cgroupns_mode,
        masked_paths=hc.masked_paths if hc.masked_paths is not None or not default_paths else ocispec.MASKED_PATHS,
        readonly_paths=(
            hc.readonly_paths if hc.readonly_paths is not None or not default_paths else ocispec.READONLY_PATHS
        ),
    )
