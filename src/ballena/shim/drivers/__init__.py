"""Runtime drivers: how a monitor makes its container's processes, one class per runtime.

The monitor's loop never asks which runtime it has: it calls a ``RuntimeDriver``. The
lifecycle every driver follows (and ``tests/integration/test_drivers.py`` runs against each)::

    create()  -> the init process exists, in its namespaces and cgroup, and waits
    start()   -> the init has exec'd the user's command (or StartFailed was raised)
    exec()    -> one more process in the running container
    delete()  -> the runtime forgets the container (idempotent, never raises)

Both return a ``Process``: its host PID and the monitor's ends of its streams. Signals are
plain ``kill(2)`` on that PID (or the cgroup's members), so drivers have no kill method. The
cgroup belongs to the monitor; a driver only puts the init into it where the runtime does not
do so itself.
"""

from __future__ import annotations

from typing import Any

from ballena.runtime.cgroups import Cgroup
from ballena.shim.config import MonitorConfig
from ballena.shim.drivers.base import Process, RuntimeDriver
from ballena.shim.drivers.native import NativeDriver
from ballena.shim.drivers.runc import RuncDriver

__all__ = ["NativeDriver", "Process", "RuncDriver", "RuntimeDriver", "driver_for"]


def driver_for(cfg: MonitorConfig, *, spec: dict[str, Any], cgroup: Cgroup | None, dirfd: int) -> RuntimeDriver:
    """The driver for ``cfg.runtime``. ``dirfd`` is the state directory, open (runc's sockets
    and files are named through it, so their paths stay short)."""
    if cfg.runtime.native:
        return NativeDriver(cfg, spec=spec, cgroup=cgroup)
    return RuncDriver(cfg, dirfd=dirfd)
