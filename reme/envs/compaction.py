"""The compaction environment: a conversation streams into a bounded context, a compact policy decides which
messages stay verbatim at every overflow, and the conversation's questions are asked against what is left.

Definitions (also in ``docs/evaluation.md``, "Compaction environment"):

- Messages are the episode's turns in order, rendered with ``Turn.render(text_format)``; role ``user`` for the
  episode's first speaker, ``assistant`` for the others; tokens are ``rule_token_count`` of the rendered text.
  There are no tool calls and no protected messages.
- Context budget ``C = floor(B * conversation tokens)``; reserve ``R = floor(reserve_ratio * C)``; summary budget
  ``S = floor(summary_ratio * C)``.
- Messages are appended one at a time. Whenever the verbatim tokens exceed ``C`` a compaction point is reached:
  the policy decides keep/compact over the verbatim messages with ``budget=R`` (so at most ``R`` stay).
  Compacted turns leave the context; their observations (``Episode.observations``) are appended, in turn order,
  to a running summary that keeps the newest facts fitting ``S`` tokens; the long-term store receives what the
  memory writer derives from the compacted turns: their observations (``store="observations"``, the default:
  ReMe indexes only the memory files its summariser writes, never ``dialog/``), or the turns themselves
  (``store="turns"``).
- After the stream (no final compaction) every scored question is asked. An evidence turn is reachable when it
  is verbatim, or compacted with at least one fact in the summary, or the top ``k`` of ``hybrid_top_k`` over
  the store for the question holds it (or a fact derived from it). ``evidence_reachable`` is the mean over
  questions of the reachable fraction of their evidence turns.
- The reward of a rollout is ``evidence_reachable - token_cost * kept_token_fraction``; every compaction decision
  of the rollout is credited with it (one ``RewardEvent`` per decision, joined by ``join_rewards``).

A rollout is a ``CompactionRollout`` (``reme.envs.rollout.Rollout``); the feature columns of its states are
``reme.envs.compaction_features``'.
"""

from __future__ import annotations

import math
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from reme.config import EmbeddingConfig
from reme.errors import BadInputError
from reme.eval.metrics import is_scored
from reme.messages import rule_token_count
from reme.policy.checkpoint import read_spec
from reme.policy.compact import (
    CompactState,
    HeuristicCompactPolicy,
    compact_features,
)
from reme.policy.compact_mlp import MLPCompactPolicy, RankedMLPCompactPolicy
from reme.policy.decision import Decision, Mode
from reme.policy.rewards import JoinReport, join_rewards
from reme.policy.trajectory import RewardEvent
from reme.progress import progress_bar
from reme.retrieval.embedding import Encoder
from reme.retrieval.keyword import tokenize
from reme.schema import Episode

from .compaction_features import static_features
from .hybrid import cached_encoder, hybrid_top_k

__all__ = [
    "CompactionEnvConfig",
    "CompactionEpisode",
    "CompactionOutcome",
    "CompactionRollout",
    "evaluate_compaction",
    "hindsight_keep_labels",
    "join_outcome",
    "load_compact_policy",
    "point_rollouts",
    "prepare_compaction_episodes",
    "run_compaction",
]

STORE_KINDS = ("turns", "observations")


