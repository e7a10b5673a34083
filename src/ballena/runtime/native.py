"""The native OCI runtime: the steps a container's first process takes, from a forked child of
its monitor to ``execve`` of the user's command. They follow runc's init:

1. join or create namespaces (the PID namespace was made by the monitor before forking);
2. make ``/`` a slave mount, bind the root filesystem onto itself, do the spec's mounts;
3. create ``/dev`` devices and links, ``pivot_root`` into the new root, detach the old one;
4. sysctls, masked and read-only paths, read-only root, hostname;
5. terminal: a pty from the container's own devpts, its master sent back to the monitor;
6. rlimits, groups/gid/uid, capabilities, no_new_privs, seccomp;
7. report "ready", wait for "go", ``execve``. The sync socket is close-on-exec: the monitor
   reads EOF when exec succeeded and an error message when it did not.

``exec_process`` does the same for ``docker exec``, joining the namespaces of a running
container instead. Everything here runs in a single-threaded child, so fork-only rules hold.
"""

from __future__ import annotations

# Everything the init path uses is imported here: after pivot_root the package files are gone.
import fcntl
import os
import resource
import socket
import stat
import struct
import termios
from collections.abc import Mapping
from typing import Any, NoReturn

from ballena.errors import RuntimeFailure, exit_code_for
from ballena.pkg import framing, linux, trace
from ballena.pkg.securejoin import secure_join
from ballena.runtime import seccomp
from ballena.runtime.spec import CAPABILITIES

_FLAGS: dict[str, tuple[bool, int]] = {
    "async": (True, linux.MS_SYNCHRONOUS),
    "atime": (True, linux.MS_NOATIME),
    "bind": (False, linux.MS_BIND),
    "defaults": (False, 0),
    "dev": (True, linux.MS_NODEV),
    "diratime": (True, linux.MS_NODIRATIME),
    "dirsync": (False, linux.MS_DIRSYNC),
    "exec": (True, linux.MS_NOEXEC),
    "mand": (False, linux.MS_MANDLOCK),
    "noatime": (False, linux.MS_NOATIME),
    "nodev": (False, linux.MS_NODEV),
    "nodiratime": (False, linux.MS_NODIRATIME),
    "noexec": (False, linux.MS_NOEXEC),
    "nosuid": (False, linux.MS_NOSUID),
    "rbind": (False, linux.MS_BIND | linux.MS_REC),
    "relatime": (False, linux.MS_RELATIME),
    "remount": (False, linux.MS_REMOUNT),
    "ro": (False, linux.MS_RDONLY),
    "rw": (True, linux.MS_RDONLY),
    "strictatime": (False, linux.MS_STRICTATIME),
    "suid": (True, linux.MS_NOSUID),
    "sync": (False, linux.MS_SYNCHRONOUS),
    "nosymfollow": (False, linux.MS_NOSYMFOLLOW),
}
_PROPAGATION = {
    "private": linux.MS_PRIVATE,
    "rprivate": linux.MS_PRIVATE | linux.MS_REC,
    "shared": linux.MS_SHARED,
    "rshared": linux.MS_SHARED | linux.MS_REC,
    "slave": linux.MS_SLAVE,
    "rslave": linux.MS_SLAVE | linux.MS_REC,
    "unbindable": linux.MS_UNBINDABLE,
    "runbindable": linux.MS_UNBINDABLE | linux.MS_REC,
}
_DEFAULT_DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))
_DEV_LINKS = (
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
)
_RLIMITS = {name: getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_")}


# -- mounts ------------------------------------------------------------------------------------------


def parse_mount_options(options: list[str]) -> tuple[int, int, str]:
    """(flags, propagation flags, data string) from OCI mount options."""
    flags = 0
    prop = 0
    data: list[str] = []
    for opt in options:
        if opt in _FLAGS:
            clear, f = _FLAGS[opt]
            flags = flags & ~f if clear else flags | f
        elif opt in _PROPAGATION:
            prop |= _PROPAGATION[opt]
        else:
            data.append(opt)
    return flags, prop, ",".join(data)


def _ensure_target(target: str, *, is_dir: bool) -> None:
    if os.path.lexists(target):
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if is_dir:
        os.mkdir(target, 0o755)
    else:
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o755))


