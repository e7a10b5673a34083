"""Random object IDs as Docker makes them: 64 hex digits whose 12-digit prefix is not a number."""

from __future__ import annotations

import secrets


def generate_id() -> str:
    while True:
        value = secrets.token_hex(32)
        # A short ID that parses as an integer would be ambiguous on the command line.
        if not value[:12].isdigit():
            return value


def truncate_id(value: str) -> str:
    if ":" in value:
        value = value.split(":", 1)[1]
    return value[:12]
