"""The Engine API client the ``ballena`` CLI uses; stdlib only, so the CLI starts fast."""