def do_mount(rootfs: str, m: Mapping[str, Any], *, cgroup_dirs: Mapping[str, str] | None = None) -> None:
    dest = m["destination"]
    target = secure_join(rootfs, dest)
    mtype = m.get("type") or ""
    source = m.get("source") or ""
    flags, prop, data = parse_mount_options(list(m.get("options") or []))
    if mtype == "cgroup":
        _mount_cgroup_v1(rootfs, target, flags, cgroup_dirs or {})
        return
    if flags & linux.MS_BIND or mtype == "bind":
        flags |= linux.MS_BIND
        is_dir = os.path.isdir(source)
        _ensure_target(target, is_dir=is_dir)
        if os.path.islink(target):
            raise RuntimeFailure(f"mount destination {dest} is a symlink that escapes resolution")
        linux.mount(source, target, None, flags & (linux.MS_BIND | linux.MS_REC))
        remount = flags & ~(linux.MS_BIND | linux.MS_REC | linux.MS_REMOUNT)
        if remount:
            linux.mount(None, target, None, linux.MS_BIND | linux.MS_REMOUNT | remount)
    else:
        _ensure_target(target, is_dir=True)
        linux.mount(source or mtype, target, mtype, flags, data or None)
    if prop:
        linux.mount(None, target, None, prop)


def _mount_cgroup_v1(rootfs: str, target: str, flags: int, dirs: Mapping[str, str]) -> None:
    """cgroup v1 without a cgroup namespace: a tmpfs with each controller's own directory of
    this container bind-mounted at its name (what runc does), read-only unless privileged."""
    _ensure_target(target, is_dir=True)
    linux.mount("tmpfs", target, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC, "mode=755")
    for name, host_dir in dirs.items():
        if not os.path.isdir(host_dir):
            continue
        sub = os.path.join(target, name)
        os.makedirs(sub, exist_ok=True)
        linux.mount(host_dir, sub, None, linux.MS_BIND | linux.MS_REC)
        linux.mount(
            None,
            sub,
            None,
            linux.MS_BIND
            | linux.MS_REMOUNT
            | (flags & linux.MS_RDONLY)
            | linux.MS_NOSUID
            | linux.MS_NODEV
            | linux.MS_NOEXEC,
        )
    if flags & linux.MS_RDONLY:
        linux.mount(
            None,
            target,
            None,
            linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC,
            "mode=755",
        )


def _create_devices(rootfs: str, devices: list[Mapping[str, Any]]) -> None:
    dev = secure_join(rootfs, "/dev")
    old = os.umask(0)
    try:
        for name, major, minor in _DEFAULT_DEVICES:
            path = os.path.join(dev, name)
            if not os.path.lexists(path):
                os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
        for d in devices:
            path = secure_join(rootfs, d["path"])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if os.path.lexists(path):
                os.unlink(path)
            kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[d.get("type", "c")]
            os.mknod(
                path, kind | (d.get("fileMode") or 0o666) & 0o7777, os.makedev(d.get("major", 0), d.get("minor", 0))
            )
            os.chown(path, d.get("uid", 0), d.get("gid", 0))
        for name, target in _DEV_LINKS:
            path = os.path.join(dev, name)
            if not os.path.lexists(path):
                os.symlink(target, path)
        if os.path.exists("/proc/kcore") and not os.path.lexists(os.path.join(dev, "core")):
            os.symlink("/proc/kcore", os.path.join(dev, "core"))
    finally:
        os.umask(old)


def _loopback_up() -> None:
    """A new network namespace has ``lo`` down; runc brings it up, so do we (SIOCSIFFLAGS)."""
    siocsifflags, iff_up_loopback_running = 0x8914, 0x1 | 0x8 | 0x40
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        fcntl.ioctl(s.fileno(), siocsifflags, struct.pack("16sH14x", b"lo", iff_up_loopback_running))
    finally:
        s.close()


