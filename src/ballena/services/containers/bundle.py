"""What a container's monitor is given to run it: the OCI bundle (``config.json`` from
``runtime.spec``), the files bind-mounted into the container (``/etc/hostname``, ``hosts``,
``resolv.conf``), the seccomp program, the log settings, and the ``MonitorConfig`` that names
them all. At create time, the writable snapshot on the image's shared init layer.

Blocking (file writes, user lookups in the image): callers run it in a thread.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ballena.core.containerconfig import HostConfig
from ballena.core.containers import Container, ExecConfig
from ballena.core.volumes import MountPoint
from ballena.errors import Conflict, InvalidArgument
from ballena.pkg import linux, overlay, users
from ballena.pkg.atomicfile import write_bytes
from ballena.pkg.stringid import generate_id
from ballena.pkg.units import from_human_size
from ballena.runtime import cgroups
from ballena.runtime import spec as ocispec
from ballena.services import resources
from ballena.services.containers.etcfiles import EtcFiles
from ballena.services.containers.layout import DnsDefaults, LogDefaults, Paths, RuntimeInfo
from ballena.services.containers.links import link_env
from ballena.services.sandboxes import Sandboxes
from ballena.services.volumes import VolumeService
from ballena.shim.config import HealthSettings, LogSettings, MonitorConfig, RootfsMount, RuntimeSettings
from ballena.shim.logfile import DEFAULT_MAX_FILE, DEFAULT_MAX_SIZE
from ballena.stores.containers import ContainerStore
from ballena.stores.images import ImageStore

__all__ = ["Bundles", "check_sysctls"]

# Docker's initlayer: mount points a container needs, absent from many images.
INIT_LAYER_FILES = {
    "dev/pts": "dir",
    "dev/shm": "dir",
    "proc": "dir",
    "sys": "dir",
    ".dockerenv": "file",
    "etc/resolv.conf": "file",
    "etc/hosts": "file",
    "etc/hostname": "file",
    "dev/console": "file",
    "etc/mtab": "/proc/mounts",
}
# Namespaced sysctls, and the namespace each belongs to (runc's validation).
_IPC_SYSCTLS = frozenset(
    {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
     "kernel.shmmni", "kernel.shm_rmid_forced"}
)  # fmt: skip


class Bundles:
    def __init__(
        self,
        *,
        images: ImageStore,
        store: ContainerStore,
        paths: Paths,
        runtimes: Mapping[str, RuntimeInfo],
        lookup: Callable[[str], Container],
        volumes: VolumeService | None = None,
        sandboxes: Sandboxes | None = None,
        dns: DnsDefaults = DnsDefaults(),
        logs: LogDefaults = LogDefaults(),
    ) -> None:
        self.images = images
        self.store = store
        self.paths = paths
        self.runtimes = dict(runtimes)
        self.lookup = lookup  # another container, for --network/--pid/--ipc container:<x>
        self.volumes = volumes
        self.sandboxes = sandboxes
        self.dns = dns
        self.logs = logs
        self.etc = EtcFiles(store=store, sandboxes=sandboxes, dns=dns)
        self.cgroup_layout = cgroups.layout()
        self._available_caps: list[str] | None = None

    # -- at create --------------------------------------------------------------------------------

    def prepare_filesystem(self, c: Container, top_layer: str | None) -> None:
        """The container's writable snapshot on its image's init layer, and its directory."""
        parent = self._init_layer(top_layer)
        self.images.snapshots.prepare(c.id, parent)
        self.store.dir(c.id).mkdir(parents=True, exist_ok=True)

    def _init_layer(self, top: str | None) -> str:
        """The layer of empty mount points shared by all containers of an image (Docker's
        ``-init`` layer, made once per image instead of once per container)."""
        snaps = self.images.snapshots
        key = ImageStore.INIT_PREFIX + (top or "scratch")
        if snaps.exists(key):
            return key
        tmp = f"init-tmp/{generate_id()[:16]}"
        snaps.prepare(tmp, top)
        try:
            upper = snaps.upper_dir(tmp)
            lowers = [str(p) for p in snaps.lower_dirs(tmp)]
            for rel, kind in INIT_LAYER_FILES.items():
                existing = overlay.lookup_in_layers(lowers, rel)
                path = upper / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                if kind == "dir":
                    if existing is None or not os.path.isdir(existing):
                        path.mkdir(0o755, exist_ok=True)
                elif kind == "file":
                    if existing is None or not os.path.isfile(existing):
                        path.touch(0o755)
                else:  # a symlink, made whatever the image has there (as Docker's init layer does)
                    if path.exists() or path.is_symlink():
                        path.unlink()
                    os.symlink(kind, path)
            try:
                snaps.commit(key, tmp)
            except Conflict:
                snaps.remove(tmp)
        except BaseException:
            if snaps.exists(tmp):
                snaps.remove(tmp)
            raise
        return key

    # -- at start ---------------------------------------------------------------------------------

    def write(self, c: Container, *, attach_stdout: bool, attach_stderr: bool, autostart: bool) -> MonitorConfig:
        """Write the bundle and the container's files; the monitor's configuration. Raises
        InvalidArgument (bad runtime, log driver, capability, sysctl, device) and Conflict
        (a container whose namespace it joins is not running)."""
        state_dir = self.paths.state_dir(c.id)
        (state_dir / "rootfs").mkdir(parents=True, exist_ok=True)
        cdir = self.store.dir(c.id)
        try:
            (cdir / "exit.json").unlink()
        except FileNotFoundError:
            pass
        spec = self.spec(c, state_dir)
        write_bytes(state_dir / "config.json", json.dumps(spec).encode(), mode=0o600, durable=False)
        runtime = self.runtime_settings(c)
        seccomp_bpf = None
        monitor_spec = None
        if runtime.native:
            lx = spec.get("linux") or {}
            if lx.get("seccomp"):
                from ballena.runtime import seccomp

                seccomp_bpf = seccomp.compiled(lx["seccomp"])
            # The filter goes compiled: parsing the long section again cost every monitor ~0.1 MB.
            monitor_spec = {**spec, "linux": {k: v for k, v in lx.items() if k != "seccomp"}}
        size = tuple(c.host_config.console_size)
        return MonitorConfig(
            id=c.id,
            bundle=str(state_dir),
            state_dir=str(state_dir),
            exit_file=str(cdir / "exit.json"),
            cgroup_path=self.paths.cgroup(c),
            runtime=runtime,
            rootfs_mounts=tuple(
                RootfsMount(type=m.type, source=m.source, options=tuple(m.options))
                for m in self.images.snapshots.mounts(c.id)
            ),
            tty=c.tty,
            open_stdin=c.config.open_stdin,
            attach_stdout=attach_stdout,
            attach_stderr=attach_stderr,
            console_size=size if len(size) == 2 and any(size) else None,
            log=self.log_settings(c),
            autostart=autostart,
            seccomp_bpf=seccomp_bpf,
            spec=monitor_spec,
            health=health_settings(c, state_dir),
        )

    def runtime_settings(self, c: Container) -> RuntimeSettings:
        info = self.runtimes.get(c.runtime)
        if info is None:
            raise InvalidArgument(f"Unknown runtime specified {c.runtime}")
        if info.native:
            return RuntimeSettings()
        return RuntimeSettings(name=info.name, path=info.path, args=info.args, root=str(self.paths.runc_root()))

    def log_driver(self, c: Container) -> str:
        return c.host_config.log_config.type or self.logs.driver

    def log_settings(self, c: Container) -> LogSettings | None:
        """Where and how the monitor logs; None for ``--log-driver none``. Raises
        InvalidArgument for a driver or option Docker would refuse."""
        driver = self.log_driver(c)
        if driver == "none":
            return None
        if driver not in ("json-file", "local"):
            raise InvalidArgument(f"logger: no log driver named '{driver}' is registered")
        opts = {**(self.logs.options or {}), **(c.host_config.log_config.config or {})}
        max_size = from_human_size(opts["max-size"]) if opts.get("max-size") else DEFAULT_MAX_SIZE
        if opts.get("max-size") == "-1":
            max_size = 0
        max_file = int(opts.get("max-file") or DEFAULT_MAX_FILE)
        if max_file < 1:
            raise InvalidArgument("max-file cannot be less than 1")
        return LogSettings(path=str(self.store.log_path(c.id)), max_size=max_size, max_file=max_file)

    # -- the spec -----------------------------------------------------------------------------------

    def spec(self, c: Container, bundle: Path) -> dict[str, Any]:
        """The OCI spec of ``c`` (writes its /etc files on the way)."""
        cfg, hc = c.config, c.host_config
        u = self.resolve_user(c, cfg.user)
        tty = cfg.tty
        hostname = cfg.hostname or c.id[:12]
        env = ocispec.merge_env(
            [
                f"PATH={ocispec.DEFAULT_PATH}",
                f"HOSTNAME={hostname}",
                *(["TERM=xterm"] if tty else []),
                *link_env(c, self.lookup),
            ],
            list(cfg.env or ()),
        )
        if not any(e.startswith("HOME=") for e in env):
            env.append(f"HOME={u.home}")
        try:
            caps = ocispec.capabilities(
                cap_add=list(hc.cap_add or ()),
                cap_drop=list(hc.cap_drop or ()),
                privileged=hc.privileged,
                available=self.available_capabilities(),
            )
        except ValueError as e:
            raise InvalidArgument(str(e)) from None
        caps = [x for x in caps if x in self.available_capabilities()]
        args = [c.path, *c.args]
        namespaces = self._namespaces(c)
        check_sysctls(hc.sysctls or {}, namespaces)
        cdir = self.store.dir(c.id)
        self.etc.write(c, hostname)
        ro = ["ro"] if hc.readonly_rootfs else []
        mounts: list[dict[str, Any]] = [
            {"destination": dest, "type": "bind", "source": str(cdir / fname), "options": ["rbind", "rprivate", *ro]}
            for dest, fname in (
                ("/etc/resolv.conf", "resolv.conf"),
                ("/etc/hostname", "hostname"),
                ("/etc/hosts", "hosts"),
            )
        ]
        if hc.ipc_mode == "host":  # the host's IPC namespace comes with its shm
            mounts.append({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind"]})
        if self.volumes is not None:
            self._fill_new_volumes(c, list(c.mounts))
            mounts += self.volumes.oci_mounts(list(c.mounts))
        for path, opts in (hc.tmpfs or {}).items():
            extra = [o for o in (opts.split(",") if opts else []) if o]
            base = ["nosuid", "nodev"] if "exec" in extra else ["nosuid", "nodev", "noexec"]
            mounts.append({"destination": path, "type": "tmpfs", "source": "tmpfs", "options": [*base, *extra]})
        if hc.init:
            init = shutil.which("tini-static") or shutil.which("tini")
            if init is None:
                raise InvalidArgument("--init needs tini on the host (apt-get install tini)")
            mounts.append(
                {"destination": "/sbin/docker-init", "type": "bind", "source": init, "options": ["bind", "ro"]}
            )
            args = ["/sbin/docker-init", "--", *args]
        rlimits = tuple((f"RLIMIT_{x.name.upper()}", x.soft, x.hard) for x in hc.resources.ulimits or ())
        security = hc.security_opt or ()
        nnp = any(o in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true") for o in security)
        devices, device_rules = _devices(hc)
        size = hc.console_size
        inp = ocispec.SpecInput(
            process=ocispec.ProcessSpec(
                args=tuple(args),
                env=tuple(env),
                cwd=cfg.working_dir or "/",
                uid=u.uid,
                gid=u.gid,
                additional_gids=u.sgids,
                terminal=tty,
                capabilities=tuple(caps),
                no_new_privileges=nnp,
                rlimits=rlimits,
                oom_score_adj=hc.oom_score_adj or None,
                console_size=(size[0], size[1]) if len(size) == 2 and any(size) else None,
            ),
            rootfs=str(bundle / "rootfs"),
            readonly_rootfs=hc.readonly_rootfs,
            hostname=hostname,
            domainname=cfg.domainname,
            mounts=tuple(mounts),
            shm_size=hc.shm_size or 64 << 20,
            namespaces=namespaces,
            privileged=hc.privileged,
            devices=tuple(devices),
            device_rules=tuple(device_rules),
            resources=resources.oci(hc.resources),
            cgroups_path=self.paths.cgroup(c),
            sysctl=dict(hc.sysctls or {}),
            seccomp=self.seccomp_for(c, caps),
            masked_paths=hc.masked_paths,
            readonly_paths=hc.readonly_paths,
            cgroup_v2=self.cgroup_layout.version == "2",
        )
        return ocispec.build(inp)

    def _namespaces(self, c: Container) -> dict[str, str | None]:
        """Which namespaces the container makes (None) or joins (a path); absent: the host's."""
        hc = c.host_config
        ns: dict[str, str | None] = {"pid": None, "ipc": None, "uts": None, "mount": None, "network": None}
        net_mode = hc.network_mode or "default"
        if net_mode == "host":
            del ns["network"]
        elif net_mode.startswith("container:"):
            other = self.lookup(net_mode.split(":", 1)[1])
            if not other.state.running:
                raise Conflict(
                    f"cannot join network namespace of a non running container: container {other.id} is "
                    f"{other.state.status}"
                )
            ns["network"] = f"/proc/{other.state.pid}/ns/net"
        pid_mode = hc.pid_mode
        if pid_mode == "host":
            del ns["pid"]
        elif pid_mode.startswith("container:"):
            other = self.lookup(pid_mode.split(":", 1)[1])
            if not other.state.running:
                raise Conflict(f"cannot join PID namespace of a non running container: {other.id}")
            ns["pid"] = f"/proc/{other.state.pid}/ns/pid"
        ipc_mode = hc.ipc_mode or "private"
        if ipc_mode == "host":
            del ns["ipc"]
        elif ipc_mode.startswith("container:"):
            other = self.lookup(ipc_mode.split(":", 1)[1])
            ns["ipc"] = f"/proc/{other.state.pid}/ns/ipc"
        if hc.uts_mode == "host":
            del ns["uts"]
        if self.cgroup_layout.version == "2" and (hc.cgroupns_mode or "private") == "private":
            ns["cgroup"] = None
        return ns

    def available_capabilities(self) -> list[str]:
        """The capabilities this daemon holds: what ``ALL`` and ``--privileged`` grant."""
        if self._available_caps is None:
            _eff, perm, _inh = linux.capget()
            self._available_caps = [
                n for n, bit in ocispec.CAPABILITIES.items() if bit <= linux.last_cap() and perm & (1 << bit)
            ]
        return self._available_caps

    def seccomp_for(self, c: Container, caps: list[str]) -> dict[str, Any] | None:
        """The spec's seccomp section: Docker's default effect, a profile the client sent
        (``--security-opt seccomp=<json>``; the CLI reads the file), or none (``unconfined``,
        ``--privileged``)."""
        from ballena.runtime import seccomp

        if c.host_config.privileged:
            return None
        profile: dict[str, Any] = seccomp.default_profile()
        for opt in c.host_config.security_opt or ():
            key, sep, value = opt.partition("=")
            if not sep:
                key, _, value = opt.partition(":")
            if key != "seccomp":
                continue
            if value == "unconfined":
                return None
            if value in ("builtin", ""):
                continue
            try:
                profile = json.loads(value)
            except ValueError:
                raise InvalidArgument(
                    "Decoding seccomp profile failed: invalid JSON (give the profile's "
                    "content, as the docker CLI does with a file name)"
                ) from None
        return seccomp.resolve(profile, caps)

    def _fill_new_volumes(self, c: Container, points: list[MountPoint]) -> None:
        """A new, empty volume is first filled with what the image has at that path (Docker's
        copy-up), owners and modes kept."""
        assert self.volumes is not None
        for mp in points:
            if mp.type != "volume" or not mp.copy_image_data:
                continue
            data = self.volumes.store.data_dir(mp.name)
            try:
                if any(data.iterdir()):
                    continue
            except FileNotFoundError:
                continue
            overlay.copy_from_layers(self.layer_dirs(c), mp.destination, str(data))

    # -- files the container sees -------------------------------------------------------------------

    def layer_dirs(self, c: Container) -> list[str]:
        upper = self.images.snapshots.upper_dir(c.id)
        return [str(upper)] + [str(p) for p in self.images.snapshots.lower_dirs(c.id)]

    def read_in_container(self, c: Container, rel: str) -> str | None:
        """A text file of the container: through its root while it runs, else from its layers."""
        if c.state.running and c.state.pid:
            try:
                with open(f"/proc/{c.state.pid}/root/{rel}", errors="replace") as f:
                    return f.read()
            except OSError:
                pass
        found = overlay.lookup_in_layers(self.layer_dirs(c), rel)
        if found is None:
            return None
        try:
            with open(found, errors="replace") as f:
                return f.read()
        except OSError:
            return None

    def resolve_user(self, c: Container, user: str) -> users.ExecUser:
        """``user`` (name, uid, ``user:group``) as the container's /etc/passwd and /etc/group
        say. Raises InvalidArgument for a user it does not have."""
        passwd = self.read_in_container(c, "etc/passwd")
        group = self.read_in_container(c, "etc/group")
        extra = tuple(c.host_config.group_add or ())
        return users.resolve(user, passwd, group, additional=extra)

    def exec_process(self, c: Container, cfg: ExecConfig) -> dict[str, Any]:
        """The OCI process of an exec: the container's own (environment, capabilities,
        limits) with the exec's command, user, directory and terminal."""
        spec = json.loads((self.paths.state_dir(c.id) / "config.json").read_text())
        proc = spec["process"]
        u = self.resolve_user(c, cfg.user or c.config.user)
        env = ocispec.merge_env(list(proc.get("env") or []), list(cfg.env))
        if cfg.tty and not any(e.startswith("TERM=") for e in env):
            env.append("TERM=xterm")
        caps = proc.get("capabilities") or {}
        if cfg.privileged:
            every = self.available_capabilities()
            caps = {"bounding": every, "effective": every, "permitted": every}
        out: dict[str, Any] = {
            "terminal": cfg.tty,
            "user": {"uid": u.uid, "gid": u.gid, **({"additionalGids": list(u.sgids)} if u.sgids else {})},
            "args": list(cfg.cmd),
            "env": env,
            "cwd": cfg.working_dir or proc.get("cwd") or "/",
            "capabilities": caps,
            "noNewPrivileges": bool(proc.get("noNewPrivileges")),
        }
        if proc.get("rlimits"):
            out["rlimits"] = proc["rlimits"]
        if cfg.console_size:
            out["consoleSize"] = {"height": cfg.console_size[0], "width": cfg.console_size[1]}
        return out


