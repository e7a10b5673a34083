"""ballenad's configuration: dockerd's flags and a daemon.json-style ``--config-file``.

As dockerd does, a setting given both as a flag and in the file is an error, and unknown keys
in the file are rejected, so typos do not pass silently.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ballena.errors import InvalidArgument

DEFAULT_HOST = "unix:///run/ballena/ballena.sock"
DEFAULT_DATA_ROOT = "/var/lib/ballena"
DEFAULT_EXEC_ROOT = "/run/ballena"


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeSpec:
    path: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonConfig:
    hosts: tuple[str, ...] = (DEFAULT_HOST,)
    data_root: Path = Path(DEFAULT_DATA_ROOT)
    exec_root: Path = Path(DEFAULT_EXEC_ROOT)
    pidfile: Path | None = None
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_opts: tuple[str, ...] = ()
    debug: bool = False
    live_restore: bool = True
    default_runtime: str = "ballena"
    runtimes: dict[str, RuntimeSpec] = field(default_factory=dict)
    log_driver: str = "json-file"
    log_opts: dict[str, str] = field(default_factory=dict)
    insecure_registries: tuple[str, ...] = ()
    registry_mirrors: tuple[str, ...] = ()
    bip: str = ""
    bridge: str = "ballena0"
    registry_certs_dir: Path = Path("/etc/ballena/certs.d")
    max_concurrent_downloads: int = 3
    max_concurrent_uploads: int = 5
    cgroup_parent: str = "/ballena"
    default_address_pools: tuple[dict[str, Any], ...] = ()
    iptables: bool = True
    ip_forward: bool = True
    userland_proxy: bool = True
    offline_library: bool = True  # build a Docker Hub library image from Debian when docker.io is unreachable
    tls: bool = False
    tlsverify: bool = False
    insecure_tcp: bool = False  # --tls=false given: TCP without TLS accepted beyond loopback
    tlscacert: str = ""
    tlscert: str = ""
    tlskey: str = ""
    labels: tuple[str, ...] = ()
    group: str = "docker"
    shutdown_timeout: int = 15


# daemon.json key -> (argparse dest, kind)
_FILE_KEYS: dict[str, tuple[str, str]] = {
    "hosts": ("hosts", "list"),
    "data-root": ("data_root", "str"),
    "exec-root": ("exec_root", "str"),
    "pidfile": ("pidfile", "str"),
    "dns": ("dns", "list"),
    "dns-search": ("dns_search", "list"),
    "dns-opts": ("dns_opts", "list"),
    "debug": ("debug", "bool"),
    "live-restore": ("live_restore", "bool"),
    "default-runtime": ("default_runtime", "str"),
    "runtimes": ("runtimes", "dict"),
    "log-driver": ("log_driver", "str"),
    "log-opts": ("log_opts", "dict"),
    "insecure-registries": ("insecure_registries", "list"),
    "registry-mirrors": ("registry_mirrors", "list"),
    "bip": ("bip", "str"),
    "bridge": ("bridge", "str"),
    "registry-certs-dir": ("registry_certs_dir", "str"),
    "max-concurrent-downloads": ("max_concurrent_downloads", "int"),
    "max-concurrent-uploads": ("max_concurrent_uploads", "int"),
    "cgroup-parent": ("cgroup_parent", "str"),
    "default-address-pools": ("default_address_pools", "list"),
    "iptables": ("iptables", "bool"),
    "ip-forward": ("ip_forward", "bool"),
    "userland-proxy": ("userland_proxy", "bool"),
    "offline-library": ("offline_library", "bool"),
    "tls": ("tls", "bool"),
    "tlsverify": ("tlsverify", "bool"),
    "tlscacert": ("tlscacert", "str"),
    "tlscert": ("tlscert", "str"),
    "tlskey": ("tlskey", "str"),
    "labels": ("labels", "list"),
    "group": ("group", "str"),
    "shutdown-timeout": ("shutdown_timeout", "int"),
    "log-level": ("log_level", "str"),
    "storage-driver": ("storage_driver", "str"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ballenad", description="Ballena: a Docker-compatible container engine daemon")
    p.add_argument("-H", "--host", dest="hosts", action="append", help="daemon socket(s) to listen on")
    p.add_argument("--data-root", dest="data_root", help=f"root of persistent state (default {DEFAULT_DATA_ROOT})")
    p.add_argument("--exec-root", dest="exec_root", help=f"root of runtime state (default {DEFAULT_EXEC_ROOT})")
    p.add_argument("-p", "--pidfile", dest="pidfile", help="path to write the daemon's PID")
    p.add_argument("--config-file", dest="config_file", default=None, help="daemon configuration file (JSON)")
    p.add_argument("--dns", dest="dns", action="append", help="DNS server(s) for containers")
    p.add_argument("--dns-search", dest="dns_search", action="append", help="DNS search domains for containers")
    p.add_argument("--dns-opt", dest="dns_opts", action="append", help="DNS options for containers")
    p.add_argument("-D", "--debug", dest="debug", action="store_const", const=True, default=None)
    p.add_argument("-l", "--log-level", dest="log_level", default=None)
    p.add_argument("--live-restore", dest="live_restore", action="store_const", const=True, default=None)
    p.add_argument("--no-live-restore", dest="live_restore", action="store_const", const=False)
    p.add_argument("--default-runtime", dest="default_runtime")
    p.add_argument("--add-runtime", dest="add_runtime", action="append", help="name=path")
    p.add_argument("--log-driver", dest="log_driver")
    p.add_argument("--log-opt", dest="log_opt", action="append")
    p.add_argument("--insecure-registry", dest="insecure_registries", action="append")
    p.add_argument("--registry-mirror", dest="registry_mirrors", action="append")
    p.add_argument("--bip", dest="bip")
    p.add_argument("--cgroup-parent", dest="cgroup_parent", help="parent cgroup of containers (default /ballena)")
    p.add_argument(
        "--registry-certs-dir",
        dest="registry_certs_dir",
        help="per-registry TLS files, <dir>/<host:port>/{ca.crt,client.cert,client.key} (default /etc/ballena/certs.d)",
    )
    p.add_argument("--max-concurrent-downloads", dest="max_concurrent_downloads", type=int)
    p.add_argument("--max-concurrent-uploads", dest="max_concurrent_uploads", type=int)
    p.add_argument("-b", "--bridge", dest="bridge", help="name of the default bridge (default ballena0)")
    p.add_argument("--iptables", dest="iptables", type=_bool, default=None)
    p.add_argument("--ip-forward", dest="ip_forward", type=_bool, default=None)
    p.add_argument("--userland-proxy", dest="userland_proxy", type=_bool, default=None)
    p.add_argument("--offline-library", dest="offline_library", type=_bool, default=None, nargs="?", const=True)
    # --tls, --tls=true, or --tls=false: the last says "serve TCP without TLS on purpose".
    p.add_argument("--tls", dest="tls", nargs="?", const=True, type=_bool, default=None)
    p.add_argument("--tlsverify", dest="tlsverify", action="store_const", const=True, default=None)
    p.add_argument("--tlscacert", dest="tlscacert")
    p.add_argument("--tlscert", dest="tlscert")
    p.add_argument("--tlskey", dest="tlskey")
    p.add_argument("--label", dest="labels", action="append")
    p.add_argument("-G", "--group", dest="group")
    p.add_argument("--shutdown-timeout", dest="shutdown_timeout", type=int)
    p.add_argument("-s", "--storage-driver", dest="storage_driver")
    p.add_argument("-v", "--version", action="store_true", help="print version and exit")
    return p


def _bool(v: str) -> bool:
    if v.lower() in ("1", "true", "yes"):
        return True
    if v.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {v!r}")


def load(argv: list[str] | None = None) -> tuple[DaemonConfig, argparse.Namespace]:
    """Parse flags and merge the config file. Raises InvalidArgument for conflicts."""
    args = build_parser().parse_args(argv)
    values: dict[str, Any] = {}
    file_values: dict[str, Any] = {}
    if args.config_file:
        path = Path(args.config_file)
        try:
            data = json.loads(path.read_text()) if path.read_text().strip() else {}
        except FileNotFoundError:
            raise InvalidArgument(f"unable to configure the daemon with file {path}: no such file") from None
        except ValueError as e:
            raise InvalidArgument(f"unable to configure the daemon with file {path}: {e}") from None
        unknown = sorted(k for k in data if k not in _FILE_KEYS)
        if unknown:
            raise InvalidArgument(
                f"the following directives don't match any configuration option: {', '.join(unknown)}"
            )
        conflicts = []
        for key, value in data.items():
            dest, _ = _FILE_KEYS[key]
            flag_value = getattr(args, dest, None)
            if flag_value is not None:
                conflicts.append(f"{key}: (from flag: {flag_value}, from file: {value})")
            file_values[dest] = value
        if conflicts:
            raise InvalidArgument(
                "the following directives are specified both as a flag and in the configuration "
                "file: " + ", ".join(conflicts)
            )
    for dest in {d for d, _ in _FILE_KEYS.values()}:
        v = getattr(args, dest, None)
        if v is not None:
            values[dest] = v
    values.update(file_values)

    runtimes: dict[str, RuntimeSpec] = {}
    for name, spec in (values.get("runtimes") or {}).items():
        if not isinstance(spec, dict) or "path" not in spec:
            raise InvalidArgument(f"runtime {name}: a path is required")
        runtimes[name] = RuntimeSpec(path=str(spec["path"]), args=tuple(spec.get("runtimeArgs") or ()))
    for item in args.add_runtime or []:
        name, _, path = item.partition("=")
        if not path:
            raise InvalidArgument(f"--add-runtime {item}: expected name=path")
        runtimes[name] = RuntimeSpec(path=path)
    log_opts = dict(values.get("log_opts") or {})
    for item in args.log_opt or []:
        k, _, v = item.partition("=")
        log_opts[k] = v
    debug = bool(values.get("debug")) or (values.get("log_level") == "debug")
    bridge = values.get("bridge") or "ballena0"
    if len(bridge) > 15 or not re.fullmatch(r"[A-Za-z0-9_.-]+", bridge):
        raise InvalidArgument(f"invalid bridge name {bridge!r}: at most 15 letters, digits, '_', '.' or '-'")
    cfg = DaemonConfig(
        hosts=tuple(values.get("hosts") or (DEFAULT_HOST,)),
        data_root=Path(values.get("data_root") or DEFAULT_DATA_ROOT),
        exec_root=Path(values.get("exec_root") or DEFAULT_EXEC_ROOT),
        pidfile=Path(values["pidfile"]) if values.get("pidfile") else None,
        dns=tuple(values.get("dns") or ()),
        dns_search=tuple(values.get("dns_search") or ()),
        dns_opts=tuple(values.get("dns_opts") or ()),
        debug=debug,
        live_restore=values.get("live_restore", True) is not False,
        default_runtime=values.get("default_runtime") or "ballena",
        runtimes=runtimes,
        log_driver=values.get("log_driver") or "json-file",
        log_opts=log_opts,
        insecure_registries=tuple(values.get("insecure_registries") or ()),
        registry_mirrors=tuple(values.get("registry_mirrors") or ()),
        bip=values.get("bip") or "",
        bridge=bridge,
        registry_certs_dir=Path(values.get("registry_certs_dir") or "/etc/ballena/certs.d"),
        max_concurrent_downloads=int(values.get("max_concurrent_downloads") or 3),
        max_concurrent_uploads=int(values.get("max_concurrent_uploads") or 5),
        cgroup_parent=values.get("cgroup_parent") or "/ballena",
        default_address_pools=tuple(values.get("default_address_pools") or ()),
        iptables=values.get("iptables", True) is not False,
        ip_forward=values.get("ip_forward", True) is not False,
        userland_proxy=values.get("userland_proxy", True) is not False,
        offline_library=values.get("offline_library", True) is not False,
        tls=bool(values.get("tls")),
        insecure_tcp=values.get("tls") is False,
        tlsverify=bool(values.get("tlsverify")),
        tlscacert=values.get("tlscacert") or "",
        tlscert=values.get("tlscert") or "",
        tlskey=values.get("tlskey") or "",
        labels=tuple(values.get("labels") or ()),
        group=values.get("group") or "docker",
        shutdown_timeout=int(values.get("shutdown_timeout") or 15),
    )
    if cfg.default_runtime not in ("ballena", "runc") and cfg.default_runtime not in cfg.runtimes:
        raise InvalidArgument(f"default runtime {cfg.default_runtime} is not configured")
    for host in cfg.hosts:
        check_host(cfg, host)
    return cfg, args


def check_host(cfg: DaemonConfig, host: str) -> None:
    """Refuse a listen address before any is opened: a daemon that served its UNIX socket and
    then failed on a dangerous TCP one would look started to whoever waits for the socket."""
    if host.startswith("unix://") or host.startswith("/"):
        return
    if host.startswith("fd://"):
        raise InvalidArgument("fd:// socket activation is not supported; use unix:// or tcp://")
    if not host.startswith("tcp://"):
        raise InvalidArgument(f"invalid daemon host {host!r}: use unix:///path or tcp://host:port")
    h, _, p = host[len("tcp://") :].rstrip("/").rpartition(":")
    if not p.isdigit():
        raise InvalidArgument(f"invalid TCP address {host}: a port is required")
    uses_tls = cfg.tls or cfg.tlsverify or bool(cfg.tlscert)
    if not uses_tls and h not in ("127.0.0.1", "localhost", "::1", "[::1]") and not cfg.insecure_tcp:
        raise InvalidArgument(
            f"refusing to serve the API on {host} without TLS: anyone who can reach it is root on this "
            "host. Use --tlsverify with --tlscacert/--tlscert/--tlskey, or --tls=false to accept the danger"
        )
