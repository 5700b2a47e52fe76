"""What keeps one caller from starving the others: a first-come lock over the workspace, a request rate per token,
and the checks a JSON body passes before any endpoint sees it.

- ``FairLock``: the service serialises ``Memory`` calls; Python's own locks let a thread that releases and at once
  re-acquires go first again, so a long flow taking the lock chunk by chunk would still starve a waiting search.
  This lock serves waiters in arrival order (a ticket lock), so a search waits at most one chunk.
- ``RateLimiter``: a token bucket per bearer token: ``rate`` requests a second on average, bursts of ``burst``;
  over it, 429 with ``Retry-After``. Every request may append to the trajectory log (a search with ``limit`` 1,000
  appends about 58 KiB), so this bounds how fast one token can grow it.
- ``check_json``: a JSON body must not nest deeper than ``MAX_JSON_DEPTH`` (Python's parser overflows its stack
  near 1,000 levels, which would be a 500) and must hold only encodable text (a lone surrogate such as ``"\\ud800"``
  is valid JSON but cannot be stored or echoed back in an error).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque

from reme.schema import MAX_JSON_DEPTH, json_problem

__all__ = ["MAX_JSON_DEPTH", "FairLock", "RateLimiter", "check_json"]


class FairLock:
    """A reentrant lock whose waiters acquire it in the order they asked (FIFO)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[int] = deque()
        self._owner: int | None = None
        self._depth = 0
        self._next = 0

    def acquire(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            ticket = self._next
            self._next += 1
            self._queue.append(ticket)
            while self._owner is not None or self._queue[0] != ticket:
                self._cond.wait()
            self._queue.popleft()
            self._owner, self._depth = me, 1

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a FairLock this thread does not hold")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class NoOrder:
    """In place of ``FairLock`` when writes run at once (``reme serve --concurrent-writes``): ``Memory`` orders its own
    commits (``Memory._write_lock``), so nothing is lost; only the first-come admission goes."""

    def acquire(self) -> None:
        return None

    def release(self) -> None:
        return None

    def __enter__(self) -> NoOrder:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class RateLimiter:
    """Token buckets per caller key: ``allow(key)`` is ``0.0`` when the request may go, else the seconds to wait."""

    def __init__(self, rate: float, burst: float | None = None, max_keys: int = 100_000) -> None:
        if not rate > 0 or not math.isfinite(rate):
            raise ValueError(f"rate must be a positive number of requests per second, got {rate!r}")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, 2 * rate))
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> float:
        now = time.monotonic()
        with self._lock:
            level, last = self._buckets.get(key, (self.burst, now))
            level = min(self.burst, level + (now - last) * self.rate)
            if level < 1.0:
                self._buckets[key] = (level, now)
                return (1.0 - level) / self.rate
            if len(self._buckets) >= self.max_keys and key not in self._buckets:
                self._buckets.clear()  # many distinct callers (addresses): start every bucket full again
            self._buckets[key] = (level - 1.0, now)
            return 0.0


def check_json(body: bytes) -> str | None:
    """Why a JSON request body is refused (too deep, a lone surrogate), or ``None``. Bodies that are not JSON at
    all are left to the endpoint's own validation (422)."""
    try:
        value = json.loads(body)
    except RecursionError:
        return f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels"
    except ValueError:  # not JSON (or not UTF-8): the endpoint's validation answers
        return None
    problem = json_problem(value, MAX_JSON_DEPTH)
    return None if problem is None else f"the JSON body {problem}"
