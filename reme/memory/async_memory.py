"""``AsyncMemory``: ``Memory`` for async hosts (AgentScope, the OpenAI Agents SDK, FastAPI apps).

Every method is ``Memory``'s, awaited: the call runs in a worker thread (``asyncio.to_thread``), so encoding a query
or writing to SQLite never blocks the host's event loop, and several calls may run at once (``Memory`` is safe to
share between threads: tests/test_concurrency.py). Opening a workspace loads models and indexes, which takes a
second or more: ``await AsyncMemory.open(...)`` does that in a thread too; ``AsyncMemory(memory)`` wraps a
``Memory`` that is already open.

    async with await AsyncMemory.open("ws") as mem:
        await mem.add("Alice moved to Lisbon.", "user:alice")
        hits = await mem.search("Where does Alice live?", target="user:alice")
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

from reme.memory.facade import Memory

__all__ = ["AsyncMemory"]

P = ParamSpec("P")
R = TypeVar("R")


def _awaited(
    method: Callable[Concatenate[Memory, P], R],
) -> Callable[Concatenate[AsyncMemory, P], Coroutine[Any, Any, R]]:
    """``method`` of ``Memory`` as a coroutine method of ``AsyncMemory`` (same arguments, same result)."""

    @functools.wraps(method)
    async def call(self: AsyncMemory, *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(method, self.memory, *args, **kwargs)

    return call


class AsyncMemory:
    """``Memory`` with awaitable methods (see the module). ``memory`` is the wrapped ``Memory``."""

    def __init__(self, memory: Memory) -> None:
        if not isinstance(memory, Memory):
            raise TypeError(f"AsyncMemory wraps a Memory, got {type(memory).__name__} (use AsyncMemory.open(...))")
        self.memory = memory

    @classmethod
    async def open(cls, *args: Any, **kwargs: Any) -> AsyncMemory:
        """``Memory(*args, **kwargs)`` built in a worker thread, wrapped."""
        return cls(await asyncio.to_thread(Memory, *args, **kwargs))

    add = _awaited(Memory.add)
    add_many = _awaited(Memory.add_many)
    update = _awaited(Memory.update)
    delete = _awaited(Memory.delete)
    delete_many = _awaited(Memory.delete_many)
    delete_target = _awaited(Memory.delete_target)
    get = _awaited(Memory.get)
    list = _awaited(Memory.list)
    count = _awaited(Memory.count)
    search = _awaited(Memory.search)
    search_with_decision = _awaited(Memory.search_with_decision)
    search_many = _awaited(Memory.search_many)
    feedback = _awaited(Memory.feedback)
    rebuild_indexes = _awaited(Memory.rebuild_indexes)
    reload_policies = _awaited(Memory.reload_policies)
    sync_markdown = _awaited(Memory.sync_markdown)
    sync_files = _awaited(Memory.sync_files)
    close = _awaited(Memory.close)

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