@dataclass
class CompactionEnvConfig:
    """Budgets and reward of the environment (see the module docstring)."""

    budget: float
    """B in (0, 1]: the context budget as a share of the conversation's tokens."""
    reserve_ratio: float = 0.5
    """R / C: tokens that may stay verbatim after a compaction (ReMe's default 10k of an 87k window is ~0.115)."""
    summary_ratio: float = 0.25
    """S / C: tokens of the running summary of observations."""
    k: int = 10
    """Results of the store search per question."""
    token_cost: float = 0.05
    """Reward charged per unit of ``kept_token_fraction``."""
    text_format: str = "dated"
    store: str = "observations"
    """What the long-term store holds of the compacted turns: ``observations`` (the facts the memory writer
    derived from them, as ReMe indexes only the memory files its summariser writes; a turn without facts leaves
    nothing searchable) or ``turns`` (the compacted messages themselves, as if ReMe's ``dialog/`` were indexed)."""

    def __post_init__(self) -> None:
        def number(value: Any) -> bool:
            return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)

        if not number(self.budget) or not 0.0 < self.budget <= 1.0:
            raise BadInputError(f"budget must be a number in (0, 1], got {self.budget!r}")
        if not number(self.reserve_ratio) or not 0.0 < self.reserve_ratio <= 1.0:
            raise BadInputError(f"reserve_ratio must be in (0, 1], got {self.reserve_ratio!r}")
        if not number(self.summary_ratio) or not 0.0 <= self.summary_ratio <= 1.0:
            raise BadInputError(f"summary_ratio must be in [0, 1], got {self.summary_ratio!r}")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise BadInputError(f"k must be an integer >= 1, got {self.k!r}")
        if not number(self.token_cost) or self.token_cost < 0:
            raise BadInputError(f"token_cost must be a number >= 0, got {self.token_cost!r}")
        if self.text_format not in ("dated", "plain"):
            raise BadInputError(f"unknown text format {self.text_format!r}: use 'dated' or 'plain'")
        if self.store not in STORE_KINDS:
            raise BadInputError(f"unknown store {self.store!r}: use {' or '.join(STORE_KINDS)}")

    def env(self, **changes: Any) -> CompactionEnvConfig:
        """The environment's settings alone (a trainer's config extends this class), with ``changes`` applied."""
        values = {f.name: getattr(self, f.name) for f in fields(CompactionEnvConfig)}
        return CompactionEnvConfig(**(values | changes))

    def budgets(self, total_tokens: int) -> tuple[int, int, int]:
        """``(C, R, S)`` for a conversation of ``total_tokens`` tokens."""
        context = math.floor(self.budget * total_tokens)
        return context, math.floor(self.reserve_ratio * context), math.floor(self.summary_ratio * context)


