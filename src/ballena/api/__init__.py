"""The Docker Engine API over HTTP/1.1 (h11 on asyncio): routing, version negotiation,
streaming and hijacked connections, and the one table that maps errors to status codes.

This is the only package that knows Docker's PascalCase JSON and HTTP status codes.
"""
