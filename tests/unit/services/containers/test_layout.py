"""Where a container's things live: its cgroup path never leaves the cgroup filesystems."""

from __future__ import annotations

from pathlib import Path

import pytest

from ballena.core.containerconfig import ContainerConfig, HostConfig, Resources
from ballena.core.containers import Container
from ballena.services.containers.layout import Paths


def _container(parent: str) -> Container:
    return Container(
        id="c" * 64, name="x", created_ns=0, image="i", image_id="i", path="sh", args=(), config=ContainerConfig(),
        host_config=HostConfig(resources=Resources(cgroup_parent=parent)),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("parent", "expected"),
    [
        ("", "/ballena/" + "c" * 64),
        ("/system.slice", "/system.slice/" + "c" * 64),
        ("mine/", "/mine/" + "c" * 64),
        ("../../../../tmp", "/tmp/" + "c" * 64),  # cleaned as runc does: no climbing out
        ("/a/../../b", "/b/" + "c" * 64),
    ],
)
def test_the_cgroup_path_is_clean(parent: str, expected: str) -> None:
    paths = Paths(data_root=Path("/d"), exec_root=Path("/e"))
    assert paths.cgroup(_container(parent)) == expected


def test_state_and_log_paths_are_under_the_roots() -> None:
    paths = Paths(data_root=Path("/d"), exec_root=Path("/e"))
    assert paths.state_dir("c" * 64).is_relative_to("/e")
