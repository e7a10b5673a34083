"""Container monitors: one small process per container that outlives the daemon, and the
daemon's typed way of talking to it (containerd's shim and Task API).

In the monitor's process:
  ``zygote``      the fork server every monitor and file helper is forked from (~1 ms each)
  ``monitor``     one container's loop: output, stdin, execs, signals, cgroup, exit
  ``drivers``     how a runtime makes the processes (``NativeDriver``, ``RuncDriver``)
  ``execs``, ``connections``, ``stdio``, ``logfile``   what the loop is made of
  ``fsops``       the file helper behind ``docker cp`` and ``export``
Shared by both sides:
  ``config``      ``MonitorConfig`` and ``FileHelperConfig``, frozen records
  ``messages``    every request and event, typed (framed by ``pkg.framing``)
On the daemon's side:
  ``task``        ``Task``/``ExecTask``: create, start, follow, kill, exec, pause, update ...
  ``spawner``     the zygote's client; ``channel``  one framed connection
"""
