"""The flags `run` and `create` share, and the Engine API create body built from them.

Everything here is pure: flag values in, the JSON body `POST /containers/create` takes out, so the
unit tests check the body without a daemon."""

from __future__ import annotations

import os

from ballena.cli.common import UsageError
from ballena.cli.flags import FlagSet, Values
from ballena.cli.streams import terminal_size

TYPE_CHECKING = False  # typing costs a command ~5 ms to import
if TYPE_CHECKING:
    from typing import Any


def container_flags(p: FlagSet) -> None:
    p.bool("interactive", "i", "Keep STDIN open even if not attached")
    p.bool("tty", "t", "Allocate a pseudo-TTY")
    p.str("name", None, "Assign a name to the container")
    p.str("entrypoint", None, "Overwrite the default ENTRYPOINT of the image")
    p.str("restart", None, "Restart policy to apply when a container exits", default="no")
    p.bool("init", None, "Run an init inside the container that forwards signals and reaps processes")
    p.list("env", "e", "Set environment variables")
    p.list("env-file", None, "Read in a file of environment variables")
    p.str("workdir", "w", "Working directory inside the container")
    p.str("user", "u", "Username or UID (format: <name|uid>[:<group|gid>])")
    p.str("hostname", "h", "Container host name")
    p.str("domainname", None, "Container NIS domain name")
    p.list("label", "l", "Set meta data on a container")
    p.list("label-file", None, "Read in a line delimited file of labels")
    p.str("stop-signal", None, "Signal to stop the container")
    p.int("stop-timeout", None, "Timeout (in seconds) to stop a container", default=None)
    p.str("runtime", None, "Runtime to use for this container")
    p.list("publish", "p", "Publish a container's port(s) to the host")
    p.bool("publish-all", "P", "Publish all exposed ports to random ports")
    p.list("expose", None, "Expose a port or a range of ports")
    p.str("network", None, "Connect a container to a network")
    p.str("net", None, "Connect a container to a network")
    p.list("network-alias", None, "Add network-scoped alias for the container")
    p.str("ip", None, "IPv4 address (e.g., 172.30.100.104)")
    p.str("mac-address", None, "Container MAC address")
    p.list("dns", None, "Set custom DNS servers")
    p.list("dns-search", None, "Set custom DNS search domains")
    p.list("dns-option", None, "Set DNS options")
    p.list("add-host", None, "Add a custom host-to-IP mapping (host:ip)")
    p.list("link", None, "Add link to another container")
    p.list("volume", "v", "Bind mount a volume")
    p.list("mount", None, "Attach a filesystem mount to the container")
    p.list("volumes-from", None, "Mount volumes from the specified container(s)")
    p.list("tmpfs", None, "Mount a tmpfs directory")
    p.str("memory", "m", "Memory limit")
    p.str("memory-swap", None, "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    p.str("memory-reservation", None, "Memory soft limit")
    p.int("memory-swappiness", None, "Tune container memory swappiness (0 to 100)", default=None)
    p.bool("oom-kill-disable", None, "Disable OOM Killer")
    p.int("oom-score-adj", None, "Tune host's OOM preferences (-1000 to 1000)", default=None)
    p.str("cpus", None, "Number of CPUs")
    p.int("cpu-shares", "c", "CPU shares (relative weight)", default=None)
    p.int("cpu-period", None, "Limit CPU CFS (Completely Fair Scheduler) period", default=None)
    p.int("cpu-quota", None, "Limit CPU CFS (Completely Fair Scheduler) quota", default=None)
    p.str("cpuset-cpus", None, "CPUs in which to allow execution (0-3, 0,1)")
    p.str("cpuset-mems", None, "MEMs in which to allow execution (0-3, 0,1)")
    p.int("pids-limit", None, "Tune container pids limit (set -1 for unlimited)", default=None)
    p.int("blkio-weight", None, "Block IO (relative weight), between 10 and 1000, or 0 to disable", default=None)
    p.list("device-read-bps", None, "Limit read rate (bytes per second) from a device")
    p.list("device-write-bps", None, "Limit write rate (bytes per second) to a device")
    p.list("device-read-iops", None, "Limit read rate (IO per second) from a device")
    p.list("device-write-iops", None, "Limit write rate (IO per second) to a device")
    p.list("ulimit", None, "Ulimit options")
    p.list("cap-add", None, "Add Linux capabilities")
    p.list("cap-drop", None, "Drop Linux capabilities")
    p.bool("privileged", None, "Give extended privileges to this container")
    p.list("security-opt", None, "Security Options")
    p.bool("read-only", None, "Mount the container's root filesystem as read only")
    p.list("device", None, "Add a host device to the container")
    p.list("device-cgroup-rule", None, "Add a rule to the cgroup allowed devices list")
    p.list("sysctl", None, "Sysctl options")
    p.str("ipc", None, "IPC mode to use")
    p.str("pid", None, "PID namespace to use")
    p.str("uts", None, "UTS namespace to use")
    p.str("cgroupns", None, "Cgroup namespace to use (host|private)")
    p.str("shm-size", None, "Size of /dev/shm")
    p.str("log-driver", None, "Logging driver for the container")
    p.list("log-opt", None, "Log driver options")
    p.list("group-add", None, "Add additional groups to join")
    p.str("platform", None, "Set platform if server is multi-platform capable")
    p.str("pull", None, 'Pull image before running ("always", "missing", "never")', default="missing")
    p.str("health-cmd", None, "Command to run to check health")
    p.str("health-interval", None, "Time between running the check (ms|s|m|h)")
    p.str("health-timeout", None, "Maximum time to allow one check to run (ms|s|m|h)")
    p.int("health-retries", None, "Consecutive failures needed to report unhealthy", default=None)
    p.str("health-start-period", None, "Start period for the container to initialize")
    p.str("health-start-interval", None, "Time between running the check during the start period (ms|s|m|h)")
    p.bool("no-healthcheck", None, "Disable any container-specified HEALTHCHECK")
    p.str("cidfile", None, "Write the container ID to the file")
    p.bool("quiet", "q", "Suppress the pull output")


def env_list(a: Values) -> list[str]:
    env: list[str] = []
    for path in a.env_file or []:
        try:
            with open(path) as f:
                for line in f:
                    line = line.rstrip("\n")
                    if not line.strip() or line.lstrip().startswith("#"):
                        continue
                    env.append(_env_item(line))
        except OSError as e:
            raise UsageError(f"open {path}: {(e.strerror or str(e)).lower()}") from None
    env += [_env_item(e) for e in a.env or []]
    return env


def _env_item(item: str) -> str:
    """``-e KEY`` takes KEY's value from our environment (or leaves it out), as docker does."""
    if "=" in item:
        key = item.split("=", 1)[0]
        if not key:
            raise UsageError(f"invalid environment variable: {item}")
        return item
    value = os.environ.get(item)
    return f"{item}={value}" if value is not None else item


def _labels(a: Values) -> dict[str, str]:
    labels: dict[str, str] = {}
    for path in a.label_file or []:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    k, _, v = line.partition("=")
                    labels[k] = v
    for item in a.label or []:
        k, _, v = item.partition("=")
        labels[k] = v
    return labels


def size_bytes(value: str | None, what: str) -> int:
    if not value:
        return 0
    from ballena.errors import InvalidArgument
    from ballena.pkg.units import ram_in_bytes

    try:
        return ram_in_bytes(value)
    except InvalidArgument:
        raise UsageError(f'invalid argument "{value}" for "{what}" flag: invalid size: \'{value}\'') from None


def restart_policy(value: str) -> dict[str, Any]:
    """``--restart name[:count]`` as the docker CLI sends it (the count always present)."""
    name, _, count = (value or "no").partition(":")
    try:
        retries = int(count) if count else 0
    except ValueError:
        raise UsageError("invalid restart policy format: maximum retry count must be an integer") from None
    return {"Name": name, "MaximumRetryCount": retries}


def _port_bindings(specs: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, str]]]]:
    exposed: dict[str, dict[str, Any]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        proto = "tcp"
        if "/" in spec:
            spec, proto = spec.rsplit("/", 1)
        parts = spec.split(":")
        if len(parts) == 1:
            host_ip, host_port, ctr = "", "", parts[0]
        elif len(parts) == 2:
            host_ip, host_port, ctr = "", parts[0], parts[1]
        else:
            host_ip, host_port, ctr = ":".join(parts[:-2]), parts[-2], parts[-1]
        host_ip = host_ip.strip("[]")
        if not ctr:
            raise UsageError(f"No port specified: {spec}<empty>")
        ctr_ports = _port_range(ctr)
        host_ports: list[int | None] = list(_port_range(host_port)) if host_port else [None] * len(ctr_ports)
        if len(host_ports) == 1 and len(ctr_ports) > 1:
            host_ports = [host_ports[0]] * len(ctr_ports)
        if len(host_ports) != len(ctr_ports):
            raise UsageError(f"invalid ranges specified for container and host Ports: {ctr} and {host_port}")
        for cp, hp in zip(ctr_ports, host_ports, strict=True):
            key = f"{cp}/{proto}"
            exposed[key] = {}
            bindings.setdefault(key, []).append({"HostIp": host_ip, "HostPort": "" if hp is None else str(hp)})
    return exposed, bindings


def _port_range(text: str) -> list[int]:
    a, _, b = text.partition("-")
    try:
        start = int(a)
        end = int(b) if b else start
    except ValueError:
        raise UsageError(f"invalid containerPort: {text}") from None
    return list(range(start, end + 1))


def _parse_mount(spec: str) -> dict[str, Any]:
    m: dict[str, Any] = {"Type": "volume"}
    for field in spec.split(","):
        k, _, v = field.partition("=")
        k = k.strip().lower()
        if k == "type":
            m["Type"] = v
        elif k in ("source", "src"):
            m["Source"] = v
        elif k in ("target", "destination", "dst"):
            m["Target"] = v
        elif k in ("readonly", "ro"):
            m["ReadOnly"] = v.lower() not in ("false", "0") if v else True
        elif k == "bind-propagation":
            m.setdefault("BindOptions", {})["Propagation"] = v
        elif k == "bind-recursive":
            m.setdefault("BindOptions", {})["NonRecursive"] = v == "disabled"
        elif k == "volume-nocopy":
            m.setdefault("VolumeOptions", {})["NoCopy"] = v.lower() not in ("false", "0") if v else True
        elif k == "volume-subpath":
            m.setdefault("VolumeOptions", {})["Subpath"] = v
        elif k == "volume-driver":
            m.setdefault("VolumeOptions", {}).setdefault("DriverConfig", {})["Name"] = v
        elif k == "volume-opt":
            ok, _, ov = v.partition("=")
            m.setdefault("VolumeOptions", {}).setdefault("DriverConfig", {}).setdefault("Options", {})[ok] = ov
        elif k == "volume-label":
            lk, _, lv = v.partition("=")
            m.setdefault("VolumeOptions", {}).setdefault("Labels", {})[lk] = lv
        elif k == "tmpfs-size":
            m.setdefault("TmpfsOptions", {})["SizeBytes"] = size_bytes(v, "--mount")
        elif k == "tmpfs-mode":
            m.setdefault("TmpfsOptions", {})["Mode"] = int(v, 8)
        elif k == "consistency":
            m["Consistency"] = v
        else:
            raise UsageError(f"invalid argument \"{spec}\" for \"--mount\" flag: unexpected key '{k}' in '{field}'")
    return m


def _throttle(items: list[str] | None, what: str, as_size: bool) -> list[dict[str, Any]]:
    out = []
    for item in items or []:
        path, _, rate = item.rpartition(":")
        if not path:
            raise UsageError(f"bad format: {item}")
        out.append({"Path": path, "Rate": size_bytes(rate, what) if as_size else int(rate)})
    return out


def _healthcheck(a: Values) -> dict[str, Any] | None:
    """The docker CLI's rules: any --health-* option makes a healthcheck (the others keep the
    image's values), --no-healthcheck disables the image's and conflicts with them."""
    from ballena.pkg.timeutil import parse_go_duration

    durations = {
        "Interval": ("--health-interval", a.health_interval),
        "Timeout": ("--health-timeout", a.health_timeout),
        "StartPeriod": ("--health-start-period", a.health_start_period),
        "StartInterval": ("--health-start-interval", a.health_start_interval),
    }
    given = bool(a.health_cmd) or a.health_retries is not None or any(v for _, v in durations.values())
    if a.no_healthcheck:
        if given:
            raise UsageError("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not given:
        return None
    out: dict[str, Any] = {"Test": ["CMD-SHELL", a.health_cmd] if a.health_cmd else None}
    for key, (flag, value) in durations.items():
        if value:
            ns = parse_go_duration(value)
            if ns < 0:
                raise UsageError(f"{flag} cannot be negative")
            out[key] = ns
    if a.health_retries is not None:
        if a.health_retries < 0:
            raise UsageError("--health-retries cannot be negative")
        out["Retries"] = a.health_retries
    return out


def build_create_body(a: Values, image: str, cmd: list[str]) -> tuple[dict[str, Any], str | None]:
    exposed, bindings = _port_bindings(a.publish or [])
    for e in a.expose or []:
        proto = "tcp"
        if "/" in e:
            e, proto = e.rsplit("/", 1)
        for port in _port_range(e):
            exposed[f"{port}/{proto}"] = {}
    binds = []
    volumes: dict[str, dict[str, Any]] = {}
    for v in a.volume or []:
        parts = v.split(":")
        if len(parts) == 1 or (len(parts) == 2 and parts[1] in ("ro", "rw")):
            volumes[parts[0]] = {}
        else:
            binds.append(v)
    ulimits = []
    for u in a.ulimit or []:
        name, _, vals = u.partition("=")
        soft, _, hard = vals.partition(":")
        try:
            ulimits.append({"Name": name, "Soft": int(soft), "Hard": int(hard or soft)})
        except ValueError:
            raise UsageError(f"invalid ulimit argument: {u}") from None
    tmpfs = {}
    for t in a.tmpfs or []:
        path, _, opts = t.partition(":")
        tmpfs[path] = opts
    sysctls = {}
    for s in a.sysctl or []:
        k, _, v = s.partition("=")
        sysctls[k] = v
    devices = []
    for dev in a.device or []:
        parts = dev.split(":")
        host = parts[0]
        inside = parts[1] if len(parts) > 1 and not set(parts[1]) <= set("rwm") else host
        perms = parts[-1] if len(parts) > 1 and set(parts[-1]) <= set("rwm") else "rwm"
        devices.append({"PathOnHost": host, "PathInContainer": inside, "CgroupPermissions": perms})
    log_config: dict[str, Any] = {"Type": a.log_driver or "", "Config": {}}
    for opt in a.log_opt or []:
        k, _, v = opt.partition("=")
        log_config["Config"][k] = v
    network = a.network or a.net or ""
    nano_cpus = 0
    if a.cpus:
        try:
            nano_cpus = int(float(a.cpus) * 1e9)
        except ValueError:
            raise UsageError(f'invalid argument "{a.cpus}" for "--cpus" flag') from None
    memory_swap = 0
    if a.memory_swap:
        memory_swap = -1 if a.memory_swap == "-1" else size_bytes(a.memory_swap, "--memory-swap")
    healthcheck = _healthcheck(a)
    size_console = terminal_size() if a.tty else None
    host_config: dict[str, Any] = {
        "Binds": binds or None,
        "NetworkMode": network or "default",
        "PortBindings": bindings,
        "RestartPolicy": restart_policy(a.restart),
        "AutoRemove": bool(getattr(a, "rm", False)),
        "VolumesFrom": a.volumes_from,
        "CapAdd": a.cap_add,
        "CapDrop": a.cap_drop,
        "Dns": a.dns or [],
        "DnsOptions": a.dns_option or [],
        "DnsSearch": a.dns_search or [],
        "ExtraHosts": a.add_host,
        "GroupAdd": a.group_add,
        "IpcMode": a.ipc or "",
        "Links": a.link,
        "OomScoreAdj": a.oom_score_adj or 0,
        "PidMode": a.pid or "",
        "Privileged": a.privileged,
        "PublishAllPorts": a.publish_all,
        "ReadonlyRootfs": a.read_only,
        "SecurityOpt": a.security_opt,
        "UTSMode": a.uts or "",
        "ShmSize": size_bytes(a.shm_size, "--shm-size") or None,
        "Tmpfs": tmpfs or None,
        "Sysctls": sysctls or None,
        "Runtime": a.runtime or "",
        "Init": a.init or None,
        "Memory": size_bytes(a.memory, "--memory"),
        "MemorySwap": memory_swap,
        "MemoryReservation": size_bytes(a.memory_reservation, "--memory-reservation"),
        "MemorySwappiness": a.memory_swappiness,
        "OomKillDisable": a.oom_kill_disable,
        "NanoCpus": nano_cpus,
        "CpuShares": a.cpu_shares or 0,
        "CpuPeriod": a.cpu_period or 0,
        "CpuQuota": a.cpu_quota or 0,
        "CpusetCpus": a.cpuset_cpus or "",
        "CpusetMems": a.cpuset_mems or "",
        "PidsLimit": a.pids_limit,
        "BlkioWeight": a.blkio_weight or 0,
        "BlkioDeviceReadBps": _throttle(a.device_read_bps, "--device-read-bps", True),
        "BlkioDeviceWriteBps": _throttle(a.device_write_bps, "--device-write-bps", True),
        "BlkioDeviceReadIOps": _throttle(a.device_read_iops, "--device-read-iops", False),
        "BlkioDeviceWriteIOps": _throttle(a.device_write_iops, "--device-write-iops", False),
        "Ulimits": ulimits or None,
        "Devices": devices,
        "DeviceCgroupRules": a.device_cgroup_rule,
        "Mounts": [_parse_mount(m) for m in a.mount or []] or None,
        "LogConfig": log_config,
        "CgroupnsMode": a.cgroupns or "",
        "ConsoleSize": list(size_console) if size_console else [0, 0],
    }
    config: dict[str, Any] = {
        "Hostname": a.hostname or "",
        "Domainname": a.domainname or "",
        "User": a.user or "",
        "AttachStdin": a.interactive,
        "AttachStdout": True,
        "AttachStderr": True,
        "Tty": a.tty,
        "OpenStdin": a.interactive,
        "StdinOnce": a.interactive and not getattr(a, "detach", False),
        "Env": env_list(a),
        "Cmd": cmd or None,
        "Image": image,
        "Volumes": volumes or None,
        "WorkingDir": a.workdir or "",
        "Labels": _labels(a),
        "ExposedPorts": exposed or None,
        "StopSignal": a.stop_signal or "",
        "StopTimeout": a.stop_timeout,
        "Healthcheck": healthcheck,
        "MacAddress": a.mac_address or "",
    }
    if a.entrypoint is not None:
        config["Entrypoint"] = [a.entrypoint] if a.entrypoint else [""]
    networking: dict[str, Any] = {}
    if network and network not in ("host", "none", "bridge", "default") and not network.startswith("container:"):
        ep: dict[str, Any] = {}
        if a.network_alias:
            ep["Aliases"] = a.network_alias
        if a.ip:
            ep["IPAMConfig"] = {"IPv4Address": a.ip}
        networking = {"EndpointsConfig": {network: ep}}
    elif a.ip or a.network_alias:
        networking = {
            "EndpointsConfig": {
                network or "bridge": {
                    **({"Aliases": a.network_alias} if a.network_alias else {}),
                    **({"IPAMConfig": {"IPv4Address": a.ip}} if a.ip else {}),
                }
            }
        }
    body = {**config, "HostConfig": host_config, "NetworkingConfig": networking}
    return body, a.name
