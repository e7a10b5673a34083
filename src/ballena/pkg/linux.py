"""Linux system calls Python 3.11 does not expose, through ctypes: mount, umount2, unshare,
setns, pivot_root, prctl, capget/capset, seccomp. Each raises OSError with the errno."""

from __future__ import annotations

import ctypes
import os
import select

# The C library this process already has loaded (ctypes.util.find_library would import
# subprocess, threading and tempfile, which every monitor forked from the zygote then pays for).
_libc = ctypes.CDLL(None, use_errno=True)

# clone(2)/unshare(2) flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

NAMESPACE_FLAGS = {
    "pid": CLONE_NEWPID,
    "network": CLONE_NEWNET,
    "mount": CLONE_NEWNS,
    "ipc": CLONE_NEWIPC,
    "uts": CLONE_NEWUTS,
    "user": CLONE_NEWUSER,
    "cgroup": CLONE_NEWCGROUP,
    "time": CLONE_NEWTIME,
}
NAMESPACE_PROC = {
    "pid": "pid",
    "network": "net",
    "mount": "mnt",
    "ipc": "ipc",
    "uts": "uts",
    "user": "user",
    "cgroup": "cgroup",
    "time": "time",
}

# mount(2) flags
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24

MNT_FORCE = 1
MNT_DETACH = 2

# prctl(2)
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_KEEPCAPS = 8
PR_SET_DUMPABLE = 4

_MACHINE = os.uname().machine
_SYSCALLS = {
    "x86_64": {"pivot_root": 155, "setns": 308, "seccomp": 317, "capget": 125, "capset": 126},
    "aarch64": {"pivot_root": 41, "setns": 268, "seccomp": 277, "capget": 90, "capset": 91},
}.get(_MACHINE, {})


def _check(ret: int, what: str) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    _check(
        _libc.mount(
            source.encode() if source is not None else None,
            target.encode(),
            fstype.encode() if fstype is not None else None,
            ctypes.c_ulong(flags),
            data.encode() if data is not None else None,
        ),
        f"mount {source or ''} on {target}",
    )


def umount(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), flags), f"umount {target}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.syscall(_SYSCALLS["setns"], fd, nstype), "setns")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(_SYSCALLS["pivot_root"], new_root.encode(), put_old.encode()), "pivot_root")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(
        _libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(arg4), ctypes.c_ulong(arg5)),
        "prctl",
    )


M_ARENA_MAX = -8


def limit_malloc_arenas(count: int) -> None:
    """glibc gives each thread that allocates an arena of its own (up to 8 per core); in a
    daemon whose thread pool touches everything, their free space is never given back."""
    try:
        _libc.mallopt(M_ARENA_MAX, count)
    except AttributeError:  # not glibc
        pass


def malloc_trim() -> None:
    """Give the heap's free pages back to the system (glibc); a no-op elsewhere."""
    try:
        _libc.malloc_trim(0)
    except AttributeError:
        pass


def setdomainname(name: str) -> None:
    """The NIS domain name of this UTS namespace (a syscall: it works under a read-only /proc/sys)."""
    data = name.encode()
    _check(_libc.setdomainname(data, len(data)), "setdomainname")


def set_process_name(name: str) -> None:
    buf = ctypes.create_string_buffer(name.encode()[:15])
    _libc.prctl(PR_SET_NAME, buf, 0, 0, 0)


# -- capabilities -----------------------------------------------------------------------------------

_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def capget(pid: int = 0) -> tuple[int, int, int]:
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, pid)
    data = (_CapData * 2)()
    _check(_libc.syscall(_SYSCALLS["capget"], ctypes.byref(hdr), ctypes.byref(data)), "capget")
    eff = data[0].effective | (data[1].effective << 32)
    perm = data[0].permitted | (data[1].permitted << 32)
    inh = data[0].inheritable | (data[1].inheritable << 32)
    return eff, perm, inh


def capset(effective: int, permitted: int, inheritable: int) -> None:
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    data[0].effective, data[1].effective = effective & 0xFFFFFFFF, effective >> 32
    data[0].permitted, data[1].permitted = permitted & 0xFFFFFFFF, permitted >> 32
    data[0].inheritable, data[1].inheritable = inheritable & 0xFFFFFFFF, inheritable >> 32
    _check(_libc.syscall(_SYSCALLS["capset"], ctypes.byref(hdr), ctypes.byref(data)), "capset")


_last_cap: list[int] = []


def last_cap() -> int:
    """The highest capability this kernel knows (read once: it cannot change while it runs)."""
    if not _last_cap:
        try:
            with open("/proc/sys/kernel/cap_last_cap") as f:
                _last_cap.append(int(f.read()))
        except OSError:
            _last_cap.append(40)
    return _last_cap[0]


# -- seccomp ----------------------------------------------------------------------------------------

SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
PR_SET_SECCOMP = 22


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def seccomp_load(program: bytes) -> None:
    """Install a classic BPF seccomp filter: packed ``struct sock_filter`` records (8 bytes each)."""
    if len(program) % 8:
        raise ValueError("a BPF program is a whole number of 8-byte instructions")
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.POINTER(_SockFilter)))
    _check(_libc.syscall(_SYSCALLS["seccomp"], SECCOMP_SET_MODE_FILTER, 0, ctypes.byref(prog)), "seccomp")


# -- terminals ----------------------------------------------------------------------------------------


def set_winsize(fd: int, rows: int, cols: int) -> None:
    import fcntl
    import struct
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def exits_within(pid: int, seconds: float) -> bool:
    """Whether process ``pid`` has exited, or does within ``seconds`` (blocks that long at
    most). A pidfd says so the moment the process is done, zombie or not; /proc's state would
    still say running while it is dying, its namespaces already gone."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(int(seconds * 1000)))
    finally:
        os.close(fd)
