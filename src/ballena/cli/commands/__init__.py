"""One module per area; each function takes (client, argv, prog=...)."""
