"""Seccomp: profiles in Docker's JSON format, resolved for a container, compiled to classic BPF.

``default_profile()`` has the effect of Docker's default: an allow-list of ordinary system
calls; ``clone`` only without namespace flags; ``clone3`` answers ENOSYS (so libcs fall back to
``clone``); ``socket`` without AF_VSOCK; ``personality`` only for the harmless personas; and
groups of calls that need a capability (``mount``, ``setns``, ``unshare``, ``bpf``,
``perf_event_open``, ``reboot``, ``kexec_load``, ``init_module``, ``settimeofday``, ``ptrace``
helpers ...) only when the container holds it. Everything else fails with EPERM.

``resolve`` turns a Docker profile into the OCI ``linux.seccomp`` section for a container's
capabilities and architecture (what dockerd does before calling runc). ``compile_profile``
turns that section into the BPF program the native runtime loads; ``compiled`` packs and caches it
so the daemon compiles each distinct profile once and hands the bytes to the runtime.

Over 600 lines for a reason: half of it is the allow-list (data, in Docker's order, so that it
can be compared with moby's profiles/seccomp/default.json line by line).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterable, Mapping
from typing import Any

from ballena.errors import InvalidArgument
from ballena.pkg.platforms import go_arch
from ballena.runtime.syscalls import table

_SOCK_FILTER = struct.Struct("=HBBI")

# -- the default profile ------------------------------------------------------------------------

_ALLOWED = [
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "ptrace",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
]

_BY_CAPABILITY = {
    "CAP_SYS_ADMIN": [
        "bpf",
        "clone",
        "clone3",
        "fanotify_init",
        "fsconfig",
        "fsmount",
        "fsopen",
        "fspick",
        "lookup_dcookie",
        "mount",
        "mount_setattr",
        "move_mount",
        "name_to_handle_at",
        "open_tree",
        "perf_event_open",
        "quotactl",
        "quotactl_fd",
        "setdomainname",
        "sethostname",
        "setns",
        "syslog",
        "umount",
        "umount2",
        "unshare",
    ],
    "CAP_SYS_BOOT": ["reboot"],
    "CAP_SYS_CHROOT": ["chroot"],
    "CAP_SYS_MODULE": ["delete_module", "init_module", "finit_module"],
    "CAP_SYS_PACCT": ["acct"],
    "CAP_SYS_PTRACE": ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev"],
    "CAP_SYS_RAWIO": ["iopl", "ioperm"],
    "CAP_SYS_TIME": ["settimeofday", "stime", "clock_settime", "clock_settime64", "clock_adjtime", "clock_adjtime64"],
    "CAP_SYS_TTY_CONFIG": ["vhangup"],
    "CAP_SYS_NICE": ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"],
    "CAP_SYSLOG": ["syslog"],
    "CAP_BPF": ["bpf"],
    "CAP_PERFMON": ["perf_event_open"],
}

_CLONE_NAMESPACE_FLAGS = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
_EPERM, _ENOSYS = 1, 38


def default_profile() -> dict[str, Any]:
    syscalls: list[dict[str, Any]] = [{"names": list(_ALLOWED), "action": "SCMP_ACT_ALLOW"}]
    syscalls += [
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]}
        for v in (0, 8, 0x20000, 0x20008, 0xFFFFFFFF)
    ]
    syscalls.append(
        {
            "names": ["arch_prctl", "modify_ldt"],
            "action": "SCMP_ACT_ALLOW",
            "includes": {"arches": ["amd64", "x32", "386"]},
        }
    )
    syscalls.append(
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]}
    )  # no AF_VSOCK
    syscalls.append(
        {
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": _CLONE_NAMESPACE_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
            "excludes": {"caps": ["CAP_SYS_ADMIN"]},
        }
    )
    syscalls.append(
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": _ENOSYS, "excludes": {"caps": ["CAP_SYS_ADMIN"]}}
    )
    for cap, names in _BY_CAPABILITY.items():
        syscalls.append({"names": names, "action": "SCMP_ACT_ALLOW", "includes": {"caps": [cap]}})
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": _EPERM,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        ],
        "syscalls": syscalls,
    }


# -- resolution ---------------------------------------------------------------------------------


def resolve(profile: Mapping[str, Any], caps: Iterable[str], machine: str | None = None) -> dict[str, Any]:
    """The OCI seccomp section of ``profile`` for a container holding ``caps``.

    Raises InvalidArgument for a profile that is not in Docker's format.
    """
    if not isinstance(profile, Mapping) or "defaultAction" not in profile:
        raise InvalidArgument("invalid seccomp profile: defaultAction is required")
    machine = machine or os.uname().machine
    arch = go_arch(machine)
    held = set(caps)
    rules = []
    for rule in profile.get("syscalls") or []:
        inc = rule.get("includes") or {}
        exc = rule.get("excludes") or {}
        if inc.get("caps") and not set(inc["caps"]) <= held:
            continue
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if exc.get("caps") and set(exc["caps"]) & held:
            continue
        if exc.get("arches") and arch in exc["arches"]:
            continue
        names = list(rule.get("names") or ([rule["name"]] if rule.get("name") else []))
        out = {"names": names, "action": rule.get("action", "SCMP_ACT_ALLOW")}
        if rule.get("args"):
            out["args"] = rule["args"]
        if rule.get("errnoRet") is not None:
            out["errnoRet"] = rule["errnoRet"]
        rules.append(out)
    section: dict[str, Any] = {"defaultAction": profile["defaultAction"], "syscalls": rules}
    if profile.get("defaultErrnoRet") is not None:
        section["defaultErrnoRet"] = profile["defaultErrnoRet"]
    if profile.get("architectures"):
        section["architectures"] = profile["architectures"]
    else:
        section["architectures"] = [a["architecture"] for a in profile.get("archMap") or []]
    return section


# -- BPF ------------------------------------------------------------------------------------------

_LD_W_ABS, _JEQ, _JGE, _JGT, _JSET, _RET, _AND, _JA = 0x20, 0x15, 0x35, 0x25, 0x45, 0x06, 0x54, 0x05
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_BIT = 0x40000000
_RET_ALLOW = 0x7FFF0000


def action_value(action: str, errno: int | None) -> int:
    if action == "SCMP_ACT_ALLOW":
        return _RET_ALLOW
    if action == "SCMP_ACT_ERRNO":
        return 0x00050000 | ((errno if errno is not None else _EPERM) & 0xFFFF)
    if action in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return 0x00000000
    if action == "SCMP_ACT_KILL_PROCESS":
        return 0x80000000
    if action == "SCMP_ACT_TRAP":
        return 0x00030000
    if action == "SCMP_ACT_LOG":
        return 0x7FFC0000
    if action == "SCMP_ACT_TRACE":
        return 0x7FF00000 | ((errno or 0) & 0xFFFF)
    raise InvalidArgument(f"invalid seccomp action {action!r}")


class _Asm:
    """Instructions with symbolic forward jumps, resolved when the program is done."""

    def __init__(self) -> None:
        self.code: list[list[Any]] = []
        self.labels: dict[str, int] = {}
        self._n = 0

    def label(self) -> str:
        self._n += 1
        return f"L{self._n}"

    def here(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def op(self, code: int, k: int, jt: int | str = 0, jf: int | str = 0) -> None:
        self.code.append([code, jt, jf, k & 0xFFFFFFFF])

    def assemble(self) -> list[tuple[int, int, int, int]]:
        out = []
        for i, (code, jt, jf, k) in enumerate(self.code):

            def rel(target: int | str, i: int = i) -> int:
                if isinstance(target, int):
                    return target
                off = self.labels[target] - i - 1
                if not 0 <= off <= 255:
                    raise InvalidArgument("seccomp profile too large to compile (jump out of range)")
                return off

            if code == _JA:
                out.append((code, 0, 0, self.labels[jt] - i - 1 if isinstance(jt, str) else k))
            else:
                out.append((code, rel(jt), rel(jf), k))
        if len(out) > 4096:
            raise InvalidArgument("seccomp profile too large: more than 4096 BPF instructions")
        return out


def _arg_check(asm: _Asm, arg: Mapping[str, Any], fail: str) -> None:
    """Fall through when the condition holds; jump to ``fail`` when it does not."""
    index = int(arg["index"])
    value = int(arg.get("value", 0)) & 0xFFFFFFFFFFFFFFFF
    two = int(arg.get("valueTwo", 0)) & 0xFFFFFFFFFFFFFFFF
    op = arg.get("op", "SCMP_CMP_EQ")
    lo_off, hi_off = 16 + 8 * index, 20 + 8 * index
    v_lo, v_hi = value & 0xFFFFFFFF, value >> 32
    if op in ("SCMP_CMP_EQ", "SCMP_CMP_NE"):
        ok = asm.label()
        if op == "SCMP_CMP_EQ":
            asm.op(_LD_W_ABS, hi_off)
            asm.op(_JEQ, v_hi, 0, fail)
            asm.op(_LD_W_ABS, lo_off)
            asm.op(_JEQ, v_lo, 0, fail)
        else:
            asm.op(_LD_W_ABS, hi_off)
            asm.op(_JEQ, v_hi, 0, ok)
            asm.op(_LD_W_ABS, lo_off)
            asm.op(_JEQ, v_lo, fail, 0)
            asm.here(ok)
        return
    if op == "SCMP_CMP_MASKED_EQ":
        t_lo, t_hi = two & 0xFFFFFFFF, two >> 32
        asm.op(_LD_W_ABS, hi_off)
        asm.op(_AND, v_hi)
        asm.op(_JEQ, t_hi, 0, fail)
        asm.op(_LD_W_ABS, lo_off)
        asm.op(_AND, v_lo)
        asm.op(_JEQ, t_lo, 0, fail)
        return
    # Unsigned 64-bit orderings: decide on the high word, then the low one.
    ok = asm.label()
    asm.op(_LD_W_ABS, hi_off)
    if op in ("SCMP_CMP_GT", "SCMP_CMP_GE"):
        asm.op(_JGT, v_hi, ok, 0)
        asm.op(_JEQ, v_hi, 0, fail)
        asm.op(_LD_W_ABS, lo_off)
        asm.op(_JGT if op == "SCMP_CMP_GT" else _JGE, v_lo, 0, fail)
    elif op in ("SCMP_CMP_LT", "SCMP_CMP_LE"):
        asm.op(_JGT, v_hi, fail, 0)
        asm.op(_JEQ, v_hi, 0, ok)
        asm.op(_LD_W_ABS, lo_off)
        asm.op(_JGE if op == "SCMP_CMP_LT" else _JGT, v_lo, fail, 0)
    else:
        raise InvalidArgument(f"invalid seccomp operator {op!r}")
    asm.here(ok)


def compile_profile(section: Mapping[str, Any], machine: str | None = None) -> list[tuple[int, int, int, int]]:
    """The OCI seccomp section as a BPF program for this machine's native architecture.

    Calls from another ABI (32-bit x86, x32) get the default action: the allow-list is written
    for the native system call numbers.
    """
    machine = machine or os.uname().machine
    numbers = table(machine)
    if not numbers or machine not in _AUDIT_ARCH:
        raise InvalidArgument(f"seccomp is not supported on {machine}")
    default = action_value(section.get("defaultAction", "SCMP_ACT_ERRNO"), section.get("defaultErrnoRet"))
    by_nr: dict[int, list[Mapping[str, Any]]] = {}
    for rule in section.get("syscalls") or []:
        for name in rule.get("names") or []:
            nr = numbers.get(name)
            if nr is not None:
                by_nr.setdefault(nr, []).append(rule)
    asm = _Asm()
    deny = asm.label()
    # Conditional jumps reach 255 instructions at most: far targets go through a ``ja``.
    asm.op(_LD_W_ABS, 4)
    asm.op(_JEQ, _AUDIT_ARCH[machine], 1, 0)
    asm.op(_JA, 0, deny)
    asm.op(_LD_W_ABS, 0)
    if machine == "x86_64":
        asm.op(_JGE, _X32_BIT, 0, 1)
        asm.op(_JA, 0, deny)
    for nr in sorted(by_nr):
        rules = by_nr[nr]
        next_syscall = asm.label()
        asm.op(_JEQ, nr, 0, next_syscall)
        for rule in rules:
            ret = action_value(rule.get("action", "SCMP_ACT_ALLOW"), rule.get("errnoRet"))
            args = rule.get("args") or []
            if not args:
                asm.op(_RET, ret)
                break
            fail = asm.label()
            for arg in args:
                _arg_check(asm, arg, fail)
            asm.op(_RET, ret)
            asm.here(fail)
        else:
            asm.op(_RET, default)
        asm.here(next_syscall)
        asm.op(_LD_W_ABS, 0)  # conditions clobbered A; reload the number for the next test
    asm.here(deny)
    asm.op(_RET, default)
    return asm.assemble()


def pack(program: list[tuple[int, int, int, int]]) -> bytes:
    """A program as the kernel reads it: ``struct sock_filter {u16 code; u8 jt, jf; u32 k}``."""
    return b"".join(_SOCK_FILTER.pack(code, jt, jf, k) for code, jt, jf, k in program)


_compiled: dict[str, bytes] = {}


def compiled(section: Mapping[str, Any]) -> bytes:
    """``compile_profile`` packed, remembered per section: containers with the same
    capabilities share one profile, and compiling it costs ~2 ms that a start should not pay."""
    key = json.dumps(section, sort_keys=True)
    program = _compiled.get(key)
    if program is None:
        if len(_compiled) > 64:
            _compiled.clear()
        program = _compiled[key] = pack(compile_profile(section))
    return program
