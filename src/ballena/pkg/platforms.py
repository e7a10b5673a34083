"""The platform names Go (and so every Docker client and registry) uses for this machine."""

from __future__ import annotations

import os

__all__ = ["go_arch"]

_GO_ARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def go_arch(machine: str | None = None) -> str:
    """GOARCH for ``machine`` as ``uname -m`` names it (``amd64`` for ``x86_64``), by default this one's."""
    machine = machine or os.uname().machine  # what platform.machine() says, without its import
    return _GO_ARCH.get(machine, machine)
