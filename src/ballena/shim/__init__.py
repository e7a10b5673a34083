"""Container monitors: one small process per container that outlives the daemon.

``zygote`` is a fork server the daemon starts once; each ``monitor`` is forked from it (so it
costs about a millisecond and shares the zygote's memory pages), owns one container's stdio,
log and exit status, and talks to the daemon over ``protocol`` frames. ``client`` is the
daemon's side of that conversation.
"""
