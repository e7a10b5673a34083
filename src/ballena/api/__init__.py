"""The Docker Engine API over HTTP/1.1 (h11 on asyncio): routing, version negotiation,
streaming and hijacked connections, request bodies decoded into typed records, and the one
table that maps errors to status codes.

Docker's JSON names are declared once, as tags on the records (``pkg.records``); this is the
only package that knows HTTP, status codes and how responses are shaped.
"""
