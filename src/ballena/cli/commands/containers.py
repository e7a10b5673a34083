"""Container commands: run, create, start, stop, restart, kill, rm, ps, logs, wait, rename, pause,
unpause, attach, exec, top, port, inspect, prune, and the filesystem ones (cp, diff, commit, export)."""

from __future__ import annotations

import os
import sys
import threading
import time

from ballena.cli.common import UsageError, die, filters_param, flags, out, render
from ballena.cli.display import ellipsis, short_id, since, size, unix_to_rfc3339_local
from ballena.cli.flags import FlagSet, Values
from ballena.cli.streams import RawTerminal, demux_to, on_resize, pump_stdin, terminal_size
from ballena.client.api import APIError, Client
from ballena.errors import exit_code_for

TYPE_CHECKING = False  # typing costs a command ~5 ms to import
if TYPE_CHECKING:
    from typing import Any

PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedSince": "CREATED",
    "RunningFor": "CREATED",
    "CreatedAt": "CREATED AT",
    "Status": "STATUS",
    "Ports": "PORTS",
    "Names": "NAMES",
    "Size": "SIZE",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
    "State": "STATE",
    "LocalVolumes": "LOCAL VOLUMES",
}


# -- run / create flags ------------------------------------------------------------------------------


def _container_flags(p: FlagSet) -> None:
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
    p.bool("no-healthcheck", None, "Disable any container-specified HEALTHCHECK")
    p.str("cidfile", None, "Write the container ID to the file")
    p.bool("quiet", "q", "Suppress the pull output")


def _env_list(a: Values) -> list[str]:
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


def _size(value: str | None, what: str) -> int:
    if not value:
        return 0
    from ballena.errors import InvalidArgument
    from ballena.pkg.units import ram_in_bytes

    try:
        return ram_in_bytes(value)
    except InvalidArgument:
        raise UsageError(f'invalid argument "{value}" for "{what}" flag: invalid size: \'{value}\'') from None