@dataclass
class CompactionEpisode:
    """The precomputed arrays of one episode: per message (turn) its rendering, tokens, role, vector, BM25
    tokens, static features and observations; per scored question its vector, tokens and evidence indices."""

    episode_id: str
    format: str
    text_format: str
    turn_ids: list[str]
    texts: list[str]
    tokens: np.ndarray
    """``(n,)`` int64 tokens of each message."""
    roles: list[str]
    vectors: np.ndarray
    """``(n, d)`` unit rows of the rendered messages."""
    bm25_tokens: list[list[str]]
    static_features: np.ndarray
    """``(n, len(CONTENT_FEATURES) + 1 + len(HISTORY_FEATURES))`` float32 (``static_features``): the content
    columns, ``has_observation`` and the history columns."""
    facts: list[list[tuple[str, int]]]
    """Each turn's observations with their tokens."""
    question_ids: list[str]
    question_vectors: np.ndarray
    question_tokens: list[list[str]]
    evidence: list[np.ndarray]
    """Per question, the indices of its evidence turns (non-empty)."""
    fact_turn: np.ndarray | None = None
    """``(f,)`` the turn of each observation (all facts of the episode, in turn order)."""
    fact_vectors: np.ndarray | None = None
    fact_bm25_tokens: list[list[str]] | None = None

    @property
    def n_messages(self) -> int:
        return len(self.turn_ids)

    @property
    def total_tokens(self) -> int:
        return int(self.tokens.sum())

    @property
    def n_questions(self) -> int:
        return len(self.question_ids)

    @classmethod
    def build(cls, episode: Episode, encoder: Encoder, text_format: str = "dated") -> CompactionEpisode:
        texts = [turn.render(text_format) for turn in episode.turns]
        first = episode.turns[0].speaker if episode.turns else ""
        index = {turn.turn_id: i for i, turn in enumerate(episode.turns)}
        facts: list[list[tuple[str, int]]] = []
        for turn in episode.turns:
            observed = [f for f in episode.observations.get(turn.turn_id, []) if f and f.strip()]
            facts.append([(f, rule_token_count(f)) for f in observed])
        questions = []
        for q in episode.questions:
            evidence = sorted({index[t] for t in q.evidence if t in index})
            if is_scored(q, episode.format) and evidence:
                questions.append((q, np.asarray(evidence, dtype=np.int64)))
        dim = encoder.dim
        vectors = encoder.encode(texts) if texts else np.zeros((0, dim), dtype=np.float32)
        qtexts = [q.question for q, _ in questions]
        qvectors = encoder.encode(qtexts) if qtexts else np.zeros((0, dim), dtype=np.float32)
        fact_texts: list[str] = []
        fact_turn: list[int] = []
        for i, turn in enumerate(episode.turns):
            prefix = f"({turn.date}) " if text_format == "dated" and turn.date else ""
            for fact, _ in facts[i]:
                fact_texts.append(prefix + fact)
                fact_turn.append(i)
        fact_vectors = encoder.encode(fact_texts) if fact_texts else np.zeros((0, dim), dtype=np.float32)
        vectors = np.asarray(vectors, dtype=np.float32)
        fact_vectors = np.asarray(fact_vectors, dtype=np.float32)
        tokens = np.asarray([rule_token_count(t) for t in texts], dtype=np.int64)
        static = static_features(
            episode, facts, texts, tokens, vectors, fact_vectors, np.asarray(fact_turn, dtype=np.int64)
        )
        return cls(
            episode_id=episode.episode_id,
            format=episode.format,
            text_format=text_format,
            turn_ids=[turn.turn_id for turn in episode.turns],
            texts=texts,
            tokens=tokens,
            roles=["user" if turn.speaker == first else "assistant" for turn in episode.turns],
            vectors=vectors,
            bm25_tokens=[tokenize(t) for t in texts],
            static_features=static,
            facts=facts,
            question_ids=[q.question_id for q, _ in questions],
            question_vectors=np.asarray(qvectors, dtype=np.float32),
            question_tokens=[tokenize(q.question) for q, _ in questions],
            evidence=[ev for _, ev in questions],
            fact_turn=np.asarray(fact_turn, dtype=np.int64),
            fact_vectors=fact_vectors,
            fact_bm25_tokens=[tokenize(t) for t in fact_texts],
        )


def prepare_compaction_episodes(
    episodes: Sequence[Episode],
    embedding: EmbeddingConfig | None = None,
    encoder: Encoder | None = None,
    cache_path: str | Path | None = None,
    text_format: str = "dated",
    show_progress: bool = False,
) -> list[CompactionEpisode]:
    """``CompactionEpisode.build`` for each episode, with the encoder behind the persistent embedding cache."""
    enc = cached_encoder(embedding, encoder, cache_path)
    out: list[CompactionEpisode] = []
    with progress_bar("encoding conversations", total=len(episodes), enabled=show_progress) as advance:
        for episode in episodes:
            out.append(CompactionEpisode.build(episode, enc, text_format=text_format))
            advance(1)
    return out


# --------------------------------------------------------------------------------------------------------------
# The stream
# --------------------------------------------------------------------------------------------------------------


@dataclass
class CompactionOutcome:
    """One rollout: its decisions (with the states they saw) and its scores."""

    decisions: list[Decision]
    states: list[CompactState]
    evidence_reachable: float
    kept_token_fraction: float
    budget_unmet: float
    reward: float
    questions: int
    per_question: list[float] = field(default_factory=list)
    """Reachable fraction of each scored question's evidence (in ``CompactionEpisode.question_ids`` order)."""
    final_verbatim: list[int] = field(default_factory=list)
    """Indices of the messages verbatim at the end."""
    summary_tokens: int = 0
    store: list[int] = field(default_factory=list)
    """Indices of the compacted messages (the long-term store), in message order."""


