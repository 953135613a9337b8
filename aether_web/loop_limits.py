"""Work sent to worker threads a few at a time, waiting for a turn on the event loop.

An anyio `CapacityLimiter` belongs to the event loop that first uses it: a worker has one
loop, tests run several, so each loop gets a limiter of its own (forgotten with the loop).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

import anyio


class LoopLimiter:
    """`limiter()` is the running event loop's `CapacityLimiter` of `tokens` slots (a number,
    or a function read when a loop first asks, e.g. a setting)."""

    def __init__(self, tokens: int | Callable[[], int]) -> None:
        self._tokens = tokens
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                                 anyio.CapacityLimiter] = (
            weakref.WeakKeyDictionary())

    def __call__(self) -> anyio.CapacityLimiter:
        loop = asyncio.get_running_loop()
        limiter = self._by_loop.get(loop)
        if limiter is None:
            tokens = self._tokens() if callable(self._tokens) else self._tokens
            limiter = self._by_loop[loop] = anyio.CapacityLimiter(tokens)
        return limiter