def _restart_policy(value: str) -> dict[str, Any]:
    name, _, count = (value or "no").partition(":")
    policy: dict[str, Any] = {"Name": name}
    if count:
        try:
            policy["MaximumRetryCount"] = int(count)
        except ValueError:
            raise UsageError("invalid restart policy format: maximum retry count must be an integer") from None
    return policy


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
        elif k == "volume-driver":
            m.setdefault("VolumeOptions", {}).setdefault("DriverConfig", {})["Name"] = v
        elif k == "volume-opt":
            ok, _, ov = v.partition("=")
            m.setdefault("VolumeOptions", {}).setdefault("DriverConfig", {}).setdefault("Options", {})[ok] = ov
        elif k == "volume-label":
            lk, _, lv = v.partition("=")
            m.setdefault("VolumeOptions", {}).setdefault("Labels", {})[lk] = lv
        elif k == "tmpfs-size":
            m.setdefault("TmpfsOptions", {})["SizeBytes"] = _size(v, "--mount")
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
        out.append({"Path": path, "Rate": _size(rate, what) if as_size else int(rate)})
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
        memory_swap = -1 if a.memory_swap == "-1" else _size(a.memory_swap, "--memory-swap")
    healthcheck: dict[str, Any] | None = None
    if a.no_healthcheck:
        healthcheck = {"Test": ["NONE"]}
    elif a.health_cmd:
        from ballena.pkg.timeutil import parse_go_duration

        healthcheck = {"Test": ["CMD-SHELL", a.health_cmd]}
        for key, val in (
            ("Interval", a.health_interval),
            ("Timeout", a.health_timeout),
            ("StartPeriod", a.health_start_period),
        ):
            if val:
                healthcheck[key] = parse_go_duration(val)
        if a.health_retries is not None:
            healthcheck["Retries"] = a.health_retries
    size_console = terminal_size() if a.tty else None
    host_config: dict[str, Any] = {
        "Binds": binds or None,
        "NetworkMode": network or "default",
        "PortBindings": bindings,
        "RestartPolicy": _restart_policy(a.restart),
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
        "ShmSize": _size(a.shm_size, "--shm-size") or None,
        "Tmpfs": tmpfs or None,
        "Sysctls": sysctls or None,
        "Runtime": a.runtime or "",
        "Init": a.init or None,
        "Memory": _size(a.memory, "--memory"),
        "MemorySwap": memory_swap,
        "MemoryReservation": _size(a.memory_reservation, "--memory-reservation"),
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
        "Env": _env_list(a),
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


def _create(client: Client, a: Values, image: str, cmd: list[str], prog: str) -> str:
    body, name = build_create_body(a, image, cmd)
    params = {"name": name, "platform": a.platform}
    if a.pull == "always":
        _pull(client, image, quiet=a.quiet)
    try:
        res = client.post("/containers/create", params=params, body=body)
    except APIError as e:
        if e.status != 404 or "No such image" not in e.message or a.pull == "never":
            raise
        print(f"Unable to find image '{_tagged(image)}' locally", file=sys.stderr)
        _pull(client, image, quiet=a.quiet)
        res = client.post("/containers/create", params=params, body=body)
    for w in res.get("Warnings") or []:
        print(f"WARNING: {w}", file=sys.stderr)
    if a.cidfile:
        with open(a.cidfile, "x") as f:
            f.write(res["Id"])
    return str(res["Id"])


def _tagged(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    return image if (":" in last or "@" in image) else image + ":latest"


def _pull(client: Client, image: str, quiet: bool) -> None:
    from ballena.cli.commands.registry import pull_image

    pull_image(client, image, quiet=quiet, out=sys.stderr)


def create(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] IMAGE [COMMAND] [ARG...]", interspersed=False, min_args=1)
    _container_flags(p)
    a = p.parse(argv)
    try:
        cid = _create(client, a, a.args[0], a.args[1:], prog)
    except APIError as e:
        die(f"Error response from daemon: {e.message}", 125)
    out(cid)
    return 0


def run(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(
        prog,
        f"{prog} [OPTIONS] IMAGE [COMMAND] [ARG...]",
        interspersed=False,
        min_args=1,
        description="Create and run a new container from an image",
    )
    _container_flags(p)
    p.bool("detach", "d", "Run container in background and print container ID")
    p.bool("rm", None, "Automatically remove the container and its associated anonymous volumes when it exits")
    p.list("attach", "a", "Attach to STDIN, STDOUT or STDERR")
    p.str("detach-keys", None, "Override the key sequence for detaching a container")
    p.bool("sig-proxy", None, "Proxy received signals to the process", default=True)
    a = p.parse(argv)
    image, cmd = a.args[0], a.args[1:]
    try:
        cid = _create(client, a, image, cmd, prog)
    except APIError as e:
        die(
            f"docker: Error response from daemon: {e.message}".replace("docker:", "ballena:", 1) + "\n\n"
            f"Run '{prog} --help' for more information",
            125,
        )
    if a.detach:
        try:
            client.post(f"/containers/{cid}/start")
        except APIError as e:
            code = exit_code_for(e.message, default=125)
            die(f"ballena: Error response from daemon: {e.message}\n\nRun '{prog} --help' for more information", code)
        out(cid)
        return 0
    attach_streams = set(a.attach or ["stdout", "stderr"] + (["stdin"] if a.interactive else []))
    return _attach_and_start(
        client,
        cid,
        tty=a.tty,
        stdin="stdin" in attach_streams and a.interactive,
        stdout="stdout" in attach_streams,
        stderr="stderr" in attach_streams,
        remove=a.rm,
        detach_keys=a.detach_keys,
        prog=prog,
        sig_proxy=a.sig_proxy,
    )


def _attach_and_start(
    client: Client,
    cid: str,
    *,
    tty: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    remove: bool,
    detach_keys: str | None,
    prog: str,
    sig_proxy: bool,
    start: bool = True,
) -> int:
    params = {"stream": True, "stdin": stdin, "stdout": stdout, "stderr": stderr, "detachKeys": detach_keys}
    sock, initial = client.hijack(f"/containers/{cid}/attach", params=params)
    result: dict[str, Any] = {}
    waiter = Client(client.host)

    def wait() -> None:
        try:
            result["status"] = waiter.post(
                f"/containers/{cid}/wait", params={"condition": "removed" if remove else "next-exit"}
            )
        except Exception as e:
            result["error"] = e

    wait_thread = threading.Thread(target=wait, daemon=True)
    wait_thread.start()
    time.sleep(0)  # let the wait request go out before the start
    if start:
        try:
            client.post(f"/containers/{cid}/start")
        except APIError as e:
            sock.close()
            print(
                f"ballena: Error response from daemon: {e.message}\n\nRun '{prog} --help' for more information",
                file=sys.stderr,
            )
            if remove:
                wait_thread.join(5)
            return exit_code_for(e.message, default=125)
    if tty:

        def resize() -> None:
            size = terminal_size()
            if size:
                try:
                    Client(client.host).post(f"/containers/{cid}/resize", params={"h": size[0], "w": size[1]})
                except Exception:
                    pass

        resize()
        on_resize(resize)
    with RawTerminal(sys.stdin.fileno()) if (tty and stdin) else _Nothing():
        if stdin:
            pump_stdin(sock)
        demux_to(sock, initial, tty=tty)
    sock.close()
    wait_thread.join()
    if "error" in result:
        die(f"Error waiting for container: {result['error']}", 125)
    status = result.get("status") or {}
    return int(status.get("StatusCode", 0))


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def start(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] CONTAINER [CONTAINER...]", min_args=1)
    p.bool("attach", "a", "Attach STDOUT/STDERR and forward signals")
    p.bool("interactive", "i", "Attach container's STDIN")
    p.str("detach-keys", None, "Override the key sequence for detaching a container")
    a = p.parse(argv)
    if a.attach or a.interactive:
        if len(a.args) > 1:
            die("you cannot start and attach multiple containers at once")
        info = client.get(f"/containers/{a.args[0]}/json")
        tty = bool(info["Config"]["Tty"])
        return _attach_and_start(
            client,
            info["Id"],
            tty=tty,
            stdin=a.interactive,
            stdout=True,
            stderr=True,
            remove=bool(info["HostConfig"].get("AutoRemove")),
            detach_keys=a.detach_keys,
            prog=prog,
            sig_proxy=True,
        )
    return _each(client, a.args, lambda n: client.post(f"/containers/{n}/start"))


def _each(client: Client, names: list[str], fn: Any, *, echo: bool = True) -> int:
    code = 0
    for n in names:
        try:
            fn(n)
            if echo:
                out(n)
        except APIError as e:
            print(f"Error response from daemon: {e.message}", file=sys.stderr)
            code = 1
    return code


def stop(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] CONTAINER [CONTAINER...]", min_args=1)
    p.int("time", "t", "Seconds to wait before killing the container", default=None)
    p.str("signal", "s", "Signal to send to the container")
    a = p.parse(argv)
    return _each(
        client, a.args, lambda n: client.post(f"/containers/{n}/stop", params={"t": a.time, "signal": a.signal})
    )


def restart(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] CONTAINER [CONTAINER...]", min_args=1)
    p.int("time", "t", "Seconds to wait before killing the container", default=None)
    p.str("signal", "s", "Signal to send to the container")
    a = p.parse(argv)
    return _each(
        client, a.args, lambda n: client.post(f"/containers/{n}/restart", params={"t": a.time, "signal": a.signal})
    )


def kill(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] CONTAINER [CONTAINER...]", min_args=1)
    p.str("signal", "s", "Signal to send to the container")
    a = p.parse(argv)
    return _each(client, a.args, lambda n: client.post(f"/containers/{n}/kill", params={"signal": a.signal}))


def rm(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] CONTAINER [CONTAINER...]", min_args=1)
    p.bool("force", "f", "Force the removal of a running container (uses SIGKILL)")
    p.bool("volumes", "v", "Remove anonymous volumes associated with the container")
    p.bool("link", "l", "Remove the specified link")
    a = p.parse(argv)
    return _each(
        client,
        a.args,
        lambda n: client.delete(f"/containers/{n}", params={"force": a.force or None, "v": a.volumes or None}),
    )


def pause(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} CONTAINER [CONTAINER...]", min_args=1)
    a = p.parse(argv)
    return _each(client, a.args, lambda n: client.post(f"/containers/{n}/pause"))


def unpause(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} CONTAINER [CONTAINER...]", min_args=1)
    a = p.parse(argv)
    return _each(client, a.args, lambda n: client.post(f"/containers/{n}/unpause"))


def rename(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} CONTAINER NEW_NAME", min_args=2, max_args=2)
    a = p.parse(argv)
    client.post(f"/containers/{a.args[0]}/rename", params={"name": a.args[1]})
    return 0


def wait(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} CONTAINER [CONTAINER...]", min_args=1)
    a = p.parse(argv)
    code = 0
    for n in a.args:
        try:
            res = client.post(f"/containers/{n}/wait")
            out(str(res.get("StatusCode", 0)))
        except APIError as e:
            print(f"Error response from daemon: {e.message}", file=sys.stderr)
            code = 1
    return code


def _ports_text(ports: list[dict[str, Any]]) -> str:
    items = []
    for pt in sorted(ports, key=lambda x: (x.get("PrivatePort", 0), x.get("Type", ""))):
        if pt.get("PublicPort"):
            ip = pt.get("IP") or "0.0.0.0"
            ip = f"[{ip}]" if ":" in ip else ip
            items.append(f"{ip}:{pt['PublicPort']}->{pt['PrivatePort']}/{pt['Type']}")
        else:
            items.append(f"{pt['PrivatePort']}/{pt['Type']}")
    return ", ".join(dict.fromkeys(items))


def ps(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS]", max_args=0)
    p.bool("all", "a", "Show all containers (default shows just running)")
    p.bool("quiet", "q", "Only display container IDs")
    p.bool("latest", "l", "Show the latest created container (includes all states)")
    p.int("last", "n", "Show n last created containers (includes all states)", default=-1)
    p.bool("size", "s", "Display total file sizes")
    p.bool("no-trunc", None, "Don't truncate output")
    p.list("filter", "f", "Filter output based on conditions provided")
    p.str("format", None, "Format output using a custom template")
    a = p.parse(argv)
    params = {
        "all": a.all or None,
        "limit": a.last if a.last > 0 else None,
        "latest": a.latest or None,
        "size": a.size or None,
        "filters": filters_param(a.filter),
    }
    items = client.get("/containers/json", params=params) or []
    rows = []
    for c in items:
        cmd = c.get("Command", "")
        names = [n.lstrip("/") for n in c.get("Names") or []]
        image = c.get("Image", "")
        if image.startswith("sha256:") and not a.no_trunc:
            image = short_id(image)
        row = {
            "ID": short_id(c["Id"], a.no_trunc),
            "Image": image,
            "Command": f'"{cmd if a.no_trunc else ellipsis(cmd, 20)}"',
            "CreatedSince": since(c.get("Created", 0)),
            "RunningFor": since(c.get("Created", 0)),
            "CreatedAt": unix_to_rfc3339_local(c.get("Created", 0)),
            "Status": c.get("Status", ""),
            "Ports": _ports_text(c.get("Ports") or []),
            "Names": ",".join(names),
            "State": c.get("State", ""),
            "Labels": ",".join(f"{k}={v}" for k, v in (c.get("Labels") or {}).items()),
            "Networks": ",".join(((c.get("NetworkSettings") or {}).get("Networks") or {}).keys()),
            "Mounts": ",".join(m.get("Name") or m.get("Source", "") for m in c.get("Mounts") or []),
            "Size": f"{size(c.get('SizeRw', 0))} (virtual {size(c.get('SizeRootFs', 0))})" if a.size else "",
        }
        rows.append(row)
    if a.quiet:
        for r in rows:
            out(r["ID"])
        return 0
    default = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    if a.size:
        default += "\t{{.Size}}"
    out(render(rows, a.format, default=default, headers=PS_HEADERS))
    return 0


def logs(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] CONTAINER", min_args=1, max_args=1)
    p.bool("follow", "f", "Follow log output")
    p.str("tail", "n", "Number of lines to show from the end of the logs", default="all")
    p.str("since", None, "Show logs since timestamp or relative")
    p.str("until", None, "Show logs before a timestamp or relative")
    p.bool("timestamps", "t", "Show timestamps")
    p.bool("details", None, "Show extra details provided to logs")
    a = p.parse(argv)
    from ballena.pkg.timeutil import cli_timestamp

    info = client.get(f"/containers/{a.args[0]}/json")
    params = {
        "stdout": True,
        "stderr": True,
        "follow": a.follow or None,
        "tail": a.tail,
        "since": cli_timestamp(a.since) if a.since else None,
        "until": cli_timestamp(a.until) if a.until else None,
        "timestamps": a.timestamps or None,
    }
    resp = client.request("GET", f"/containers/{info['Id']}/logs", params=params)
    tty = bool(info["Config"]["Tty"])
    import struct

    buf = bytearray()
    for chunk in resp.iter_chunks():
        if tty:
            os.write(1, chunk)
            continue
        buf += chunk
        while len(buf) >= 8:
            kind, n = struct.unpack(">BxxxI", buf[:8])
            if len(buf) < 8 + n:
                break
            os.write(2 if kind == 2 else 1, bytes(buf[8 : 8 + n]))
            del buf[: 8 + n]
    return 0


def attach(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] CONTAINER", min_args=1, max_args=1)
    p.bool("no-stdin", None, "Do not attach STDIN")
    p.str("detach-keys", None, "Override the key sequence for detaching a container")
    p.bool("sig-proxy", None, "Proxy all received signals to the process", default=True)
    a = p.parse(argv)
    info = client.get(f"/containers/{a.args[0]}/json")
    if not info["State"]["Running"]:
        die("You cannot attach to a stopped container, start it first")
    tty = bool(info["Config"]["Tty"])
    stdin = bool(info["Config"]["OpenStdin"]) and not a.no_stdin
    return _attach_and_start(
        client,
        info["Id"],
        tty=tty,
        stdin=stdin,
        stdout=True,
        stderr=True,
        remove=bool(info["HostConfig"].get("AutoRemove")),
        detach_keys=a.detach_keys,
        prog=prog,
        sig_proxy=a.sig_proxy,
        start=False,
    )


def exec_(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] CONTAINER COMMAND [ARG...]", interspersed=False, min_args=2)
    p.bool("detach", "d", "Detached mode: run command in the background")
    p.bool("interactive", "i", "Keep STDIN open even if not attached")
    p.bool("tty", "t", "Allocate a pseudo-TTY")
    p.list("env", "e", "Set environment variables")
    p.list("env-file", None, "Read in a file of environment variables")
    p.str("workdir", "w", "Working directory inside the container")
    p.str("user", "u", "Username or UID (format: <name|uid>[:<group|gid>])")
    p.bool("privileged", None, "Give extended privileges to the command")
    p.str("detach-keys", None, "Override the key sequence for detaching a container")
    a = p.parse(argv)
    name, cmd = a.args[0], a.args[1:]
    size_console = terminal_size() if a.tty else None
    body = {
        "User": a.user or "",
        "Privileged": a.privileged,
        "Tty": a.tty,
        "AttachStdin": a.interactive and not a.detach,
        "AttachStdout": not a.detach,
        "AttachStderr": not a.detach,
        "Detach": a.detach,
        "DetachKeys": a.detach_keys or "",
        "Env": _env_list(a),
        "WorkingDir": a.workdir or "",
        "Cmd": cmd,
        "ConsoleSize": list(size_console) if size_console else None,
    }
    try:
        eid = client.post(f"/containers/{name}/exec", body=body)["Id"]
    except APIError as e:
        die(f"Error response from daemon: {e.message}", 1 if e.status != 404 else 1)
    if a.detach:
        client.post(f"/exec/{eid}/start", body={"Detach": True, "Tty": a.tty})
        return 0
    sock, initial = client.hijack(
        f"/exec/{eid}/start", body={"Detach": False, "Tty": a.tty, "ConsoleSize": body["ConsoleSize"]}
    )
    if a.tty and size_console:
        try:
            client.post(f"/exec/{eid}/resize", params={"h": size_console[0], "w": size_console[1]})
        except APIError:
            pass
    with RawTerminal(sys.stdin.fileno()) if (a.tty and a.interactive) else _Nothing():
        if a.interactive:
            pump_stdin(sock)
        demux_to(sock, initial, tty=a.tty)
    sock.close()
    for _ in range(100):
        info = client.get(f"/exec/{eid}/json")
        if not info.get("Running"):
            break
        time.sleep(0.02)
    return int(info.get("ExitCode") or 0)


def inspect(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] CONTAINER [CONTAINER...]", min_args=1)
    p.str("format", "f", "Format output using a custom template")
    p.bool("size", "s", "Display total file sizes")
    a = p.parse(argv)
    from ballena.cli.commands.inspect import print_inspected

    results, errors = [], []
    for n in a.args:
        try:
            results.append(client.get(f"/containers/{n}/json", params={"size": a.size or None}))
        except APIError as e:
            if e.status != 404:
                raise
            errors.append(f"Error response from daemon: {e.message}")
    return print_inspected(results, errors, a.format)


def prune(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS]", max_args=0)
    p.bool("force", "f", "Do not prompt for confirmation")
    p.list("filter", None, 'Provide filter values (e.g. "until=<timestamp>")')
    a = p.parse(argv)
    from ballena.cli.commands.images import confirm

    if not a.force and not confirm("WARNING! This will remove all stopped containers."):
        return 0
    rep = client.post("/containers/prune", params={"filters": filters_param(a.filter)}) or {}
    if rep.get("ContainersDeleted"):
        out("Deleted Containers:")
        for c in rep["ContainersDeleted"]:
            out(c)
        out()
    out(f"Total reclaimed space: {size(rep.get('SpaceReclaimed', 0))}")
    return 0


def top(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} CONTAINER [ps OPTIONS]", interspersed=False, min_args=1)
    a = p.parse(argv)
    res = client.get(f"/containers/{a.args[0]}/top", params={"ps_args": " ".join(a.args[1:]) or None})
    from ballena.cli.common import tabwrite

    out(tabwrite([res.get("Titles") or []] + [list(r) for r in res.get("Processes") or []]))
    return 0


def port(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} CONTAINER [PRIVATE_PORT[/PROTO]]", min_args=1, max_args=2)
    a = p.parse(argv)
    info = client.get(f"/containers/{a.args[0]}/json")
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    if len(a.args) == 2:
        key = a.args[1] if "/" in a.args[1] else a.args[1] + "/tcp"
        found = ports.get(key)
        if not found:
            die(f"Error: No public port '{key}' published for {a.args[0]}")
        for b in found:
            ip = b.get("HostIp") or "0.0.0.0"
            out(f"{'[' + ip + ']' if ':' in ip else ip}:{b.get('HostPort')}")
        return 0
    for key in sorted(ports, key=lambda k: (int(k.split("/")[0]), k)):
        for b in ports[key] or []:
            ip = b.get("HostIp") or "0.0.0.0"
            out(f"{key} -> {'[' + ip + ']' if ':' in ip else ip}:{b.get('HostPort')}")
    return 0


def stats(client: Client, argv: list[str], *, prog: str) -> int:
    from ballena.cli.commands.stats import stats as _stats

    return _stats(client, argv, prog=prog)


def update(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] CONTAINER [CONTAINER...]", min_args=1)
    p.str("memory", "m", "Memory limit")
    p.str("memory-swap", None, "Swap limit equal to memory plus swap")
    p.str("memory-reservation", None, "Memory soft limit")
    p.str("cpus", None, "Number of CPUs")
    p.int("cpu-shares", "c", "CPU shares (relative weight)", default=None)
    p.int("cpu-period", None, "Limit CPU CFS period", default=None)
    p.int("cpu-quota", None, "Limit CPU CFS quota", default=None)
    p.str("cpuset-cpus", None, "CPUs in which to allow execution")
    p.str("cpuset-mems", None, "MEMs in which to allow execution")
    p.int("pids-limit", None, "Tune container pids limit", default=None)
    p.int("blkio-weight", None, "Block IO weight", default=None)
    p.str("restart", None, "Restart policy to apply when a container exits")
    a = p.parse(argv)
    body: dict[str, Any] = {}
    if a.memory:
        body["Memory"] = _size(a.memory, "--memory")
    if a.memory_swap:
        body["MemorySwap"] = -1 if a.memory_swap == "-1" else _size(a.memory_swap, "--memory-swap")
    if a.memory_reservation:
        body["MemoryReservation"] = _size(a.memory_reservation, "--memory-reservation")
    if a.cpus:
        body["NanoCpus"] = int(float(a.cpus) * 1e9)
    for key, val in (
        ("CpuShares", a.cpu_shares),
        ("CpuPeriod", a.cpu_period),
        ("CpuQuota", a.cpu_quota),
        ("PidsLimit", a.pids_limit),
        ("BlkioWeight", a.blkio_weight),
    ):
        if val is not None:
            body[key] = val
    if a.cpuset_cpus:
        body["CpusetCpus"] = a.cpuset_cpus
    if a.cpuset_mems:
        body["CpusetMems"] = a.cpuset_mems
    if a.restart:
        body["RestartPolicy"] = _restart_policy(a.restart)

    def one(n: str) -> None:
        res = client.post(f"/containers/{n}/update", body=body) or {}
        for w in res.get("Warnings") or []:
            print(f"WARNING: {w}", file=sys.stderr)

    return _each(client, a.args, one)


def _fs(name: str) -> Any:
    from ballena.cli.commands import filesystem

    return getattr(filesystem, name)


def cp(client: Client, argv: list[str], *, prog: str) -> int:
    return int(_fs("cp")(client, argv, prog=prog))


def diff(client: Client, argv: list[str], *, prog: str) -> int:
    return int(_fs("diff")(client, argv, prog=prog))


def commit(client: Client, argv: list[str], *, prog: str) -> int:
    return int(_fs("commit")(client, argv, prog=prog))


def export(client: Client, argv: list[str], *, prog: str) -> int:
    return int(_fs("export")(client, argv, prog=prog))