class CompactionRollout:
    """One pass of a compact policy over an episode (a ``reme.envs.rollout.Rollout``): the messages stream into the
    context and every compaction point is decided. ``copy()`` forks it (a group shares its prefix), ``run``
    decides points, ``state()`` is the state of a due point, ``finish()`` scores the end state."""

    def __init__(self, episode: CompactionEpisode, config: CompactionEnvConfig) -> None:
        self.episode = episode
        self.config = config
        self.context, self.reserve, self.summary_budget = config.budgets(episode.total_tokens)
        self.next_turn = 0
        self.verbatim: list[int] = []
        """Indices of the messages in the context, in message order."""
        self.verbatim_tokens = 0
        self.store: list[int] = []
        """Indices of the compacted messages (the long-term store)."""
        self.summary: deque[tuple[int, int]] = deque()
        """(turn, tokens) of each fact in the summary, oldest first."""
        self.summary_tokens = 0
        self.points = 0
        """Compaction points decided so far."""
        self.decisions: list[Decision] = []
        self.states: list[CompactState] = []

    def copy(self) -> CompactionRollout:
        other = CompactionRollout.__new__(CompactionRollout)
        other.__dict__.update(self.__dict__)
        other.verbatim, other.store, other.summary = list(self.verbatim), list(self.store), deque(self.summary)
        other.decisions, other.states = list(self.decisions), list(self.states)
        return other

    @property
    def done(self) -> bool:
        """Every message streamed and no compaction point due."""
        return self.next_turn >= self.episode.n_messages and self.verbatim_tokens <= self.context

    def state(self) -> CompactState:
        """The ``CompactState`` of the current verbatim messages (budget ``R``), with the ``COMPACTION_ENV_FEATURES``
        columns."""
        ep = self.episode
        idx = np.asarray(self.verbatim, dtype=np.int64)
        n = len(idx)
        state = CompactState(
            tokens=ep.tokens[idx].tolist(),
            roles=[ep.roles[i] for i in self.verbatim],
            tool_use_ids=[[] for _ in range(n)],
            tool_result_ids=[[] for _ in range(n)],
            protected=[False] * n,
            budget=self.reserve,
        )
        now = self.next_turn - 1
        age = ((now - idx) / max(now, 1)).astype(np.float32)[:, None]
        state.features = np.concatenate([compact_features(state), ep.static_features[idx], age], axis=1)
        return state

    def run(
        self,
        policy: Any,
        until: int | None = None,
        mode: Mode = "greedy",
        rng: np.random.Generator | None = None,
        sample_points: set[int] | None = None,
    ) -> None:
        """Stream messages, deciding each compaction point with ``policy``, to the end or until compaction point
        ``until`` is due (not yet decided: the context then holds that point's over-budget messages). ``mode``
        applies to the points in ``sample_points`` (every point when ``None``); the others are greedy."""
        ep = self.episode
        while True:
            if self.verbatim_tokens > self.context:  # a due compaction point (left by until or just reached)
                if until is not None and self.points == until:
                    return
                state = self.state()
                point_mode: Mode = mode if sample_points is None or self.points in sample_points else "greedy"
                decision = policy.decide(state, mode=point_mode, rng=rng)
                decision.episode_id = ep.episode_id
                decision.step = self.points
                self.decisions.append(decision)
                self.states.append(state)
                self._compact(decision)
                self.points += 1
                continue
            if self.next_turn >= ep.n_messages:
                return
            i = self.next_turn
            self.verbatim.append(i)
            self.verbatim_tokens += int(ep.tokens[i])
            self.next_turn += 1

    def _compact(self, decision: Decision) -> None:
        ep = self.episode
        keep = [a == "keep" for a in decision.action]
        compacted = [i for i, k in zip(self.verbatim, keep) if not k]
        self.verbatim = [i for i, k in zip(self.verbatim, keep) if k]
        self.verbatim_tokens = int(sum(int(ep.tokens[i]) for i in self.verbatim))
        self.store.extend(compacted)
        for i in compacted:  # message order = turn order
            for _, tokens in ep.facts[i]:
                self.summary.append((i, tokens))
                self.summary_tokens += tokens
        while self.summary and self.summary_tokens > self.summary_budget:
            _, tokens = self.summary.popleft()
            self.summary_tokens -= tokens

    def finish(self) -> CompactionOutcome:
        """Ask every scored question against what is left (verbatim, summarised or found in the store's top k)."""
        ep, config = self.episode, self.config
        verbatim = set(self.verbatim)
        summarised = {i for i, _ in self.summary}
        store = sorted(self.store)
        per_question = [0.0] * ep.n_questions
        searched: list[int] = []
        for qi, evidence in enumerate(ep.evidence):
            direct = [int(i) in verbatim or int(i) in summarised for i in evidence]
            if all(direct) or not store:
                per_question[qi] = sum(direct) / len(direct)
            else:
                searched.append(qi)
        if searched:
            if config.store == "observations":
                assert ep.fact_turn is not None and ep.fact_vectors is not None and ep.fact_bm25_tokens is not None
                items = np.flatnonzero(np.isin(ep.fact_turn, np.asarray(store, dtype=np.int64)))
                owner = ep.fact_turn[items].tolist()
                vectors, bm25 = ep.fact_vectors[items], [ep.fact_bm25_tokens[j] for j in items.tolist()]
            else:
                owner = store
                vectors, bm25 = ep.vectors[np.asarray(store, dtype=np.int64)], [ep.bm25_tokens[i] for i in store]
            tops = hybrid_top_k(
                vectors,
                bm25,
                ep.question_vectors[np.asarray(searched, dtype=np.int64)],
                [ep.question_tokens[qi] for qi in searched],
                k=config.k,
            )
            for qi, top in zip(searched, tops):
                found = {owner[j] for j in top.tolist()}
                evidence = ep.evidence[qi]
                hits = sum(1 for i in evidence.tolist() if i in verbatim or i in summarised or i in found)
                per_question[qi] = hits / len(evidence)
        total = max(ep.total_tokens, 1)
        reachable = float(np.mean(per_question)) if per_question else 0.0
        kept = self.verbatim_tokens / total
        unmet = float(np.mean([bool(d.extra.get("budget_unmet")) for d in self.decisions])) if self.decisions else 0.0
        return CompactionOutcome(
            decisions=list(self.decisions),
            states=list(self.states),
            evidence_reachable=reachable,
            kept_token_fraction=kept,
            budget_unmet=unmet,
            reward=reachable - config.token_cost * kept,
            questions=ep.n_questions,
            per_question=per_question,
            final_verbatim=list(self.verbatim),
            summary_tokens=self.summary_tokens,
            store=store,
        )


