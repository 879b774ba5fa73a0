"""Switchable faults, the per-second rate limiter and the in-flight (concurrency) gate.

Faults are in memory on purpose: they are test switches, not state, and a restarted sandbox
should come back healthy. They can be set from Python (`RunningSandbox.set_fault`) or over
HTTP (`POST /_sandbox/faults`), so a sandbox in another process is just as controllable.

Each fault may carry `count` (applies to the next N matching requests, then clears itself)
and `duration` (seconds until it clears itself); with neither it stays until cleared.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# name -> (parameters it accepts, default count). Vendors may add their own names.
GENERIC_FAULTS: dict[str, tuple[frozenset[str], int | None]] = {
    # mode "503" answers 503 in the vendor's shape; "refuse" stops listening (connection refused)
    "down": (frozenset({"mode", "duration"}), None),
    # wait `delay` seconds before answering
    "slow": (frozenset({"delay", "count", "duration"}), None),
    # answer 500 in the vendor's shape
    "error_500": (frozenset({"count", "duration"}), 1),
    # per-second request limit, answered with the vendor's documented 429/403
    "rate_limit": (frozenset({"per_second", "duration"}), None),
    # more than `limit` requests in flight answers the vendor's concurrency error
    "concurrency_limit": (frozenset({"limit", "duration"}), None),
    # answer the vendor's rate-limit error (429, Salesforce's 403) to the next `count`
    # API calls whose path contains `path` (all of them without it)
    "throttle": (frozenset({"path", "count", "duration"}), 1),
    # apply the write, then close the connection without any response
    "drop_after_commit": (frozenset({"count", "duration"}), 1),
    # answer 401 as if the token expired (and revoke issued tokens where the vendor issues them)
    "expire_session": (frozenset({"count", "duration"}), 1),
}


class FaultError(ValueError):
    """A fault switch with an unknown name or parameter."""


@dataclass
class Fault:
    name: str
    params: dict[str, Any]
    remaining: int | None = None
    until: float | None = None

    def expired(self, now: float) -> bool:
        return (self.until is not None and now >= self.until) or self.remaining == 0

    def describe(self, now: float) -> dict[str, Any]:
        left = None if self.until is None else max(0.0, round(self.until - now, 3))
        return {**self.params, "remaining": self.remaining, "seconds_left": left}


@dataclass
class FaultBoard:
    known: dict[str, tuple[frozenset[str], int | None]] = field(
        default_factory=lambda: dict(GENERIC_FAULTS)
    )
    _faults: dict[str, Fault] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Set whenever faults are cleared, so a `slow` request in its delay can stop waiting.
    _wake: threading.Event = field(default_factory=threading.Event)

    def register(self, name: str, params: frozenset[str], default_count: int | None) -> None:
        self.known[name] = (params, default_count)

    def set(self, name: str, **params: Any) -> Fault:
        allowed, default_count = self._spec(name)
        unknown = set(params) - allowed
        if unknown:
            raise FaultError(f"fault {name!r} takes {sorted(allowed)}, not {sorted(unknown)}")
        count = params.pop("count", default_count)
        duration = params.pop("duration", None)
        fault = Fault(
            name=name,
            params=params,
            remaining=None if count is None else int(count),
            until=None if duration is None else time.monotonic() + float(duration),
        )
        with self._lock:
            self._faults[name] = fault
        return fault

    def clear(self, *names: str) -> None:
        """Clear the named faults, or all of them with no names."""
        with self._lock:
            for name in names or list(self._faults):
                self._faults.pop(name, None)
        self._wake.set()
        self._wake = threading.Event()

    def active(self, name: str) -> Fault | None:
        """The fault if switched on, without consuming it."""
        with self._lock:
            return self._live(name)

    def consume(self, name: str) -> Fault | None:
        """The fault if switched on, counting this request against its `count`."""
        with self._lock:
            fault = self._live(name)
            if fault is not None and fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._faults[name]
            return fault

    def snapshot(self) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            return {n: f.describe(now) for n, f in self._faults.items() if not f.expired(now)}

    def pause(self, seconds: float) -> None:
        """Sleep for a `slow` fault; returns early when faults are cleared."""
        self._wake.wait(max(0.0, seconds))

    def _live(self, name: str) -> Fault | None:
        fault = self._faults.get(name)
        if fault is not None and fault.expired(time.monotonic()):
            del self._faults[name]
            return None
        return fault

    def _spec(self, name: str) -> tuple[frozenset[str], int | None]:
        try:
            return self.known[name]
        except KeyError:
            raise FaultError(f"unknown fault {name!r}; known: {sorted(self.known)}") from None


class RateLimiter:
    """Sliding one-second window: at most `per_second` admitted requests in any second.

    Refused requests do not count, as with the vendors' limits (a client that backs off
    gets through again after the window slides).
    """

    def __init__(self) -> None:
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self, per_second: float) -> bool:
        capacity = max(1, math.floor(per_second))
        now = time.monotonic()
        with self._lock:
            while self._stamps and now - self._stamps[0] >= 1.0:
                self._stamps.popleft()
            if len(self._stamps) >= capacity:
                return False
            self._stamps.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._stamps.clear()


class ConcurrencyGate:
    """Counts requests in flight, for NetSuite-style account concurrency limits, and the
    most that were ever in flight at once (``peak``, since the last ``reset_peak``)."""

    def __init__(self) -> None:
        self._in_flight = 0
        self._peak = 0
        self._lock = threading.Lock()

    @contextmanager
    def enter(self, limit: int | None) -> Iterator[bool]:
        """Yields False (and does not count the request) when `limit` is already reached."""
        with self._lock:
            admitted = limit is None or self._in_flight < limit
            if admitted:
                self._in_flight += 1
                self._peak = max(self._peak, self._in_flight)
        try:
            yield admitted
        finally:
            if admitted:
                with self._lock:
                    self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def peak(self) -> int:
        return self._peak

    def reset_peak(self) -> None:
        with self._lock:
            self._peak = self._in_flight
