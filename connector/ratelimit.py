"""Client-side rate limiting, so the portal stays under Zoom's and Brevo's limits.

Each budget is a GCRA ("generic cell rate") limiter: one stored number per key,
the theoretical arrival time of the next request. A caller reserves the next slot
and is told how long to wait for it. ``burst`` requests may go at once; after
that they are spaced ``1/rate`` seconds apart.

With Redis (the broker is Redis, or ``RATE_LIMIT_REDIS_URL`` is set) the state is
one Redis key per budget, updated by a Lua script on the server's clock, so every
worker process shares one budget. Otherwise it lives in this process.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from functools import cache

from django.conf import settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    key: str
    rate: float  # requests per second
    burst: int = 1

    @property
    def interval(self) -> float:
        return 1.0 / self.rate

    @property
    def tolerance(self) -> float:
        return self.interval * max(self.burst - 1, 0)


class LocalLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tat: dict[str, float] = {}

    def reserve(self, budget: Budget) -> float:
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat.get(budget.key, now), now)
            wait = max(tat - now - budget.tolerance, 0.0)
            self._tat[budget.key] = tat + budget.interval
            return wait

    def reset(self) -> None:
        with self._lock:
            self._tat.clear()


_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now - tolerance
if wait < 0 then wait = 0 end
local ttl = math.ceil((tat + interval - now) * 1000) + 1000
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', ttl)
return tostring(wait)
"""


class RedisLimiter:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._script = self._redis.register_script(_GCRA)

    def reserve(self, budget: Budget) -> float:
        wait = self._script(
            keys=[f"portal:ratelimit:{budget.key}"],
            args=[repr(budget.interval), repr(budget.tolerance)],
        )
        return float(wait)

    def reset(self) -> None:
        for key in self._redis.scan_iter("portal:ratelimit:*"):
            self._redis.delete(key)


@cache
def get_limiter() -> LocalLimiter | RedisLimiter:
    url = settings.RATE_LIMIT_REDIS_URL
    if url:
        return RedisLimiter(url)
    return LocalLimiter()


def acquire(budget: Budget, sleep=time.sleep) -> float:
    """Wait for the next slot of ``budget``; return how long we waited."""
    wait = get_limiter().reserve(budget)
    if wait > 0:
        sleep(wait)
    return wait