def _pivot_root(rootfs: str) -> None:
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY)
    new = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY)
    try:
        os.fchdir(new)
        linux.pivot_root(".", ".")
        os.fchdir(old)
        linux.mount(None, ".", None, linux.MS_SLAVE | linux.MS_REC)
        linux.umount(".", linux.MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(old)
        os.close(new)


def _mask_paths(paths: list[str]) -> None:
    for p in paths:
        try:
            if os.path.isdir(p) and not os.path.islink(p):
                linux.mount("tmpfs", p, "tmpfs", linux.MS_RDONLY)
            else:
                linux.mount("/dev/null", p, None, linux.MS_BIND)
        except FileNotFoundError:
            continue
        except OSError as e:
            if e.errno in (2, 20):  # ENOENT, ENOTDIR
                continue
            raise


def _readonly_paths(paths: list[str]) -> None:
    for p in paths:
        try:
            linux.mount(p, p, None, linux.MS_BIND | linux.MS_REC)
            linux.mount(
                None,
                p,
                None,
                linux.MS_BIND
                | linux.MS_REMOUNT
                | linux.MS_RDONLY
                | linux.MS_REC
                | linux.MS_NOSUID
                | linux.MS_NODEV
                | linux.MS_NOEXEC,
            )
        except OSError as e:
            if e.errno == 2:
                continue
            raise


def _sysctls(values: Mapping[str, str]) -> None:
    for key, value in values.items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise RuntimeFailure(f"write sysctl key {key}: {e.strerror}") from None


# -- the process ------------------------------------------------------------------------------------


def find_executable(arg0: str, env: list[str]) -> str:
    """Resolve the command as execve will see it. Raises RuntimeFailure with runc's wording and
    the exit status Docker gives it (127 not found, 126 not executable)."""
    if "/" in arg0:
        try:
            st = os.stat(arg0)
        except FileNotFoundError:
            raise RuntimeFailure(f'exec: "{arg0}": stat {arg0}: no such file or directory', 127) from None
        if stat.S_ISDIR(st.st_mode):
            raise RuntimeFailure(f'exec: "{arg0}": is a directory', 126) from None
        return arg0
    path = next(
        (e[5:] for e in env if e.startswith("PATH=")), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    )
    for d in path.split(":"):
        candidate = os.path.join(d or ".", arg0)
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return candidate
    raise RuntimeFailure(f'exec: "{arg0}": executable file not found in $PATH', 127)


def _set_rlimits(rlimits: list[Mapping[str, Any]]) -> None:
    for r in rlimits:
        kind = _RLIMITS.get(r["type"])
        if kind is None:
            raise RuntimeFailure(f"unknown rlimit {r['type']}")
        try:
            resource.setrlimit(kind, (int(r["soft"]), int(r["hard"])))
        except (ValueError, OSError) as e:
            raise RuntimeFailure(f"setrlimit {r['type']}: {e}") from None


def _caps_mask(names: list[str] | None) -> int:
    mask = 0
    for n in names or []:
        bit = CAPABILITIES.get(n)
        if bit is not None and bit <= linux.last_cap():
            mask |= 1 << bit
    return mask


def _apply_identity(process: Mapping[str, Any]) -> None:
    """Bounding set, groups, gid, uid, then capabilities: runc's finalizeNamespace."""
    caps = process.get("capabilities") or {}
    bounding = _caps_mask(caps.get("bounding"))
    for bit in range(linux.last_cap() + 1):
        if not bounding & (1 << bit):
            try:
                linux.prctl(linux.PR_CAPBSET_DROP, bit)
            except OSError:
                pass
    user = process.get("user") or {}
    uid, gid = int(user.get("uid", 0)), int(user.get("gid", 0))
    linux.prctl(linux.PR_SET_KEEPCAPS, 1)
    os.setgroups([int(g) for g in user.get("additionalGids") or []])
    os.setgid(gid)
    os.setuid(uid)
    linux.prctl(linux.PR_SET_KEEPCAPS, 0)
    eff = _caps_mask(caps.get("effective"))
    perm = _caps_mask(caps.get("permitted"))
    inh = _caps_mask(caps.get("inheritable"))
    linux.capset(eff, perm, inh)
    for name in caps.get("ambient") or []:
        linux.prctl(linux.PR_CAP_AMBIENT, linux.PR_CAP_AMBIENT_RAISE, CAPABILITIES[name])


def _load_seccomp(spec_seccomp: Mapping[str, Any] | None, program: bytes | None) -> None:
    """Install the given compiled filter, else compile the spec's section (if any)."""
    if program is None and spec_seccomp:
        program = seccomp.compiled(spec_seccomp)
    if program is not None:
        linux.seccomp_load(program)


def _terminal(sync: socket.socket, process: Mapping[str, Any], *, console: bool) -> None:
    """A pty of the container's own devpts; the slave becomes stdio, the master goes to the monitor."""
    master, slave = os.openpty()
    size = process.get("consoleSize")
    if size:
        linux.set_winsize(master, int(size.get("height", 24)), int(size.get("width", 80)))
    if console:
        try:
            name = os.ttyname(slave)
            console_path = "/dev/console"
            if not os.path.lexists(console_path):
                os.close(os.open(console_path, os.O_CREAT | os.O_WRONLY, 0o600))
            linux.mount(name, console_path, None, linux.MS_BIND)
        except OSError:
            pass
    framing.send_json(sync, {"terminal": True}, [master])
    os.close(master)
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def _finish(
    sync: socket.socket,
    process: Mapping[str, Any],
    seccomp_spec: Mapping[str, Any] | None,
    *,
    wait_for_go: bool,
    seccomp_program: bytes | None,
) -> NoReturn:
    """Steps shared by init and exec after the filesystem is in place: resolve the command,
    identity, no_new_privs, seccomp, then exec and report."""
    env = list(process.get("env") or [])
    args = list(process.get("args") or [])
    if not args:
        raise RuntimeFailure("no command specified")
    cwd = process.get("cwd") or "/"
    if not os.path.isdir(cwd):
        try:
            os.makedirs(cwd, 0o755, exist_ok=True)
        except OSError as e:
            raise RuntimeFailure(f'chdir to cwd ("{cwd}") set in config.json failed: {e.strerror}') from None
    _set_rlimits(list(process.get("rlimits") or []))
    if process.get("oomScoreAdj") is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(process["oomScoreAdj"]))
    nnp = bool(process.get("noNewPrivileges"))
    if nnp:
        linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
    else:
        _load_seccomp(seccomp_spec, seccomp_program)  # while CAP_SYS_ADMIN still allows it, as runc does
    trace.mark("init: seccomp")
    _apply_identity(process)
    trace.mark("init: capabilities and user")
    os.chdir(cwd)
    executable = find_executable(args[0], env)
    os.umask(0o022)
    if wait_for_go:
        framing.send_json(sync, {"ready": True})
        msg, _ = framing.recv_json(sync)
        if not msg or not msg.get("go"):
            os._exit(0)  # the monitor gave up on us
    if nnp:
        _load_seccomp(seccomp_spec, seccomp_program)
    trace.mark("init: exec")
    try:
        os.execve(executable, args, dict(_env_pairs(env)))
    except OSError as e:
        code = 126 if e.errno in (13, 21, 8) else 127
        raise RuntimeFailure(f'exec: "{args[0]}": {os.strerror(e.errno or 0).lower()}', code) from None
    raise AssertionError("unreachable")


