"""Registry client: resolve, authenticate, pull and push (the Distribution API v2)."""
