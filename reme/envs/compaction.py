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
"""

from __future__ import annotations

import math
import uuid
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reme.config import EmbeddingConfig
from reme.errors import BadInputError
from reme.policy.checkpoint import read_spec
from reme.policy.compact import (
    COMPACT_FEATURES,
    CompactState,
    HeuristicCompactPolicy,
    MLPCompactPolicy,
    RankedMLPCompactPolicy,
    compact_features,
    rule_token_count,
)
from reme.policy.decision import Decision, Mode
from reme.policy.rewards import JoinReport, join_rewards
from reme.policy.trajectory import RewardEvent
from reme.policy.write import WRITE_FEATURES, write_features
from reme.progress import progress_bar
from reme.retrieval.embedding import Encoder
from reme.retrieval.keyword import tokenize
from reme.schema import Episode
from reme.scoring import is_scored

from .hybrid import cached_encoder, hybrid_top_k

__all__ = [
    "COMPACTION_ENV_FEATURES",
    "CONTENT_FEATURES",
    "CONTEXT_FEATURES",
    "CompactionEnvConfig",
    "CompactionEpisode",
    "CompactionOutcome",
    "context_features",
    "evaluate_compaction",
    "hindsight_keep_labels",
    "join_outcome",
    "load_compact_policy",
    "prepare_compaction_episodes",
    "run_compaction",
]

CONTENT_FEATURES: tuple[str, ...] = ("log_numbers", "log_entities", "has_date", "is_question", "first_person")
"""Columns taken from ``write_features`` of a message's plain rendering (``speaker: text``)."""

CONTEXT_FEATURES: tuple[str, ...] = (
    "prev_has_observation",
    "fact_coverage",
    "redundancy",
    "fact_crowding",
    "prior_fact_similarity",
    "has_image",
    "log_turn_index",
    "session_opening",
    "mean_idf",
    "max_idf",
    "new_words",
    "answers_question",
    "relative_length",
)
"""Columns that relate a message to what came before it (never after: every one is known when the message
arrives). With ``v`` the unit vectors of the rendered turns and ``f`` those of the observations:

- ``prev_has_observation``: the previous turn has observations;
- ``fact_coverage``: ``max v_i . f`` over the facts of the three previous turns (is the message already said by a
  fact nearby?);
- ``redundancy``: mean of the five largest ``v_i . v_j``, ``j < i`` (does the conversation repeat it?);
- ``fact_crowding``: ``log(1 + c)``, ``c`` the mean over the turn's facts of the number of earlier facts with
  cosine > 0.6 (crowded facts compete for the store's top k);
- ``prior_fact_similarity``: ``max v_i . f`` over all earlier turns' facts;
- ``has_image``: the turn shares an image (caption);
- ``log_turn_index``: ``log(1 + position in its session)``; ``session_opening``: position < 2 (greetings);
- ``mean_idf`` / ``max_idf``: over the message's distinct BM25 tokens, ``log((i + 1) / (1 + df))`` with ``df``
  the number of earlier turns holding the token (how specific the message is to the conversation so far);
- ``new_words``: ``log(1 + number of its tokens no earlier turn used)``;
- ``answers_question``: the previous turn asks a question;
- ``relative_length``: ``log(1 + tokens)`` minus its mean over the (up to ten) previous turns of the session.
"""

COMPACTION_ENV_FEATURES: tuple[str, ...] = (
    *COMPACT_FEATURES,
    *CONTENT_FEATURES,
    "has_observation",
    *CONTEXT_FEATURES,
    "age_fraction",
)
"""The feature columns of a compaction state in this environment, one row per verbatim message:

- the 11 ``COMPACT_FEATURES`` of ``compact_features(state)`` (tokens, position, role, budget shares);
- ``log_numbers``, ``log_entities``, ``has_date``, ``is_question``, ``first_person``: ``write_features`` of the
  message's ``plain`` rendering (the dated prefix would make every message "have a date");
- ``has_observation``: 1 when the dataset lists observations for the turn (the offline extractor's output: the
  analogue of an LLM compactor's "this holds a fact" signal);
- the ``CONTEXT_FEATURES`` (the message against the turns and facts before it);
- ``age_fraction``: ``(t_now - t_msg) / max(t_now, 1)`` with ``t`` the turn's index in the conversation and
  ``t_now`` the newest turn streamed so far: 0 for the newest, near 1 for the first turn.
"""


