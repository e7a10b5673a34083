"""``ballena``: docker's commands, flags, tables and exit codes over the Engine API."""
