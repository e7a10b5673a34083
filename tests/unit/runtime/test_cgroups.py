"""Cgroup file writes against a directory tree that stands in for /sys/fs/cgroup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ballena.runtime.cgroups import Cgroup, Layout

V1 = ("cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "devices", "freezer")


def _v1_tree(root: Path) -> Layout:
    mounts = {}
    for c in V1:
        d = root / c
        d.mkdir(parents=True)
        mounts[c] = str(d)
    (root / "cpuset" / "cpuset.cpus").write_text("0-3\n")
    (root / "cpuset" / "cpuset.mems").write_text("0\n")
    return Layout(v1=mounts, unified=None)


_V1_FILES = {
    "memory": {"memory.limit_in_bytes": "9223372036854771712", "memory.memsw.limit_in_bytes": "9223372036854771712",
               "memory.soft_limit_in_bytes": "", "memory.oom_control": "", "memory.swappiness": "60"},
    "cpu": {"cpu.shares": "1024", "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "pids": {"pids.max": "max"},
    "freezer": {"freezer.state": "THAWED"},
    "blkio": {"blkio.weight": "500"},
}  # fmt: skip


def _populate(cg: Cgroup) -> None:
    """What the kernel creates in a new cgroup directory."""
    for d in cg.dirs():
        os.makedirs(d, exist_ok=True)
    for controller, files in _V1_FILES.items():
        d = cg.v1_dir(controller)
        assert d is not None
        os.makedirs(d, exist_ok=True)
        for name, value in files.items():
            Path(d, name).write_text(value)


@pytest.fixture
def cg(tmp_path: Path) -> Cgroup:
    lay = _v1_tree(tmp_path)
    c = Cgroup("/ballena/abc", lay)
    _populate(c)
    return c


def _read(cg: Cgroup, controller: str, name: str) -> str:
    return Path(cg.v1_dir(controller) or "", name).read_text().strip()


def test_create_copies_cpuset_down_each_level(cg: Cgroup) -> None:
    Path(cg.v1_dir("cpuset") or "", "..", "cpuset.cpus").write_text("")
    Path(cg.v1_dir("cpuset") or "", "..", "cpuset.mems").write_text("")
    cg.create()
    assert _read(cg, "cpuset", "cpuset.cpus") == "0-3" and _read(cg, "cpuset", "cpuset.mems") == "0"


def test_memory_limit_raised_with_its_swap_in_the_order_the_kernel_wants(cg: Cgroup) -> None:
    cg.set_resources({"memory": {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20, "swappiness": 10}})
    assert _read(cg, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert _read(cg, "memory", "memory.memsw.limit_in_bytes") == str(128 << 20)
    assert _read(cg, "memory", "memory.soft_limit_in_bytes") == str(32 << 20)
    assert _read(cg, "memory", "memory.swappiness") == "10"


def test_cpu_pids_blkio(cg: Cgroup) -> None:
    cg.set_resources(
        {
            "cpu": {"shares": 512, "period": 50000, "quota": 25000, "cpus": "1"},
            "pids": {"limit": 0},
            "blockIO": {"weight": 300},
        }
    )
    assert _read(cg, "cpu", "cpu.shares") == "512"
    assert _read(cg, "cpu", "cpu.cfs_period_us") == "50000" and _read(cg, "cpu", "cpu.cfs_quota_us") == "25000"
    assert _read(cg, "cpuset", "cpuset.cpus") == "1"
    assert _read(cg, "pids", "pids.max") == "max"
    assert _read(cg, "blkio", "blkio.weight") == "300"


def test_a_refused_write_names_the_file(cg: Cgroup) -> None:
    os.unlink(Path(cg.v1_dir("pids") or "", "pids.max"))
    with pytest.raises(OSError) as e:
        cg.set_resources({"pids": {"limit": 5}})
    assert "pids.max" in str(e.value)


def test_freeze_and_thaw_wait_for_the_state(cg: Cgroup) -> None:
    cg.freeze()
    assert _read(cg, "freezer", "freezer.state") == "FROZEN"
    cg.thaw()
    assert _read(cg, "freezer", "freezer.state") == "THAWED"


def test_dirs_remove_and_exists(cg: Cgroup) -> None:
    assert cg.exists()
    for d in cg.dirs():
        for f in Path(d).iterdir():
            f.unlink()
    cg.remove()
    assert not cg.exists()
    cg.remove()  # idempotent


def test_v2_resources_go_to_the_unified_files(tmp_path: Path) -> None:
    unified = tmp_path / "unified"
    unified.mkdir()
    (unified / "cgroup.subtree_control").write_text("")
    lay = Layout(v1={}, unified=str(unified), unified_controllers=frozenset({"cpu", "memory", "pids", "io"}))
    cg = Cgroup("/b/c", lay)
    d = Path(cg.unified_dir or "")
    d.mkdir(parents=True)
    (d.parent / "cgroup.subtree_control").write_text("")
    for name in ("memory.max", "memory.swap.max", "memory.low", "cpu.weight", "cpu.max", "pids.max"):
        (d / name).write_text("")
    cg.set_resources(
        {
            "memory": {"limit": 1 << 30, "swap": 3 << 30},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000},
            "pids": {"limit": 10},
        }
    )
    assert (d / "memory.max").read_text() == str(1 << 30)
    assert (d / "memory.swap.max").read_text() == str(2 << 30)  # v2 counts swap apart from memory
    assert (d / "cpu.weight").read_text() == "39"
    assert (d / "cpu.max").read_text() == "50000 100000"
    assert (d / "pids.max").read_text() == "10"
    assert lay.version == "2"


def test_remove_also_takes_the_path_runc_made_in_a_named_hierarchy(tmp_path: Path) -> None:
    lay = _v1_tree(tmp_path / "v1")
    systemd = tmp_path / "systemd"
    (systemd / "ballena-it").mkdir(parents=True)  # what runc leaves in name=systemd
    cg = Cgroup("/ballena-it", Layout(v1=lay.v1, named=(str(systemd),)))
    assert not cg.exists()  # not a place of ours: nothing is created or joined there
    cg.remove()
    assert not (systemd / "ballena-it").exists()
