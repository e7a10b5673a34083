"""Escape and privilege attempts that must fail in a default container, each with the precise
error the kernel gives when Docker's defaults (capabilities, seccomp profile, masked and
read-only paths, device cgroup, namespaces) are in force.

``probe`` (probe.c, built statically here) makes the system calls; it prints ``ok`` or the
errno's name. The same attempts succeed with ``--privileged`` where that is the point, which
proves the probe really tries them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    gcc = shutil.which("gcc")
    assert gcc, "gcc and libc6-dev are needed to build the probe (scripts/setup.sh installs them)"
    out = tmp_path_factory.mktemp("probe") / "probe"
    subprocess.run([gcc, "-static", "-O1", "-o", str(out), str(HERE / "probe.c")], check=True)
    yield out


def attempt(d: Daemon, probe: Path, *args: str, options: tuple[str, ...] = ()) -> str:
    res = d.docker("run", "--rm", *options, "-v", f"{probe}:/probe:ro", "busybox", "/probe", *args, timeout=30)
    assert res.returncode in (0, 1), res.stderr
    return res.stdout.strip()


def host_disk() -> tuple[int, int]:
    """A block device of the host that the host itself may open (this VM refuses even root
    its own disk, so a loop device serves where the disk does not)."""
    candidates = ["/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/xvda"] + [f"/dev/loop{i}" for i in range(8)]
    for path in candidates:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        os.close(fd)
        st = os.stat(path)
        return os.major(st.st_rdev), os.minor(st.st_rdev)
    pytest.fail("no block device the host can open")


SYSCALL_ATTEMPTS = [
    # name, what the kernel answers under Docker's default profile and capabilities
    ("mount", "EPERM"),
    ("mount-cgroup", "EPERM"),  # the first step of the cgroup v1 release_agent escape
    ("umount", "EPERM"),
    ("init_module", "EPERM"),
    ("finit_module", "EPERM"),
    ("kexec_load", "EPERM"),
    ("reboot", "EPERM"),
    ("settime", "EPERM"),
    ("open_by_handle_at", "EPERM"),  # "shocker"
    ("keyctl", "EPERM"),
    ("add_key", "EPERM"),
    ("bpf", "EPERM"),
    ("perf_event_open", "EPERM"),
    ("userfaultfd", "EPERM"),
    ("unshare-user", "EPERM"),
    ("unshare-mount", "EPERM"),
    ("clone-newns", "EPERM"),
    ("setns", "EPERM"),
    ("swapon", "EPERM"),
    ("acct", "EPERM"),
    ("iopl", "EPERM"),
    ("vsock", "EPERM"),
    ("personality", "EPERM"),
    ("dev-mem", "EPERM"),  # mknod is allowed, opening it is not (device cgroup)
]


@pytest.mark.parametrize(("name", "expected"), SYSCALL_ATTEMPTS, ids=[n for n, _ in SYSCALL_ATTEMPTS])
def test_refused_in_a_default_container(clean: Daemon, probe: Path, name: str, expected: str) -> None:
    assert attempt(clean, probe, name) == expected


def test_host_disk_cannot_be_read(clean: Daemon, probe: Path) -> None:
    major, minor = host_disk()
    assert attempt(clean, probe, "host-disk", str(major), str(minor)) == "EPERM"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/proc/sys/kernel/hostname", "EROFS"),  # /proc/sys is read-only
        ("/proc/sys/vm/drop_caches", "EROFS"),
        ("/sys/kernel/rcu_expedited", "EROFS"),  # /sys is mounted read-only
        ("/sys/fs/cgroup/memory/notify_on_release", "EROFS"),  # release_agent's trigger
        ("/proc/irq/default_smp_affinity", "EROFS"),
    ],
)
def test_kernel_interfaces_are_read_only(clean: Daemon, probe: Path, path: str, expected: str) -> None:
    assert attempt(clean, probe, "write", path, "1") == expected


@pytest.mark.parametrize("path", ["/proc/keys", "/proc/timer_list", "/proc/interrupts"])
def test_masked_proc_files_read_empty(clean: Daemon, probe: Path, path: str) -> None:
    assert attempt(clean, probe, "read", path) == "0 bytes"


def test_host_processes_are_invisible(clean: Daemon, probe: Path) -> None:
    assert clean.proc is not None
    assert attempt(clean, probe, "kill", str(clean.proc.pid)) == "ESRCH"  # ballenad, from inside
    pids = clean.docker("run", "--rm", "busybox", "sh", "-c", "ls /proc | grep -c '^[0-9]'", check=True)
    assert int(pids.stdout) <= 3  # sh, ls, grep: nothing of the host's


def test_chroot_escape_stays_in_the_container(clean: Daemon, probe: Path) -> None:
    # The walk up from a chroot ends at the container's root, where the host's paths are not.
    assert attempt(clean, probe, "chroot-escape", str(clean.data_root)) == "ENOENT"


def test_network_configuration_needs_net_admin(clean: Daemon) -> None:
    res = clean.docker("run", "--rm", "busybox", "ip", "link", "add", "dummy0", "type", "dummy")
    assert res.returncode != 0 and "Operation not permitted" in res.stderr


def test_the_probe_works_where_it_is_allowed(clean: Daemon, probe: Path) -> None:
    """The same attempts succeed when the container is given the privilege: the refusals
    above come from the container's confinement, not from a broken probe."""
    assert attempt(clean, probe, "mount", options=("--privileged",)) == "ok"
    assert attempt(clean, probe, "unshare-mount", options=("--privileged",)) == "ok"
    assert attempt(clean, probe, "keyctl", options=("--security-opt", "seccomp=unconfined")) == "ok"
    # (Never the clock or reboot: those would succeed on the host itself.)
    major, minor = host_disk()
    assert attempt(clean, probe, "host-disk", str(major), str(minor), options=("--privileged",)) == "ok"