def context_features(
    vectors: np.ndarray,
    fact_vectors: np.ndarray,
    fact_turn: np.ndarray,
    has_observation: np.ndarray,
    turn_index: Sequence[int],
    has_image: Sequence[bool],
    words: Sequence[Sequence[str]],
    is_question: np.ndarray,
    tokens: np.ndarray,
    session: Sequence[str],
) -> np.ndarray:
    """``(n, len(CONTEXT_FEATURES))`` float32 columns (documented at ``CONTEXT_FEATURES``); causal: row ``i``
    reads only turns ``<= i``."""
    n = len(vectors)
    out = np.zeros((n, len(CONTEXT_FEATURES)), dtype=np.float64)
    if n == 0:
        return out.astype(np.float32)
    out[1:, 0] = has_observation[:-1]
    turn_sims = vectors @ vectors.T
    fact_sims = vectors @ fact_vectors.T if len(fact_vectors) else np.zeros((n, 0))
    fact_fact = fact_vectors @ fact_vectors.T if len(fact_vectors) else np.zeros((0, 0))
    for i in range(n):
        near = np.flatnonzero((fact_turn >= i - 3) & (fact_turn < i))
        if len(near):
            out[i, 1] = fact_sims[i, near].max()
        if i:
            out[i, 2] = np.sort(turn_sims[i, :i])[-5:].mean()
        prior = np.flatnonzero(fact_turn < i)
        mine = np.flatnonzero(fact_turn == i)
        if len(prior):
            out[i, 4] = fact_sims[i, prior].max()
            if len(mine):
                out[i, 3] = np.log1p((fact_fact[np.ix_(mine, prior)] > 0.6).sum(axis=1).mean())
    out[:, 5] = np.asarray(has_image, dtype=np.float64)
    index = np.asarray(turn_index, dtype=np.float64)
    out[:, 6] = np.log1p(index)
    out[:, 7] = index < 2
    seen: Counter[str] = Counter()
    log_tokens = np.log1p(np.asarray(tokens, dtype=np.float64))
    for i in range(n):
        distinct = set(words[i])
        if distinct:
            idf = [math.log((i + 1) / (1 + seen[w])) for w in distinct]
            out[i, 8], out[i, 9] = float(np.mean(idf)), max(idf)
            out[i, 10] = math.log1p(sum(1 for w in distinct if not seen[w]))
        seen.update(distinct)
        out[i, 11] = is_question[i - 1] if i else 0.0
        earlier = [j for j in range(max(0, i - 10), i) if session[j] == session[i]]
        out[i, 12] = log_tokens[i] - log_tokens[earlier].mean() if earlier else 0.0
    return out.astype(np.float32)


