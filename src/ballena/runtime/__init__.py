"""The OCI runtime: the runtime spec a container runs from, its cgroups, seccomp filter, and
the native runtime that carries a spec out (namespaces, mounts, pivot_root, capabilities)."""
