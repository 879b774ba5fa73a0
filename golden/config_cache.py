"""A few seconds of per-process caching for configuration read on every record
(survivorship rules, match settings), dropped whenever that configuration is saved."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
TTL_SECONDS = 10.0
_entries: dict[str, tuple[float, Any]] = {}


def cached(key: str, load: Callable[[], T]) -> T:
    entry = _entries.get(key)
    if entry is not None and entry[0] > time.monotonic():
        return entry[1]  # type: ignore[no-any-return]
    value = load()
    _entries[key] = (time.monotonic() + TTL_SECONDS, value)
    return value


def forget() -> None:
    _entries.clear()
