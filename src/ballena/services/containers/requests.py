"""A create request, made whole and checked before anything is written: the container's name,
its configuration merged with the image's (moby's ``merge``), its host configuration with
Docker's defaults, the command it will run. Pure: no I/O but reading the host's CPU list for
the resource checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ballena.errors import InvalidArgument
from ballena.runtime import spec as ocispec
from ballena.services import resources
from ballena.services.containers.layout import RuntimeInfo

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
    config: dict[str, Any]  # Docker's Config, merged with the image's
    host_config: dict[str, Any]  # Docker's HostConfig, with Docker's defaults
    networking: dict[str, Any]  # NetworkingConfig
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
    config: Mapping[str, Any],
    host_config: Mapping[str, Any],
    networking: Mapping[str, Any],
    image_config: Mapping[str, Any],
    runtimes: Mapping[str, RuntimeInfo],
    default_runtime: str,
) -> CreateRequest:
    """Check and complete a create request against the image's config. Raises
    InvalidArgument with dockerd's messages."""
    image = str(config.get("Image") or "")
    if not image:
        raise InvalidArgument("No image was specified")
    hc = normalize_host_config(host_config, runtimes, default_runtime)
    warnings = resources.validate(hc)
    if hc.get("Memory") and not hc.get("MemorySwap"):
        hc["MemorySwap"] = int(hc["Memory"]) * 2  # dockerd's default: as much swap as memory
    cfg = merge_image_config(dict(config), dict(image_config))
    entrypoint = list(cfg.get("Entrypoint") or [])
    cmd = list(cfg.get("Cmd") or [])
    if not entrypoint and not cmd:
        raise InvalidArgument("no command specified")
    path, args = (entrypoint[0], [*entrypoint[1:], *cmd]) if entrypoint else (cmd[0], cmd[1:])
    return CreateRequest(
        name=check_name(name) if name else None,
        image=image,
        config=cfg,
        host_config=hc,
        networking=dict(networking or {}),
        path=path,
        args=tuple(args),
        warnings=tuple(warnings),
    )


def merge_image_config(user: dict[str, Any], image: dict[str, Any]) -> dict[str, Any]:
    """moby's merge(): the image fills what the user left out."""
    if not user.get("User"):
        user["User"] = image.get("User", "")
    ports = dict(image.get("ExposedPorts") or {})
    ports.update(user.get("ExposedPorts") or {})
    user["ExposedPorts"] = ports or None
    if not user.get("Env"):
        user["Env"] = list(image.get("Env") or [])
    else:
        keys = {e.partition("=")[0] for e in user["Env"]}
        user["Env"] = list(user["Env"]) + [e for e in image.get("Env") or [] if e.partition("=")[0] not in keys]
    labels = dict(image.get("Labels") or {})
    labels.update(user.get("Labels") or {})
    user["Labels"] = labels
    if not user.get("Entrypoint"):
        if not user.get("Cmd"):
            user["Cmd"] = image.get("Cmd")
        if user.get("Entrypoint") is None:
            user["Entrypoint"] = image.get("Entrypoint")
    if user.get("Entrypoint") == [""]:
        user["Entrypoint"] = None
    if not user.get("WorkingDir"):
        user["WorkingDir"] = image.get("WorkingDir", "")
    vols = dict(image.get("Volumes") or {})
    vols.update(user.get("Volumes") or {})
    user["Volumes"] = vols or None
    if not user.get("StopSignal") and image.get("StopSignal"):
        user["StopSignal"] = image["StopSignal"]
    for key in ("Healthcheck", "OnBuild", "Shell"):
        if image.get(key) and not user.get(key):
            user[key] = image[key]
    return user


def normalize_host_config(
    hc_in: Mapping[str, Any], runtimes: Mapping[str, RuntimeInfo], default_runtime: str
) -> dict[str, Any]:
    """Docker's defaults for what the client left out, and dockerd's checks of restart
    policy, runtime, shm size, capabilities and security options."""
    hc = dict(hc_in or {})
    policy = dict(hc.get("RestartPolicy") or {})
    name = policy.get("Name") or ""
    retries = int(policy.get("MaximumRetryCount") or 0)
    if name not in _RESTART_NAMES:
        raise InvalidArgument(f"invalid restart policy '{name}'")
    if retries and name != "on-failure":
        raise InvalidArgument("invalid restart policy: maximum retry count can only be used with 'on-failure'")
    if retries < 0:
        raise InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
    if hc.get("AutoRemove") and name not in ("", "no"):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    hc["RestartPolicy"] = {"Name": name or "no", "MaximumRetryCount": retries}
    runtime = hc.get("Runtime") or default_runtime
    if runtime not in runtimes:
        raise InvalidArgument(f"Unknown runtime specified {runtime}")
    hc["Runtime"] = runtime
    if not hc.get("NetworkMode") or hc["NetworkMode"] == "default":
        hc["NetworkMode"] = "bridge"
    if hc.get("ShmSize") is not None and int(hc["ShmSize"]) < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    for cap in (hc.get("CapAdd") or []) + (hc.get("CapDrop") or []):
        try:
            ocispec.normalize_cap(cap)
        except ValueError as e:
            raise InvalidArgument(str(e)) from None
    for opt in hc.get("SecurityOpt") or []:
        key = opt.split("=", 1)[0].split(":", 1)[0]
        if key not in _SECURITY_OPTS:
            raise InvalidArgument(f'invalid --security-opt 1: "{opt}"')
    return hc
