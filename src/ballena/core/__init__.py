"""The domain: records (frozen dataclasses) and roles (Protocols), with no I/O."""