def run_compaction(
    ep: CompactionEpisode,
    policy: Any,
    config: CompactionEnvConfig,
    mode: Mode = "greedy",
    rng: np.random.Generator | None = None,
    sample_points: set[int] | None = None,
) -> CompactionOutcome:
    """Stream ``ep`` through ``policy`` and score the end state. ``mode`` applies to the compaction points in
    ``sample_points`` (every point when ``None``); the other points are greedy."""
    if mode == "sample" and rng is None:
        rng = np.random.default_rng()
    rollout = CompactionRollout(ep, config)
    rollout.run(policy, mode=mode, rng=rng, sample_points=sample_points)
    return rollout.finish()


def point_rollouts(
    ep: CompactionEpisode, policy: Any, config: CompactionEnvConfig
) -> tuple[list[CompactionRollout], float]:
    """The greedy run of ``policy`` on ``ep``: a fork of the rollout at each of its compaction points (due, not yet
    decided), and the run's reward."""
    rollout = CompactionRollout(ep, config)
    forks: list[CompactionRollout] = []
    while True:
        rollout.run(policy, until=len(forks))
        if rollout.done:
            return forks, rollout.finish().reward
        forks.append(rollout.copy())


def hindsight_keep_labels(ep: CompactionEpisode, config: CompactionEnvConfig) -> np.ndarray:
    """``(n,)`` float32 hindsight credit for keeping each message verbatim, read from the episode's reward: 1 for a
    turn that is evidence of a scored question which the search over the whole long-term store (every message
    compacted) misses, so that compacting the turn loses it for that question unless the summary still holds it;
    0 otherwise. The trainer fits the compact policy's score to these labels before GRPO (a warm start from the
    same questions that define the reward; never used at decision time)."""
    labels = np.zeros(ep.n_messages, dtype=np.float32)
    if not ep.n_questions or not ep.n_messages:
        return labels
    if config.store == "observations":
        assert ep.fact_turn is not None and ep.fact_vectors is not None and ep.fact_bm25_tokens is not None
        owner, vectors, bm25 = ep.fact_turn.tolist(), ep.fact_vectors, ep.fact_bm25_tokens
    else:
        owner, vectors, bm25 = list(range(ep.n_messages)), ep.vectors, ep.bm25_tokens
    tops = (
        hybrid_top_k(vectors, bm25, ep.question_vectors, ep.question_tokens, k=config.k)
        if owner
        else [np.zeros(0, dtype=np.int64)] * ep.n_questions
    )
    for evidence, top in zip(ep.evidence, tops):
        found = {owner[j] for j in top.tolist()}
        for i in evidence.tolist():
            if i not in found:
                labels[i] = 1.0
    return labels


