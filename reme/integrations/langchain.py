"""LangChain integration (the ``langchain`` extra): a ``BaseRetriever`` over a reme ``Memory``.

``ReMeRetriever(memory=mem, target="user:alice")`` is a runnable retriever: ``retriever.invoke(query)`` (or
``ainvoke``, or any chain it is part of) searches one target of the workspace with the rank policy and returns
LangChain ``Document``s, best first. Each document's ``metadata`` holds the memory's own metadata plus:

- ``memory_id``: the memory (``Memory.feedback(value, memory_id=...)`` credits the write that stored it);
- ``score``: the rank policy's score; ``vector_score`` / ``keyword_score``: the two retrieval scores; ``rank``;
- ``decision_id``: the logged ranking decision that returned it;
- ``target``, ``memory_type``, ``time_created``, ``message_time``.

Every search is a ranking decision in the workspace's trajectory log; the retriever remembers the ids of those made
since the last feedback, and ``retriever.feedback(1.0)`` once the answer built from them turned out right (or
``feedback(-1.0)`` when the user rejected it) logs a reward for each, which ``reme.policy.rewards.join_rewards``
joins to them for training. ``feedback(value, document=doc)`` rewards only the search that returned ``doc``.

A LangGraph ``BaseStore`` is deliberately not provided: a store's ``put`` must keep exactly the value under its key,
while reme's writes go through a write policy that may discard a memory or let it supersede its nearest neighbour,
and reme's targets are a fixed grammar (``user:NAME``, ``task:NAME``, ...) rather than free namespace tuples.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from langchain_core.callbacks import (  # type: ignore[import-not-found, unused-ignore]
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document  # type: ignore[import-not-found, unused-ignore]
from langchain_core.retrievers import BaseRetriever  # type: ignore[import-not-found, unused-ignore]
from pydantic import ConfigDict, Field, PrivateAttr

from reme.errors import BadInputError
from reme.memory import Memory
from reme.policy.trajectory import RewardEvent
from reme.schema import SearchHit

__all__ = ["ReMeRetriever", "hit_to_document"]


def hit_to_document(hit: SearchHit) -> Document:
    """A LangChain ``Document`` of one search hit: the memory text, and the metadata listed in the module docstring
    (reme's fields win over a memory metadata key of the same name)."""
    node = hit.memory
    metadata = {
        **node.metadata,
        "memory_id": node.memory_id,
        "score": hit.score,
        "vector_score": hit.vector_score,
        "keyword_score": hit.keyword_score,
        "rank": hit.rank,
        "decision_id": hit.decision_id,
        "target": node.memory_target,
        "memory_type": str(getattr(node.memory_type, "value", node.memory_type)),
        "time_created": node.time_created,
        "message_time": node.message_time,
    }
    return Document(page_content=node.content, metadata=metadata, id=node.memory_id)


class ReMeRetriever(BaseRetriever):  # type: ignore[misc, unused-ignore]
    """LangChain retriever over one target of a reme ``Memory`` (see the module docstring)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: Memory
    """The reme memory searched."""
    target: str | None = None
    """The memory target searched (``None``: the default target)."""
    k: int = Field(default=5, ge=1, le=1000)
    """Documents returned per query."""
    min_score: float | None = None
    """Fused-score floor of a hit (``None``: the workspace's, 0.1)."""
    episode_id: str | None = None
    """Stamped on the searches' decisions and on the rewards, to group them per conversation."""

    _pending: list[str] = PrivateAttr(default_factory=list)

    @classmethod
    def from_workspace(cls, workspace: str | Path, **kwargs: Any) -> ReMeRetriever:
        """A retriever over a ``Memory`` opened in ``workspace`` (close it with ``retriever.memory.close()``)."""
        return cls(memory=Memory(workspace), **kwargs)

    @property
    def pending_decisions(self) -> list[str]:
        """Ids of the ranking decisions made since the last ``feedback`` without a ``decision_id``, oldest first."""
        return list(self._pending)

    def _search(self, query: str) -> list[Document]:
        decision, hits = self.memory.search_with_decision(
            query, self.k, self.target, min_score=self.min_score, episode_id=self.episode_id
        )
        self._pending.append(decision.decision_id)
        return [hit_to_document(hit) for hit in hits]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return self._search(query)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        return await asyncio.to_thread(self._search, query)

    def feedback(
        self,
        value: float,
        *,
        decision_id: str | None = None,
        document: Document | None = None,
        source: str = "feedback",
    ) -> list[RewardEvent]:
        """Log a reward for retrieval decisions: the one named (``decision_id``, or the one that returned
        ``document``), else every decision since the last such call (then forgotten). ``source``: ``feedback``
        (a user's verdict), ``task`` (a task outcome), ``answer`` (a graded answer), ``used``. Returns the records."""
        if document is not None:
            decision_id = (document.metadata or {}).get("decision_id")
            if not decision_id:
                raise BadInputError("the document carries no decision_id: it did not come from a ReMeRetriever")
        if decision_id is not None:
            targets = [decision_id]
            if decision_id in self._pending:
                self._pending.remove(decision_id)
        else:
            targets, self._pending = self._pending, []
        return [self.memory.feedback(value, decision_id=d, source=source, episode_id=self.episode_id) for d in targets]
