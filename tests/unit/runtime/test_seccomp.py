"""The seccomp compiler, checked by running its programs: a classic-BPF interpreter (the kernel's
rules for the instructions the compiler emits) evaluates each filter on chosen system calls."""

from __future__ import annotations

import struct

import pytest

from ballena.errors import InvalidArgument
from ballena.runtime import seccomp
from ballena.runtime.syscalls import table

X86_64 = "x86_64"
AUDIT_X86_64, AUDIT_I386 = 0xC000003E, 0x40000003
ALLOW, EPERM, ENOSYS = 0x7FFF0000, 0x00050001, 0x00050026
NR = table(X86_64)


def run_bpf(
    program: list[tuple[int, int, int, int]], nr: int, args: tuple[int, ...] = (), arch: int = AUDIT_X86_64
) -> int:
    """What the kernel would return for ``seccomp_data{nr, arch, ip=0, args}``."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, *(list(args) + [0] * (6 - len(args))))
    a, pc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        pc += 1
        if code == 0x20:  # ld [k]
            a = struct.unpack_from("<I", data, k)[0]
        elif code == 0x54:  # and #k
            a &= k
        elif code == 0x05:  # ja
            pc += k
        elif code in (0x15, 0x25, 0x35, 0x45):  # jeq, jgt, jge, jset
            taken = {0x15: a == k, 0x25: a > k, 0x35: a >= k, 0x45: bool(a & k)}[code]
            pc += jt if taken else jf
        elif code == 0x06:  # ret #k
            return k
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")


@pytest.fixture(scope="module")
def default_program() -> list[tuple[int, int, int, int]]:
    section = seccomp.resolve(seccomp.default_profile(), ["CAP_CHOWN", "CAP_KILL"], machine=X86_64)
    return seccomp.compile_profile(section, machine=X86_64)


@pytest.mark.parametrize("name", ["read", "write", "openat", "execve", "exit_group", "futex", "epoll_wait", "clone"])
def test_ordinary_calls_are_allowed(default_program: list[tuple[int, int, int, int]], name: str) -> None:
    assert run_bpf(default_program, NR[name]) == ALLOW


@pytest.mark.parametrize("name", ["mount", "reboot", "unshare", "setns", "kexec_load", "init_module", "bpf", "acct"])
def test_privileged_calls_fail_with_eperm(default_program: list[tuple[int, int, int, int]], name: str) -> None:
    assert run_bpf(default_program, NR[name]) == EPERM


def test_clone_with_namespace_flags_is_refused(default_program: list[tuple[int, int, int, int]]) -> None:
    clone_newns, clone_newnet = 0x00020000, 0x40000000
    assert run_bpf(default_program, NR["clone"], (0x01200011,)) == ALLOW  # fork()'s flags
    assert run_bpf(default_program, NR["clone"], (clone_newns,)) == EPERM
    assert run_bpf(default_program, NR["clone"], (clone_newnet | 0x11,)) == EPERM


def test_clone3_says_enosys_so_libcs_fall_back(default_program: list[tuple[int, int, int, int]]) -> None:
    assert run_bpf(default_program, NR["clone3"]) == ENOSYS


@pytest.mark.parametrize(("persona", "verdict"), [(0, ALLOW), (8, ALLOW), (0xFFFFFFFF, ALLOW), (0x0400000, EPERM)])
def test_personality_only_for_harmless_personas(
    default_program: list[tuple[int, int, int, int]], persona: int, verdict: int
) -> None:
    assert run_bpf(default_program, NR["personality"], (persona,)) == verdict


@pytest.mark.parametrize(("family", "verdict"), [(2, ALLOW), (10, ALLOW), (1, ALLOW), (40, EPERM)])
def test_socket_but_vsock(default_program: list[tuple[int, int, int, int]], family: int, verdict: int) -> None:
    assert run_bpf(default_program, NR["socket"], (family,)) == verdict


def test_other_architectures_and_x32_get_the_default(default_program: list[tuple[int, int, int, int]]) -> None:
    assert run_bpf(default_program, NR["read"], arch=AUDIT_I386) == EPERM
    assert run_bpf(default_program, NR["read"] | 0x40000000) == EPERM


def test_capabilities_open_their_calls() -> None:
    section = seccomp.resolve(seccomp.default_profile(), ["CAP_SYS_ADMIN", "CAP_SYS_TIME"], machine=X86_64)
    program = seccomp.compile_profile(section, machine=X86_64)
    assert run_bpf(program, NR["mount"]) == ALLOW
    assert run_bpf(program, NR["settimeofday"]) == ALLOW
    assert run_bpf(program, NR["clone"], (0x00020000,)) == ALLOW  # SYS_ADMIN may make namespaces
    assert run_bpf(program, NR["reboot"]) == EPERM


@pytest.mark.parametrize(
    ("op", "value", "two", "arg", "allowed"),
    [
        ("SCMP_CMP_EQ", 5, 0, 5, True),
        ("SCMP_CMP_EQ", 5, 0, 6, False),
        ("SCMP_CMP_EQ", 1 << 40, 0, 1 << 40, True),
        ("SCMP_CMP_EQ", 1 << 40, 0, 0, False),
        ("SCMP_CMP_NE", 5, 0, 6, True),
        ("SCMP_CMP_NE", 5, 0, 5, False),
        ("SCMP_CMP_GT", 5, 0, 6, True),
        ("SCMP_CMP_GT", 5, 0, 5, False),
        ("SCMP_CMP_GE", 5, 0, 5, True),
        ("SCMP_CMP_GE", 5, 0, 4, False),
        ("SCMP_CMP_LT", 5, 0, 4, True),
        ("SCMP_CMP_LT", 5, 0, 5, False),
        ("SCMP_CMP_LE", 5, 0, 5, True),
        ("SCMP_CMP_LE", 1 << 33, 0, 1 << 32, True),
        ("SCMP_CMP_LE", 1 << 32, 0, 1 << 33, False),
        ("SCMP_CMP_MASKED_EQ", 0xF0, 0x30, 0x3F, True),
        ("SCMP_CMP_MASKED_EQ", 0xF0, 0x30, 0x4F, False),
    ],
)
def test_argument_comparisons(op: str, value: int, two: int, arg: int, allowed: bool) -> None:
    section = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {
                "names": ["ioctl"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 1, "value": value, "valueTwo": two, "op": op}],
            }
        ],
    }
    program = seccomp.compile_profile(section, machine=X86_64)
    assert run_bpf(program, NR["ioctl"], (0, arg)) == (ALLOW if allowed else EPERM)


@pytest.mark.parametrize(
    ("action", "errno", "value"),
    [
        ("SCMP_ACT_ALLOW", None, ALLOW),
        ("SCMP_ACT_ERRNO", 13, 0x0005000D),
        ("SCMP_ACT_KILL", None, 0),
        ("SCMP_ACT_LOG", None, 0x7FFC0000),
    ],
)
def test_actions(action: str, errno: int | None, value: int) -> None:
    assert seccomp.action_value(action, errno) == value


def test_bad_profiles_are_invalid_arguments() -> None:
    with pytest.raises(InvalidArgument):
        seccomp.resolve({"syscalls": []}, [])
    with pytest.raises(InvalidArgument):
        seccomp.action_value("SCMP_ACT_NOPE", None)
    with pytest.raises(InvalidArgument):
        seccomp.compile_profile(
            {
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [
                    {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "op": "SCMP_CMP_WHAT"}]}
                ],
            },
            machine=X86_64,
        )


def test_packed_programs_are_eight_bytes_per_instruction(default_program: list[tuple[int, int, int, int]]) -> None:
    assert len(seccomp.pack(default_program)) == 8 * len(default_program)