def join_outcome(outcome: CompactionOutcome) -> JoinReport:
    """The decision core's join of a rollout: one ``task`` reward (the rollout's reward) per compaction decision,
    so every decision's return is the rollout's reward."""
    records: list[Decision | RewardEvent] = list(outcome.decisions)
    for decision in outcome.decisions:
        records.append(
            RewardEvent(
                reward_id=uuid.uuid4().hex,
                decision_id=decision.decision_id,
                source="task",
                value=float(outcome.reward),
                episode_id=decision.episode_id,
            )
        )
    return join_rewards(records)


def evaluate_compaction(
    episodes: Sequence[CompactionEpisode],
    policies: Mapping[str, Any],
    config: CompactionEnvConfig,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Greedy rollouts of every policy on every episode: ``evidence_reachable`` (mean over questions),
    ``kept_token_fraction``, ``budget_unmet`` and ``reward`` (means over episodes), rounded to 4 places."""
    formats = sorted({ep.format for ep in episodes})
    results: dict[str, dict[str, float]] = {}
    with progress_bar("compaction rollouts", total=len(policies) * len(episodes), enabled=show_progress) as advance:
        for label, policy in policies.items():
            per_question: list[float] = []
            kept: list[float] = []
            unmet: list[float] = []
            rewards: list[float] = []
            for ep in episodes:
                outcome = run_compaction(ep, policy, config)
                per_question.extend(outcome.per_question)
                kept.append(outcome.kept_token_fraction)
                unmet.append(outcome.budget_unmet)
                rewards.append(outcome.reward)
                advance(1)
            results[label] = {
                "evidence_reachable": round(float(np.mean(per_question)) if per_question else 0.0, 4),
                "kept_token_fraction": round(float(np.mean(kept)) if kept else 0.0, 4),
                "budget_unmet": round(float(np.mean(unmet)) if unmet else 0.0, 4),
                "reward": round(float(np.mean(rewards)) if rewards else 0.0, 4),
            }
    return {
        "format": formats[0] if len(formats) == 1 else ",".join(formats),
        "queries": sum(ep.n_questions for ep in episodes),
        "budget": config.budget,
        "results": results,
    }


def load_compact_policy(spec: str) -> Any:
    """``heuristic`` (ReMe's tail reserve), ``default`` (the shipped default) or a checkpoint directory of an
    ``MLPCompactPolicy`` or a ``RankedMLPCompactPolicy``."""
    if spec == "heuristic":
        return HeuristicCompactPolicy()
    if spec == "default":  # the shipped default of this reme version
        from reme.policy.registry import shipped_policy

        return shipped_policy("compact")[1]
    if Path(spec).is_dir():
        name = read_spec(spec).get("policy")
        cls = RankedMLPCompactPolicy if name == RankedMLPCompactPolicy.name else MLPCompactPolicy
        return cls.load(spec)
    raise BadInputError(f"unknown compact policy {spec!r}: use 'heuristic', 'default' or a checkpoint directory")
