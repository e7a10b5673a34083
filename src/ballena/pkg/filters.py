"""Docker's ``filters`` query parameter: ``{"key": ["v1", "v2"]}`` (or the legacy
``{"key": {"v1": true}}``), validated against the keys an endpoint accepts.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field

from ballena.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class Filters:
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None, *, accepted: frozenset[str] | set[str] | None = None) -> Filters:
        """Parse and validate. Raises InvalidArgument("invalid filter 'x'") as Docker does."""
        if not raw:
            return cls({})
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise InvalidArgument(f"invalid filter: {e}") from None
        if not isinstance(data, dict):
            raise InvalidArgument("invalid filter: filters must be a JSON object")
        out: dict[str, tuple[str, ...]] = {}
        for key, value in data.items():
            if isinstance(value, dict):
                values = tuple(k for k, v in value.items() if v)
            elif isinstance(value, list):
                values = tuple(str(v) for v in value)
            else:
                values = (str(value),)
            out[key] = values
        f = cls(out)
        if accepted is not None:
            for key in out:
                if key not in accepted:
                    raise InvalidArgument(f"invalid filter '{key}'")
        return f

    def __contains__(self, key: str) -> bool:
        return key in self.fields

    def get(self, key: str) -> tuple[str, ...]:
        return self.fields.get(key, ())

    def exact(self, key: str, value: str) -> bool:
        """True when the key is absent or one of its values equals ``value``."""
        values = self.fields.get(key)
        return not values or value in values

    def bool_value(self, key: str) -> bool | None:
        """For ``dangling=true``-style filters. Raises InvalidArgument on other values."""
        values = self.fields.get(key)
        if not values:
            return None
        result = None
        for v in values:
            lv = v.lower()
            if lv in ("true", "1"):
                b = True
            elif lv in ("false", "0"):
                b = False
            else:
                raise InvalidArgument(f"invalid filter '{key}={v}'")
            result = b if result is None else (result or b)
        return result

    def match_labels(self, key: str, labels: dict[str, str]) -> bool:
        """``label=k`` and ``label=k=v`` filters: all must match."""
        for spec in self.fields.get(key, ()):
            name, eq, value = spec.partition("=")
            if name not in labels:
                return False
            if eq and labels[name] != value:
                return False
        return True

    def match_any_regex(self, key: str, value: str) -> bool:
        """Docker's fuzzy ``name`` filter: each filter value is a regex searched in ``value``."""
        values = self.fields.get(key)
        if not values:
            return True
        for pattern in values:
            try:
                if re.search(pattern, value):
                    return True
            except re.error:
                if pattern in value:
                    return True
        return False

    def match_any_glob(self, key: str, value: str) -> bool:
        values = self.fields.get(key)
        if not values:
            return True
        return any(fnmatch.fnmatchcase(value, p) for p in values)