def _env_pairs(env: list[str]) -> list[tuple[str, str]]:
    out = []
    for e in env:
        k, _, v = e.partition("=")
        if k:
            out.append((k, v))
    return out


def init(
    spec: Mapping[str, Any],
    *,
    sync: socket.socket,
    stdio: tuple[int, int, int] | None,
    cgroup_dirs: Mapping[str, str],
    seccomp_program: bytes | None = None,
) -> NoReturn:
    """Become the container's first process (call in a fresh child; never returns).

    ``seccomp_program`` is the spec's seccomp section already compiled (``seccomp.compiled``);
    without it the section is compiled here."""
    try:
        _init(spec, sync=sync, stdio=stdio, cgroup_dirs=cgroup_dirs, seccomp_program=seccomp_program)
    except BaseException as e:
        _report_and_exit(sync, e)
    os._exit(1)


def _report_and_exit(sync: socket.socket, e: BaseException) -> NoReturn:
    message = str(e) if isinstance(e, RuntimeFailure | OSError) else f"{type(e).__name__}: {e}"
    # The status Docker records: the one a step chose, else what the words say (moby decides
    # from the words too).
    code = e.exit_code if isinstance(e, RuntimeFailure) and e.exit_code != 128 else exit_code_for(message)
    try:
        framing.send_json(sync, {"error": message, "code": code})
    except OSError:
        pass
    os._exit(code)


