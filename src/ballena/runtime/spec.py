"""The OCI runtime spec (``config.json``) of a container, with Docker's defaults.

This is the contract between the engine and a runtime: the native runtime and runc read the
same file. Inputs are plain values already resolved by the engine (numeric user, paths of the
files the engine writes), so building a spec does no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

OCI_VERSION = "1.2.0"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Docker's 14 default capabilities: CapEff 00000000a80425fb.
DEFAULT_CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

CAPABILITIES = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14,
    "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16,
    "CAP_SYS_RAWIO": 17,
    "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20,
    "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22,
    "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25,
    "CAP_SYS_TTY_CONFIG": 26,
    "CAP_MKNOD": 27,
    "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29,
    "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34,
    "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38,
    "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}

MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# The devices cgroup: deny all, then allow what every container gets (moby's oci defaults).
DEFAULT_DEVICE_RULES: tuple[dict[str, Any], ...] = (
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},  # /dev/zero
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},  # /dev/null
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},  # /dev/urandom
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},  # /dev/random
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},  # /dev/full
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},  # /dev/tty
    {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},  # /dev/console
    {"allow": True, "type": "c", "major": 136, "minor": -1, "access": "rwm"},  # /dev/pts/*
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},  # /dev/ptmx
    {"allow": False, "type": "c", "major": 10, "minor": 200, "access": "rwm"},  # tun/tap
)


def cap_mask(names: Sequence[str]) -> int:
    mask = 0
    for n in names:
        mask |= 1 << CAPABILITIES[n]
    return mask


def normalize_cap(name: str) -> str:
    """``chown``/``CAP_CHOWN`` -> ``CAP_CHOWN``; ``all`` -> ``ALL``. Raises ValueError when unknown."""
    n = name.upper()
    if n == "ALL":
        return n
    n = n if n.startswith("CAP_") else "CAP_" + n
    if n not in CAPABILITIES:
        raise ValueError(f'unknown capability: "{n}"')
    return n


def capabilities(
    *, cap_add: Sequence[str], cap_drop: Sequence[str], privileged: bool, available: Sequence[str] | None = None
) -> list[str]:
    """Docker's TweakCapabilities. ``available`` is what ``ALL`` and ``--privileged`` mean: the
    capabilities this daemon holds. Raises ValueError for an unknown name."""
    every = list(available if available is not None else CAPABILITIES)
    if privileged:
        return every
    if not cap_add and not cap_drop:
        return list(DEFAULT_CAPABILITIES)
    adds = [normalize_cap(c) for c in cap_add]
    drops = [normalize_cap(c) for c in cap_drop]
    if "ALL" in adds:
        return [c for c in every if c not in drops]
    if "ALL" in drops:
        return list(dict.fromkeys(adds))
    return list(dict.fromkeys([c for c in DEFAULT_CAPABILITIES if c not in drops] + adds))


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessSpec:
    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()
    terminal: bool = False
    console_size: tuple[int, int] | None = None  # (height, width)
    capabilities: tuple[str, ...] = DEFAULT_CAPABILITIES
    no_new_privileges: bool = False
    rlimits: tuple[tuple[str, int, int], ...] = ()  # like dockerd: inherit unless --ulimit
    oom_score_adj: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SpecInput:
    process: ProcessSpec
    rootfs: str
    readonly_rootfs: bool = False
    hostname: str = ""
    domainname: str = ""
    mounts: tuple[dict[str, Any], ...] = ()  # extra OCI mounts (files, volumes, tmpfs), after defaults
    shm_size: int = 64 * 1024 * 1024
    namespaces: Mapping[str, str | None] = field(
        default_factory=lambda: {"pid": None, "network": None, "ipc": None, "uts": None, "mount": None}
    )
    privileged: bool = False
    masked_paths: tuple[str, ...] | None = None
    readonly_paths: tuple[str, ...] | None = None
    devices: tuple[dict[str, Any], ...] = ()
    device_rules: tuple[dict[str, Any], ...] = ()
    resources: Mapping[str, Any] = field(default_factory=dict)
    cgroups_path: str = ""
    sysctl: Mapping[str, str] = field(default_factory=dict)
    seccomp: Mapping[str, Any] | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    cgroup_v2: bool = False


def default_mounts(
    shm_size: int, *, privileged: bool, cgroup_v2: bool, ipc_private: bool = True
) -> list[dict[str, Any]]:
    sys_opts = ["nosuid", "noexec", "nodev"] + ([] if privileged else ["ro"])
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts},
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime"] + ([] if privileged else ["ro"]),
        },
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    ]
    if ipc_private:
        mounts.append(
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"],
            }
        )
    return mounts


def build(inp: SpecInput) -> dict[str, Any]:
    p = inp.process
    caps = list(p.capabilities)
    process: dict[str, Any] = {
        "terminal": p.terminal,
        "user": {
            "uid": p.uid,
            "gid": p.gid,
            **({"additionalGids": list(p.additional_gids)} if p.additional_gids else {}),
        },
        "args": list(p.args),
        "env": list(p.env),
        "cwd": p.cwd or "/",
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": [{"type": t, "soft": s, "hard": h} for t, s, h in p.rlimits],
        "noNewPrivileges": p.no_new_privileges,
    }
    if p.console_size and p.terminal:
        process["consoleSize"] = {"height": p.console_size[0], "width": p.console_size[1]}
    if p.oom_score_adj is not None:
        process["oomScoreAdj"] = p.oom_score_adj
    namespaces = []
    for kind in ("pid", "network", "ipc", "uts", "mount", "cgroup"):
        if kind not in inp.namespaces:
            continue
        ns: dict[str, str] = {"type": kind}
        path = inp.namespaces[kind]
        if path:
            ns["path"] = path
        namespaces.append(ns)
    ipc_private = "ipc" in inp.namespaces and not inp.namespaces["ipc"]
    mounts = default_mounts(inp.shm_size, privileged=inp.privileged, cgroup_v2=inp.cgroup_v2, ipc_private=ipc_private)
    user_dests = {m["destination"] for m in inp.mounts}
    mounts = [m for m in mounts if m["destination"] not in user_dests] + list(inp.mounts)
    resources = dict(inp.resources)
    resources["devices"] = [
        dict(r)
        for r in (
            (DEFAULT_DEVICE_RULES if not inp.privileged else ({"allow": True, "access": "rwm"},)) + inp.device_rules
        )
    ]
    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "resources": resources,
        "devices": [dict(d) for d in inp.devices],
    }
    if inp.cgroups_path:
        linux["cgroupsPath"] = inp.cgroups_path
    if inp.sysctl:
        linux["sysctl"] = dict(inp.sysctl)
    if not inp.privileged:
        linux["maskedPaths"] = list(inp.masked_paths if inp.masked_paths is not None else MASKED_PATHS)
        linux["readonlyPaths"] = list(inp.readonly_paths if inp.readonly_paths is not None else READONLY_PATHS)
    if inp.seccomp is not None:
        linux["seccomp"] = dict(inp.seccomp)
    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": inp.rootfs, "readonly": inp.readonly_rootfs},
        "hostname": inp.hostname,
        "mounts": mounts,
        "linux": linux,
    }
    if inp.domainname:
        spec["domainname"] = inp.domainname
    if inp.annotations:
        spec["annotations"] = dict(inp.annotations)
    return spec


def merge_env(defaults: Sequence[str], overrides: Sequence[str]) -> list[str]:
    """Docker's ReplaceOrAppendEnvValues: later values replace earlier ones by key, in place."""
    out = list(defaults)
    index = {e.partition("=")[0]: i for i, e in enumerate(out)}
    for e in overrides:
        key = e.partition("=")[0]
        if "=" not in e:
            # "KEY" alone removes KEY (docker run -e KEY with KEY unset on the client).
            if key in index:
                out[index[key]] = ""
            continue
        if key in index:
            out[index[key]] = e
        else:
            index[key] = len(out)
            out.append(e)
    return [e for e in out if e]