def check_sysctls(values: Mapping[str, str], namespaces: Mapping[str, str | None]) -> None:
    """A sysctl may only be set in a namespace the container has to itself: anything else
    would change the host (or another container). Raises InvalidArgument with runc's words."""
    for key in values:
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if "ipc" not in namespaces or namespaces["ipc"]:
                raise InvalidArgument(f'sysctl "{key}" not allowed in host IPC namespace')
        elif key.startswith("net."):
            if "network" not in namespaces or namespaces["network"]:
                raise InvalidArgument(f'sysctl "{key}" not allowed in host network namespace')
        elif key in ("kernel.hostname", "kernel.domainname"):
            if "uts" not in namespaces:
                raise InvalidArgument(f'sysctl "{key}" not allowed in host UTS namespace')
        else:
            raise InvalidArgument(f'sysctl "{key}" is not in a separate kernel namespace')


def _device(path: str, inside: str) -> dict[str, Any]:
    st = os.stat(path)
    return {
        "path": inside,
        "type": "c" if stat.S_ISCHR(st.st_mode) else "b",
        "major": os.major(st.st_rdev),
        "minor": os.minor(st.st_rdev),
        "fileMode": stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
    }


def _devices(hc: HostConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The spec's devices and device cgroup rules: every host device for ``--privileged``,
    else ``--device`` and ``--device-cgroup-rule``. Raises InvalidArgument."""
    devices: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    if hc.privileged:
        for root, _dirs, files in os.walk("/dev"):
            if root.startswith(("/dev/pts", "/dev/shm", "/dev/mqueue")):
                continue
            for f in files:
                p = os.path.join(root, f)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
                    continue
                if p in ("/dev/console", "/dev/ptmx", "/dev/tty") or p.startswith("/dev/pts/"):
                    continue
                try:
                    devices.append(_device(p, p))
                except OSError:
                    continue
        return devices, rules
    for d in hc.resources.devices or ():
        host = d.path_on_host
        inside = d.path_in_container or host
        try:
            st = os.stat(host)
        except OSError:
            raise InvalidArgument(
                f'error gathering device information while adding custom device "{host}": no such file or directory'
            ) from None
        if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            raise InvalidArgument(
                f'error gathering device information while adding custom device "{host}": not a device node'
            )
        dev = _device(host, inside)
        devices.append(dev)
        rules.append(
            {
                "allow": True,
                "type": dev["type"],
                "major": dev["major"],
                "minor": dev["minor"],
                "access": d.cgroup_permissions or "rwm",
            }
        )
    for rule in hc.resources.device_cgroup_rules or ():
        m = re.match(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$", rule)
        if not m:
            raise InvalidArgument(f"invalid device cgroup format '{rule}'")
        rules.append(
            {
                "allow": True,
                "type": m.group(1),
                "major": -1 if m.group(2) == "*" else int(m.group(2)),
                "minor": -1 if m.group(3) == "*" else int(m.group(3)),
                "access": m.group(4),
            }
        )
    return devices, rules


# dockerd's defaults for a healthcheck's unset fields.
DEFAULT_PROBE_INTERVAL = 30 * 10**9
DEFAULT_PROBE_TIMEOUT = 30 * 10**9
DEFAULT_START_INTERVAL = 5 * 10**9
DEFAULT_PROBE_RETRIES = 3


def health_settings(c: Container, state_dir: Path) -> HealthSettings | None:
    """What the monitor probes: the test in exec form (``CMD-SHELL`` through the container's
    shell), with dockerd's defaults; None without a healthcheck or with ``NONE``."""
    hc = c.config.healthcheck
    if hc is None or not hc.test or hc.test[0] == "NONE":
        return None
    kind, args = hc.test[0], tuple(hc.test[1:])
    if kind == "CMD-SHELL":
        test = (*(c.config.shell or ("/bin/sh", "-c")), *args)
    elif kind == "CMD":
        test = args
    else:
        return None  # dockerd only warns of an unknown kind and checks nothing
    if not args:
        return None
    return HealthSettings(
        test=test,
        interval=hc.interval or DEFAULT_PROBE_INTERVAL,
        timeout=hc.timeout or DEFAULT_PROBE_TIMEOUT,
        start_period=hc.start_period,
        start_interval=hc.start_interval or DEFAULT_START_INTERVAL,
        retries=hc.retries or DEFAULT_PROBE_RETRIES,
        state_file=str(state_dir / "health.json"),
    )