_CONTENT_COLS = [WRITE_FEATURES.index(name) for name in CONTENT_FEATURES]


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
    """``(n, len(CONTENT_FEATURES) + 1 + len(CONTEXT_FEATURES))`` float32: the content columns,
    ``has_observation`` and the context columns."""
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
        static = np.zeros((len(texts), len(CONTENT_FEATURES) + 1), dtype=np.float32)  # context columns appended below
        facts: list[list[tuple[str, int]]] = []
        for i, turn in enumerate(episode.turns):
            static[i, : len(CONTENT_FEATURES)] = write_features(turn.render("plain"), None, None)[_CONTENT_COLS]
            observed = [f for f in episode.observations.get(turn.turn_id, []) if f and f.strip()]
            static[i, -1] = 1.0 if observed else 0.0
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
        context = context_features(
            vectors,
            fact_vectors,
            np.asarray(fact_turn, dtype=np.int64),
            static[:, -1],
            [turn.turn_index for turn in episode.turns],
            [bool(turn.image_caption) for turn in episode.turns],
            [tokenize(t) for t in texts],
            static[:, CONTENT_FEATURES.index("is_question")],
            np.asarray([rule_token_count(t) for t in texts], dtype=np.int64),
            [turn.session_id for turn in episode.turns],
        )
        static = np.concatenate([static, context], axis=1)
        return cls(
            episode_id=episode.episode_id,
            format=episode.format,
            text_format=text_format,
            turn_ids=[turn.turn_id for turn in episode.turns],
            texts=texts,
            tokens=np.asarray([rule_token_count(t) for t in texts], dtype=np.int64),
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


@dataclass
class _Stream:
    """The mutable state of one rollout; ``copy()`` forks it (the GRPO groups share a prefix)."""

    next_turn: int = 0
    verbatim: list[int] = field(default_factory=list)
    verbatim_tokens: int = 0
    store: list[int] = field(default_factory=list)
    summary: deque[tuple[int, int]] = field(default_factory=deque)
    """(turn, tokens) of each fact in the summary, oldest first."""
    summary_tokens: int = 0
    points: int = 0
    decisions: list[Decision] = field(default_factory=list)
    states: list[CompactState] = field(default_factory=list)

    def copy(self) -> _Stream:
        return _Stream(
            next_turn=self.next_turn,
            verbatim=list(self.verbatim),
            verbatim_tokens=self.verbatim_tokens,
            store=list(self.store),
            summary=deque(self.summary),
            summary_tokens=self.summary_tokens,
            points=self.points,
            decisions=list(self.decisions),
            states=list(self.states),
        )


def compaction_state(ep: CompactionEpisode, stream: _Stream, reserve: int) -> CompactState:
    """The ``CompactState`` of the current verbatim messages, with the ``COMPACTION_ENV_FEATURES`` columns."""
    idx = np.asarray(stream.verbatim, dtype=np.int64)
    n = len(idx)
    state = CompactState(
        tokens=ep.tokens[idx].tolist(),
        roles=[ep.roles[i] for i in stream.verbatim],
        tool_use_ids=[[] for _ in range(n)],
        tool_result_ids=[[] for _ in range(n)],
        protected=[False] * n,
        budget=reserve,
    )
    now = stream.next_turn - 1
    age = ((now - idx) / max(now, 1)).astype(np.float32)[:, None]
    state.features = np.concatenate([compact_features(state), ep.static_features[idx], age], axis=1)
    return state


def _compact(
    ep: CompactionEpisode, stream: _Stream, decision: Decision, state: CompactState, summary_budget: int
) -> None:
    keep = [a == "keep" for a in decision.action]
    compacted = [i for i, k in zip(stream.verbatim, keep) if not k]
    stream.verbatim = [i for i, k in zip(stream.verbatim, keep) if k]
    stream.verbatim_tokens = int(sum(int(ep.tokens[i]) for i in stream.verbatim))
    stream.store.extend(compacted)
    for i in compacted:  # message order = turn order
        for _, tokens in ep.facts[i]:
            stream.summary.append((i, tokens))
            stream.summary_tokens += tokens
    while stream.summary and stream.summary_tokens > summary_budget:
        _, tokens = stream.summary.popleft()
        stream.summary_tokens -= tokens


def _advance(
    ep: CompactionEpisode,
    stream: _Stream,
    policy: Any,
    config: CompactionEnvConfig,
    mode: Mode,
    rng: np.random.Generator | None,
    sample_points: set[int] | None,
    stop_at: int | None = None,
) -> bool:
    """Stream messages until the end (``True``) or until compaction point ``stop_at`` is due (``False``, the
    point not yet decided: the stream then holds the over-budget context of that point)."""
    context, reserve, summary_budget = config.budgets(ep.total_tokens)
    while True:
        if stream.verbatim_tokens > context:  # a due compaction point (left by stop_at or just reached)
            if stop_at is not None and stream.points == stop_at:
                return False
            state = compaction_state(ep, stream, reserve)
            point_mode: Mode = mode if sample_points is None or stream.points in sample_points else "greedy"
            decision = policy.decide(state, mode=point_mode, rng=rng)
            decision.episode_id = ep.episode_id
            decision.step = stream.points
            stream.decisions.append(decision)
            stream.states.append(state)
            _compact(ep, stream, decision, state, summary_budget)
            stream.points += 1
            continue
        if stream.next_turn >= ep.n_messages:
            return True
        i = stream.next_turn
        stream.verbatim.append(i)
        stream.verbatim_tokens += int(ep.tokens[i])
        stream.next_turn += 1


def _score(ep: CompactionEpisode, stream: _Stream, config: CompactionEnvConfig) -> CompactionOutcome:
    verbatim = set(stream.verbatim)
    summarised = {i for i, _ in stream.summary}
    store = sorted(stream.store)
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
    kept = stream.verbatim_tokens / total
    unmet = float(np.mean([bool(d.extra.get("budget_unmet")) for d in stream.decisions])) if stream.decisions else 0.0
    return CompactionOutcome(
        decisions=list(stream.decisions),
        states=list(stream.states),
        evidence_reachable=reachable,
        kept_token_fraction=kept,
        budget_unmet=unmet,
        reward=reachable - config.token_cost * kept,
        questions=ep.n_questions,
        per_question=per_question,
        final_verbatim=list(stream.verbatim),
        summary_tokens=stream.summary_tokens,
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
    stream = _Stream()
    _advance(ep, stream, policy, config, mode, rng, sample_points)
    return _score(ep, stream, config)


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
    """``heuristic`` (ReMe's tail reserve) or a checkpoint directory of an ``MLPCompactPolicy`` or a
    ``RankedMLPCompactPolicy``."""
    if spec == "heuristic":
        return HeuristicCompactPolicy()
    if Path(spec).is_dir():
        name = read_spec(spec).get("policy")
        cls = RankedMLPCompactPolicy if name == RankedMLPCompactPolicy.name else MLPCompactPolicy
        return cls.load(spec)
    raise BadInputError(f"unknown compact policy {spec!r}: use 'heuristic' or a checkpoint directory")
