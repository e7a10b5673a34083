"""``ballena ui``: the web dashboard. ``server`` serves the page built from ``ui/`` (Vite) and
passes the Engine API through behind a token; the page itself is a client of the API."""
