"""One episode of the LLM memory writer: the code that ``reme train-policy --decision writer`` runs here (``--backend
local``, ``reme.train.writer_grpo``) and that AReaL's workflow runs on GPUs (``--backend areal``,
``reme.integrations.areal.agent.ReMeWriterAgent.run``), so what is measured on a CPU is what AReaL scales.

An episode is the write environment's stream (``reme.envs.write``) with the LLM write gate (``reme.llm.write_gate``)
deciding a **window** of candidates:

1. the base rule (the budget-paced novelty/length rule, deterministic) decides the candidates before ``start``;
   every rollout of a GRPO group shares that state;
2. the writer decides the next ``window`` candidates (all of them with ``window=None``), sampled or greedy: store or
   skip, and the note stored with what it keeps (the memory's text is the turn plus the note);
3. the base rule decides the rest;
4. the conversation's questions are asked of what was stored by the **rank head** (a ``Memory`` over the stored
   memories, in a temporary workspace, its searches sampled and logged with their behaviour log-probabilities); a
   search's reward is the share of the question's evidence turns in its top ``k`` (a ``task`` reward), and the
   write rewards are the write environment's: each evidence turn found is a ``used`` reward of
   ``1 / |evidence|`` credited to the write that holds it, minus ``storage_cost`` per stored memory
   (``reme.policy.rewards.join_rewards``). Without a head, the store's fused search (ReMe's fusion) ranks.

The episode's reward (AReaL's ``run`` return) is the sum of the writer's decisions' joined returns; the head's
logged searches and rewards (``head_records``) are what its PPO step learns from.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reme.envs.write import WriteEnvConfig, WriteEpisode, WriteOutcome, WriteRollout
from reme.errors import BadInputError
from reme.policy.write import NoveltyLengthWritePolicy
from reme.retrieval.embedding import Encoder

__all__ = ["WriterEpisodeConfig", "WriterOutcome", "ask_with_head", "run_writer_episode"]

HEAD_TARGET = "user:episode"


@dataclass
class WriterEpisodeConfig(WriteEnvConfig):
    """The environment's settings (``budget`` 0.3, ``k``) with the writer's reward's storage cost."""

    storage_cost: float = 0.1
    """Charged once per stored memory (the conversation is one day), in units of one question's recall."""
    window: int | None = 4
    """Candidates the writer decides per episode (``None``: every candidate; evaluation)."""

    def episode(self, **changes: Any) -> WriterEpisodeConfig:
        """The episode's settings alone (a trainer's config extends this class), with ``changes`` applied."""
        return self.narrowed(WriterEpisodeConfig, **changes)


@dataclass
class WriterOutcome:
    """What one writer episode did and earned."""

    outcome: WriteOutcome
    window: range
    """Positions the writer decided."""
    head_records: list[Any] = field(default_factory=list)
    """The head's logged searches and their rewards (trajectory records) for its PPO step."""

    @property
    def writer_decisions(self) -> list[Any]:
        return [self.outcome.decisions[i] for i in self.window]

    @property
    def writer_returns(self) -> list[float]:
        return [self.outcome.returns[i] for i in self.window]

    @property
    def reward(self) -> float:
        """The writer's return: the sum of its decisions' joined returns."""
        return float(sum(self.writer_returns))


def run_writer_episode(
    episode: WriteEpisode,
    writer: Any,
    encoder: Encoder,
    config: WriterEpisodeConfig | None = None,
    *,
    start: int = 0,
    mode: str = "sample",
    rng: np.random.Generator | None = None,
    head: Any | None = None,
    base: Any | None = None,
    group_id: str | None = None,
) -> WriterOutcome:
    """One episode (module docstring): ``writer`` decides ``config.window`` candidates from ``start``."""
    config = config or WriterEpisodeConfig()
    if not 0 <= start <= episode.n:
        raise BadInputError(f"start must be in [0, {episode.n}], got {start}")
    base = base or NoveltyLengthWritePolicy()
    end = episode.n if config.window is None else min(episode.n, start + config.window)
    rollout = WriteRollout(episode, config.env(), encoder)
    rollout.run(base, until=start)
    rollout.run(writer, until=end, mode=mode, rng=rng)
    rollout.run(base)
    records: list[Any] = []
    tops = None
    if head is not None:
        tops, records = ask_with_head(rollout, head, encoder, rng, group_id or episode.episode_id)
    return WriterOutcome(outcome=rollout.finish(tops), window=range(start, end), head_records=records)


def ask_with_head(
    rollout: WriteRollout, head: Any, encoder: Encoder, rng: np.random.Generator | None, group_id: str
) -> tuple[list[np.ndarray], list[Any]]:
    """Each question's ranked slots from ``head`` over the rollout's stored memories (a ``Memory`` in a temporary
    workspace: the same candidates, features and logged decisions as a live search), and the log's records: the
    head's sampled searches and their rewards (the share of the question's evidence in the top ``k``)."""
    from reme.memory import Memory
    from reme.policy.decision import Decision
    from reme.policy.trajectory import read_records
    from reme.policy.write import HeuristicWritePolicy
    from reme.settings import WorkspaceSettings

    episode, k = rollout.episode, rollout.config.k
    n = len(rollout.slots)
    tops: list[np.ndarray] = [np.zeros(0, dtype=np.int64) for _ in episode.questions]
    if n == 0:
        return tops, []
    seed = None if rng is None else int(rng.integers(2**31))
    with tempfile.TemporaryDirectory(prefix="reme-writer-") as tmp:
        settings = WorkspaceSettings.model_validate({"mode": "sample"})
        memory = Memory(Path(tmp), encoder=encoder, rank_policy=head, write_policy=HeuristicWritePolicy(),
                        settings=settings, embedding_cache=False, seed=seed)  # fmt: skip
        try:
            items = [{"content": rollout.slot_text(s), "metadata": {"slot": s}} for s in range(n)]
            memory.add_many(items, HEAD_TARGET, vectors=rollout.slot_vectors[:n])
            for qi, question in enumerate(episode.questions):
                decision, hits = memory.search_with_decision(
                    question.question, k, HEAD_TARGET, min_score=float("-inf"), mode="sample",
                    query_vector=episode.query_vectors[qi : qi + 1], group_id=f"{group_id}:q{qi}",
                )  # fmt: skip
                top = np.asarray([int(h.memory.metadata["slot"]) for h in hits], dtype=np.int64)
                tops[qi] = top
                evidence = set(question.evidence)
                found = {t for s in top[:k].tolist() for t in episode.sources[rollout.slots[s]]} & evidence
                memory.feedback(len(found) / len(evidence), decision_id=decision.decision_id)
        finally:
            memory.close()
        records = [e.record for e in read_records(Path(tmp) / "trajectories") if e.record is not None]
    return tops, [r for r in records if not isinstance(r, Decision) or r.kind == "rank"]
