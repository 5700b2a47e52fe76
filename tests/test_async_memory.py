"""``AsyncMemory`` (issue 24.14): ``Memory``'s methods awaited, run in worker threads so the host's loop goes on."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from reme import AsyncMemory
from reme.errors import NotFoundError
from reme.memory import Memory
from reme.settings import PolicySettings, WorkspaceSettings

STORE_ALL = WorkspaceSettings(policies=PolicySettings(write="heuristic"))


def test_async_memory_round_trip_concurrency_and_a_free_event_loop(tmp_path, minilm):
    async def main() -> None:
        mem = await AsyncMemory.open(tmp_path / "ws", encoder=minilm, settings=STORE_ALL)
        async with mem:
            ticks = 0
            stop = asyncio.Event()

            async def ticker() -> None:
                nonlocal ticks
                while not stop.is_set():
                    ticks += 1
                    await asyncio.sleep(0.001)

            beat = asyncio.create_task(ticker())
            nodes = await mem.add_many([f"Eve noted item {i}: the {i % 7} blue lamps" for i in range(300)], "user:eve")
            stop.set()
            await beat
            assert len(nodes) == 300 and ticks > 20  # the loop kept running while 300 texts were encoded and stored
            added = await mem.add("Eve moved to Porto in March.", "user:eve", metadata={"session_id": "s2"})
            assert added is not None
            # several calls at once, from one loop: searches and writes interleave safely
            results = await asyncio.gather(
                *[mem.search("Where does Eve live?", limit=3, target="user:eve") for _ in range(8)],
                *[mem.add(f"Eve likes tea number {i}", "user:eve") for i in range(8)],
            )
            searches = results[:8]
            assert all(hits and hits[0].memory.memory_id == added.memory_id for hits in searches)
            decision, hits = await mem.search_with_decision("Porto", target="user:eve", filters={"session_id": "s2"})
            assert [h.memory.memory_id for h in hits] == [added.memory_id]
            reward = await mem.feedback(1.0, decision_id=decision.decision_id)
            assert reward.decision_id == decision.decision_id
            moved = await mem.update(added.memory_id, "Eve moved to Porto in April.")
            assert (await mem.get(added.memory_id)).content == moved.content == "Eve moved to Porto in April."
            assert await mem.count("user:eve") == 309
            await mem.delete(added.memory_id)
            with pytest.raises(NotFoundError):
                await mem.get(added.memory_id)
            assert len(await mem.list("user:eve")) == 308
        # closed by ``async with``: the workspace opens again, with what was written
        with Memory(tmp_path / "ws", encoder=minilm) as again:
            assert again.count("user:eve") == 308

    asyncio.run(main())


def test_async_memory_mirrors_memory() -> None:
    """The wrapped methods keep Memory's names, docs and signatures, and are coroutines."""
    for name in ("add", "add_many", "update", "delete", "get", "list", "search", "search_with_decision",
                 "search_many", "feedback", "close"):  # fmt: skip
        method = getattr(AsyncMemory, name)
        assert inspect.iscoroutinefunction(method), name
        assert method.__doc__ == getattr(Memory, name).__doc__
        assert inspect.signature(method) == inspect.signature(getattr(Memory, name))
    with pytest.raises(TypeError, match="wraps a Memory"):
        AsyncMemory("ws")  # type: ignore[arg-type]
