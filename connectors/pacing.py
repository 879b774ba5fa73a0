"""Per-target request pacing: a token bucket shared by every worker process.

Targets limit requests per second per account, not per client, so N workers pacing on
their own would together send N times the rate and trip 429 storms. The bucket lives in
Redis (one key per target) and hands out send times by the generic cell rate algorithm:
each request reserves the next slot (``1/rate`` apart, ``burst`` slots may be taken at
once) and sleeps until it. Redis's own clock decides, so worker clocks need not agree.
Without Redis (the embedded demo, one process) the same algorithm runs in memory.

``refused`` counts a 429 and, when it came with a Retry-After, pushes the next slot out,
so every worker waits, not only the one that was refused.

Each bucket keeps counters beside it (``<key>:stats``, shared like the bucket): requests
paced, how many had to wait and for how long in all, and 429 answers. ``stats`` reads
them (the Prometheus metrics and ``sync_report``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings

# KEYS[1] bucket, KEYS[2] its counters; ARGV: interval (s), burst, hold-off (s, 0 to
# reserve a slot). Returns how long to wait before sending, as a string (Lua numbers
# returned to Redis are truncated to integers).
RESERVE_SCRIPT = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local hold = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = 0
if hold > 0 then
  local held = now + hold + (burst - 1) * interval
  if held > tat then tat = held end
else
  wait = tat - (burst - 1) * interval - now
  if wait < 0 then wait = 0 end
  tat = tat + interval
  redis.call('HINCRBY', KEYS[2], 'requests', 1)
  if wait > 0 then
    redis.call('HINCRBY', KEYS[2], 'delayed', 1)
    redis.call('HINCRBYFLOAT', KEYS[2], 'wait_seconds', string.format('%.6f', wait))
  end
end
redis.call('SET', KEYS[1], string.format('%.6f', tat), 'PX', math.ceil((tat - now) * 1000) + 60000)
return string.format('%.6f', wait)
"""


STAT_NAMES = ("requests", "delayed", "wait_seconds", "refused")


class Pacer:
    """Sends at most ``rate`` requests per second (``burst`` at once) to one target,
    across every process that shares ``key``."""

    def __init__(self, key: str, rate: float, burst: int = 1, redis_url: str = "") -> None:
        self.key = key
        self.stats_key = f"{key}:stats"
        self.interval = 1.0 / rate
        self.burst = max(1, int(burst))
        self._redis: Any = None
        self._script: Any = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url)
            self._script = self._redis.register_script(RESERVE_SCRIPT)
        self._lock = threading.Lock()
        self._tat = 0.0  # in-memory theoretical arrival time (monotonic clock)
        self._stats = dict.fromkeys(STAT_NAMES, 0.0)  # in-memory counters

    def acquire(self) -> float:
        """Wait for this request's slot; returns the seconds waited."""
        wait = self._reserve(hold=0.0)
        if wait > 0:
            time.sleep(wait)
        return wait

    def hold_off(self, seconds: float) -> None:
        """No request before ``seconds`` from now (the target's Retry-After)."""
        if seconds > 0:
            self._reserve(hold=seconds)

    def refused(self, retry_after: float | None = None) -> None:
        """The target answered 429: counted, and held off when it said for how long."""
        if self._redis is not None:
            self._redis.hincrby(self.stats_key, "refused", 1)
        else:
            with self._lock:
                self._stats["refused"] += 1
        if retry_after:
            self.hold_off(retry_after)

    def stats(self) -> dict[str, float]:
        """The counters: requests paced, ``delayed`` (those that waited), ``wait_seconds``
        (waited in all), ``refused`` (429 answers)."""
        if self._redis is None:
            with self._lock:
                return dict(self._stats)
        stored = self._redis.hgetall(self.stats_key)
        return {name: float(stored.get(name.encode(), 0)) for name in STAT_NAMES}

    def _reserve(self, *, hold: float) -> float:
        if self._script is not None:
            keys = [self.key, self.stats_key]
            return float(self._script(keys=keys, args=[self.interval, self.burst, hold]))
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat, now)
            if hold > 0:
                self._tat = max(tat, now + hold + (self.burst - 1) * self.interval)
                return 0.0
            wait = max(0.0, tat - (self.burst - 1) * self.interval - now)
            self._tat = tat + self.interval
            self._stats["requests"] += 1
            if wait > 0:
                self._stats["delayed"] += 1
                self._stats["wait_seconds"] += wait
            return wait


def pacer_for(code: str, config: dict[str, Any]) -> Pacer | None:
    """The pacer of a target whose config sets ``rate_limit`` (requests/s), else None.
    The key names the target's URL too, so two accounts of one target code do not share
    a bucket."""
    rate = float(config.get("rate_limit") or 0)
    if rate <= 0:
        return None
    key = f"mdm:pace:{code}:{config.get('url', '')}"
    redis_url = getattr(settings, "REDIS_URL", "") or ""
    return Pacer(key, rate, int(config.get("rate_burst") or 1), redis_url)
