"""``ReMe``: the vector memory of ReMe 0.3.1.x (upstream's ``from reme import ReMe``), on this project's ``Memory``.

Same constructor keywords, same async methods and return shapes as upstream's ``reme.ReMe``; what differs is
underneath. Memories live in one workspace (``working_dir``) in targets ``user:<name>`` (personal memory),
``task:<name>`` (procedural) and ``tool:<name>`` (tool memory). Retrieval is this project's hybrid search ranked by
the workspace's rank policy; ``summarize_memory`` lets an LLM propose memories and the workspace's *write policy*
decide, per candidate, to store, discard or update. Every decision goes to the trajectory log:

- each rank and write decision of the policies (re-scorable by ``reme trajectories verify``);
- each LLM call, as a ``Decision`` whose policy starts with ``llm`` and whose ``logprob`` is the sum of the
  model's token log-probabilities (``extra["token_logprobs"]``), or ``None`` (untrainable) when the endpoint
  returned none.

Nothing needs a network: without an LLM ``retrieve_memory`` answers with the memories it found (a numbered list)
and ``summarize_memory`` offers the conversation's user turns to the write policy.

The package: ``face`` (the ``ReMe`` class), ``retrieve`` and ``summarize`` (its read and write paths), ``prompts``,
``parse`` (the summarizer's reply), ``messages`` (its message reader), ``targets``, ``store_config``, ``listing``
and ``llm_calls`` (the record of an LLM call). Explicit adds write through ``explicit_write_policy`` by passing it
to ``Memory.add_many(policy=...)``.

Example::

    import asyncio
    from reme.vector import ReMe

    async def main():
        async with ReMe(working_dir="./mem") as reme:
            node = await reme.add_memory("Alice prefers green tea.", user_name="alice")
            print(await reme.retrieve_memory("What does Alice drink?", user_name="alice"))

    asyncio.run(main())
"""

from __future__ import annotations

from reme.messages import text_messages as normalize_messages
from reme.policy.write import EXPLICIT_WRITE_TEMPERATURE, explicit_write_policy
from reme.vector.face import APPLICATION_KEYS, ReMe
from reme.vector.llm_calls import LLM_RETRIEVE_POLICY, LLM_SUMMARIZER_POLICY
from reme.vector.parse import parse_candidates
from reme.vector.prompts import NO_MEMORY, format_nodes, retrieve_prompt, summary_answer, summary_prompt
from reme.vector.store_config import LOCAL_VECTOR_STORES, SERVER_VECTOR_STORES, check_vector_store
from reme.vector.targets import conversation_targets

__all__ = [
    "APPLICATION_KEYS",
    "EXPLICIT_WRITE_TEMPERATURE",
    "LLM_RETRIEVE_POLICY",
    "LLM_SUMMARIZER_POLICY",
    "LOCAL_VECTOR_STORES",
    "NO_MEMORY",
    "SERVER_VECTOR_STORES",
    "ReMe",
    "check_vector_store",
    "conversation_targets",
    "explicit_write_policy",
    "format_nodes",
    "normalize_messages",
    "parse_candidates",
    "retrieve_prompt",
    "summary_answer",
    "summary_prompt",
]