def _init(
    spec: Mapping[str, Any],
    *,
    sync: socket.socket,
    stdio: tuple[int, int, int] | None,
    cgroup_dirs: Mapping[str, str],
    seccomp_program: bytes | None,
) -> None:
    trace.mark("init: forked")
    process = spec["process"]
    lx = spec.get("linux") or {}
    if stdio is not None:
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
    os.setsid()
    flags = 0
    for ns in lx.get("namespaces") or []:
        kind = ns["type"]
        if kind in ("pid", "user"):
            continue
        flag = linux.NAMESPACE_FLAGS[kind]
        if ns.get("path"):
            fd = os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC)
            try:
                linux.setns(fd, flag)
            except OSError as e:
                raise RuntimeFailure(f"joining {kind} namespace {ns['path']}: {e.strerror}") from None
            finally:
                os.close(fd)
        else:
            flags |= flag
    if flags:
        linux.unshare(flags)
    if flags & linux.CLONE_NEWNET:
        _loopback_up()
    trace.mark("init: namespaces")
    # The monitor lets the daemon wire the network now, while we mount (about 3 ms earlier).
    framing.send_json(sync, {"namespaces": True})
    rootfs = spec["root"]["path"]
    linux.mount(None, "/", None, linux.MS_SLAVE | linux.MS_REC)
    linux.mount(rootfs, rootfs, None, linux.MS_BIND | linux.MS_REC)
    dev_tmpfs = False
    for m in spec.get("mounts") or []:
        try:
            do_mount(rootfs, m, cgroup_dirs=cgroup_dirs)
        except OSError as e:
            raise RuntimeFailure(
                f'error mounting "{m.get("source")}" to rootfs at "{m["destination"]}": {e.strerror or e}'
            ) from None
        if m["destination"] == "/dev" and m.get("type") == "tmpfs":
            dev_tmpfs = True
    if dev_tmpfs:
        _create_devices(rootfs, list(lx.get("devices") or []))
    trace.mark("init: mounts")
    _pivot_root(rootfs)
    if lx.get("sysctl"):
        _sysctls(lx["sysctl"])
    _readonly_paths(list(lx.get("readonlyPaths") or []))
    _mask_paths(list(lx.get("maskedPaths") or []))
    if spec["root"].get("readonly"):
        linux.mount(None, "/", None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_REC)
    # Only in a UTS namespace of its own: with --uts=host these names are the host's.
    own_uts = any(ns["type"] == "uts" and not ns.get("path") for ns in lx.get("namespaces") or [])
    if own_uts and spec.get("hostname"):
        socket.sethostname(spec["hostname"])
    if own_uts and spec.get("domainname"):
        linux.setdomainname(spec["domainname"])
    trace.mark("init: pivot_root, masked and read-only paths")
    if process.get("terminal"):
        _terminal(sync, process, console=True)
    _finish(sync, process, lx.get("seccomp"), wait_for_go=True, seccomp_program=seccomp_program)


def exec_process(
    process: Mapping[str, Any],
    *,
    target_pid: int,
    spec: Mapping[str, Any],
    sync: socket.socket,
    stdio: tuple[int, int, int] | None,
    cgroup_procs: list[str],
    seccomp_program: bytes | None = None,
) -> NoReturn:
    """Become a process in the running container whose first process is ``target_pid`` (host PID)."""
    try:
        if stdio is not None:
            for target, fd in enumerate(stdio):
                os.dup2(fd, target)
        os.setsid()
        for path in cgroup_procs:
            try:
                with open(path, "w") as f:
                    f.write("0")
            except OSError:
                pass
        lx = spec.get("linux") or {}
        order = ("ipc", "uts", "net", "cgroup", "mnt")
        fds = []
        for name in order:
            path = f"/proc/{target_pid}/ns/{name}"
            try:
                if os.readlink(path) == os.readlink(f"/proc/self/ns/{name}"):
                    continue
                fds.append((name, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
            except FileNotFoundError:
                continue
        for _name, fd in fds:
            linux.setns(fd, 0)
            os.close(fd)
        if process.get("terminal"):
            _terminal(sync, process, console=False)
        _finish(sync, process, lx.get("seccomp"), wait_for_go=False, seccomp_program=seccomp_program)
    except BaseException as e:
        _report_and_exit(sync, e)
    os._exit(1)
