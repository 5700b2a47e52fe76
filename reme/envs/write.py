"""The write environment: a conversation streams in candidate by candidate, the write policy stores, discards or
updates each under a storage budget, then the conversation's questions are asked against what was stored.

Definitions (also in ``docs/evaluation.md``):

- **Candidates**: each turn (``candidates="turns"``, its rendered text), or each fact of the dataset's
  ``observation`` entries, tagged with its source turn (``candidates="observations"``: the offline stand-in for an
  LLM extractor). A memory is *derived from* the turns of the candidate whose text it holds.
- **Writer signal**: with ``writer_signal=True`` a turn candidate carries ``writer_signal = 1`` when the extractor
  found a fact in it (it has observations) and 0 otherwise (the role an LLM writer's own score plays online).
- **Budget** ``B`` in (0, 1]: at most ``floor(B * candidates)`` (at least 1) memories may be stored; ``update``
  supersedes the nearest memory in place (its text becomes the candidate's) and uses no budget.
- **Questions** are asked after the stream with the store's search (``reme.envs.hybrid``: FAISS + BM25, ReMe's
  fusion). ``recall@k``: the share of a question's evidence turns that some top-``k`` memory is derived from.
- **Reward** (the decision core's delayed-reward join, ``reme.policy.rewards.join_rewards``): each evidence turn
  found in a question's top ``k`` is a ``used`` reward of ``1 / |evidence|`` on the best-ranked memory derived
  from it, credited to the write that stored (or last updated) that memory; storage is charged per memory-day
  (``storage_cost`` per day) with the conversation as one day: every write is stamped at ``STREAM_TIME`` and the
  questions a day later (``QUESTION_TIME``), so each stored memory costs ``storage_cost`` once, paid by the write
  that holds it when the questions are asked (an update that supersedes a stored memory takes its cost over).
  A rollout's return is the sum over its decisions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from reme.config import EmbeddingConfig
from reme.envs.hybrid import cached_encoder, hybrid_top_k
from reme.errors import BadInputError
from reme.eval.metrics import is_scored
from reme.policy.decision import Decision
from reme.policy.rewards import join_rewards
from reme.policy.trajectory import RewardEvent
from reme.policy.write import (
    HeuristicWritePolicy,
    NoveltyLengthWritePolicy,
    RandomWritePolicy,
    WriteState,
    WriteStream,
    make_write_state,
)
from reme.policy.write_mlp import MLPWritePolicy, PacedMLPWritePolicy
from reme.progress import progress_bar
from reme.retrieval.embedding import Encoder
from reme.retrieval.keyword import tokenize
from reme.schema import Episode, Question

__all__ = [
    "CANDIDATE_KINDS",
    "WRITE_BASELINES",
    "WriteEnvConfig",
    "WriteEpisode",
    "WriteOutcome",
    "WriteRollout",
    "evaluate_write",
    "load_write_policy",
    "prepare_write_episodes",
    "run_write",
]

CANDIDATE_KINDS = ("turns", "observations")
STREAM_TIME = "2000-01-01T00:00:00+00:00"
"""When every write of a rollout is taken, for the join's storage cost per memory-day."""
QUESTION_TIME = "2000-01-02T00:00:00+00:00"
"""When a rollout's questions are asked (and its rewards arrive): one day after the stream."""
WRITE_BASELINES = ("novelty-length", "store-all", "random")
"""The write environment's baselines (``load_write_policy`` labels): ``novelty-length`` is
``NoveltyLengthWritePolicy``, the budget-paced novelty/length rule; ``store-all`` is
``HeuristicWritePolicy``, ReMe's add rule (what ``reme.policy.registry.heuristic_for("write")`` serves, budget-blind
and so spending the budget on the first candidates); ``random`` is ``RandomWritePolicy`` at the budget's rate."""


Narrowed = TypeVar("Narrowed", bound="WriteEnvConfig")


@dataclass
class WriteEnvConfig:
    budget: float = 0.3
    """Storage budget: the fraction of candidates that may be stored, in (0, 1]."""
    k: int = 10
    """Cut-off of the retrieval reward."""
    storage_cost: float = 0.0
    """Charged per memory-day (in units of one question's recall); a rollout's conversation is one day, so each
    stored memory costs this once."""
    gamma: float = 1.0
    """Discount of a reward by the number of writes between the write and the reward (``join_rewards``)."""

    def __post_init__(self) -> None:
        if isinstance(self.budget, bool) or not isinstance(self.budget, int | float) or not 0 < self.budget <= 1:
            raise BadInputError(f"the storage budget must be a fraction in (0, 1], got {self.budget!r}")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or not 1 <= self.k <= 200:
            raise BadInputError(f"k must be an integer in [1, 200], got {self.k!r}")
        if not np.isfinite(self.storage_cost) or self.storage_cost < 0:
            raise BadInputError(f"storage_cost must be finite and >= 0, got {self.storage_cost!r}")
        if not 0 < self.gamma <= 1:
            raise BadInputError(f"gamma must be in (0, 1], got {self.gamma!r}")

    def env(self, **changes: Any) -> WriteEnvConfig:
        """The environment's settings alone (a trainer's config extends this class), with ``changes`` applied."""
        return self.narrowed(WriteEnvConfig, **changes)

    def narrowed(self, cls: type[Narrowed], **changes: Any) -> Narrowed:
        """This config's values of the fields of ``cls`` (a class this one extends), as a ``cls``, with ``changes``."""
        values = {f.name: getattr(self, f.name) for f in fields(cls)}
        return cls(**(values | changes))


@dataclass
class WriteEpisode:
    """The precomputed arrays of one episode's write stream and questions."""

    episode_id: str
    format: str
    texts: list[str]
    speakers: list[str]
    sources: list[tuple[str, ...]]
    """Turn ids each candidate is derived from."""
    writer: list[float | None]
    vectors: np.ndarray
    tokens: list[list[str]]
    questions: list[Question]
    query_vectors: np.ndarray
    query_tokens: list[list[str]]

    @property
    def n(self) -> int:
        return len(self.texts)

    def budget_count(self, budget: float) -> int:
        """Memories a budget allows: ``floor(budget * candidates)``, at least 1."""
        return max(1, int(budget * self.n + 1e-9))

    @classmethod
    def build(
        cls,
        episode: Episode,
        encoder: Encoder,
        candidates: str = "turns",
        text_format: str = "dated",
        writer_signal: bool = True,
    ) -> WriteEpisode:
        if candidates not in CANDIDATE_KINDS:
            raise BadInputError(f"unknown candidates {candidates!r}: use {' or '.join(CANDIDATE_KINDS)}")
        texts: list[str] = []
        speakers: list[str] = []
        sources: list[tuple[str, ...]] = []
        writer: list[float | None] = []
        for turn in episode.turns:
            facts = episode.observations.get(turn.turn_id, [])
            if candidates == "turns":
                texts.append(turn.render(text_format))
                speakers.append(turn.speaker)
                sources.append((turn.turn_id,))
                writer.append((1.0 if facts else 0.0) if writer_signal else None)
            else:
                prefix = f"({turn.date}) " if text_format == "dated" and turn.date else ""
                for fact in facts:
                    texts.append(prefix + fact)
                    speakers.append(turn.speaker)
                    sources.append((turn.turn_id,))
                    writer.append(None)
        questions = [q for q in episode.questions if is_scored(q, episode.format) and q.evidence]
        dim = encoder.dim
        vectors = encoder.encode(texts) if texts else np.zeros((0, dim), dtype=np.float32)
        qvecs = encoder.encode([q.question for q in questions]) if questions else np.zeros((0, dim), np.float32)
        return cls(
            episode_id=episode.episode_id,
            format=episode.format,
            texts=texts,
            speakers=speakers,
            sources=sources,
            writer=writer,
            vectors=np.ascontiguousarray(vectors, dtype=np.float32),
            tokens=[tokenize(t) for t in texts],
            questions=questions,
            query_vectors=np.ascontiguousarray(qvecs, dtype=np.float32),
            query_tokens=[tokenize(q.question) for q in questions],
        )


def prepare_write_episodes(
    episodes: Sequence[Episode],
    embedding: EmbeddingConfig | None = None,
    encoder: Encoder | None = None,
    cache_path: str | Path | None = None,
    candidates: str = "turns",
    text_format: str = "dated",
    writer_signal: bool = True,
    show_progress: bool = False,
) -> list[WriteEpisode]:
    """Encode every episode's candidates and questions once (through the persistent embedding cache)."""
    enc = cached_encoder(embedding, encoder, cache_path)
    out: list[WriteEpisode] = []
    with progress_bar("encoding", total=len(episodes), enabled=show_progress) as advance:
        for episode in episodes:
            out.append(WriteEpisode.build(episode, enc, candidates, text_format, writer_signal))
            advance(1)
    return out


@dataclass
class WriteOutcome:
    """What one rollout did and earned."""

    decisions: list[Decision]
    states: list[WriteState]
    recall: dict[str, float]
    """``recall@5`` and ``recall@{k}`` means over the questions."""
    stored_fraction: float
    returns: list[float]
    """Joined return of each decision (parallel to ``decisions``)."""
    rewards: list[RewardEvent] = field(default_factory=list)

    @property
    def total_return(self) -> float:
        return float(sum(self.returns))


class WriteRollout:
    """One pass over an episode's stream; ``copy`` forks it (GRPO groups share a prefix)."""

    def __init__(self, episode: WriteEpisode, config: WriteEnvConfig, encoder: Encoder | None = None) -> None:
        self.episode = episode
        self.config = config
        self.encoder = encoder
        """Encodes a memory whose text a writer extended (``Decision.extra["note"]``, an LLM writer's); without one
        a note is an error."""
        self.position = 0
        self.stream = WriteStream(episode.budget_count(config.budget), episode.n)
        self.slots: list[int] = []
        """Candidate index held by each memory slot."""
        self.slot_vectors = np.zeros((episode.n, episode.vectors.shape[1]), dtype=np.float32)
        self.slot_texts: dict[int, str] = {}
        """The text of each slot whose memory is not its candidate's text alone (candidate plus the writer's note)."""
        self.decisions: list[Decision] = []
        self.states: list[WriteState] = []

    def copy(self) -> WriteRollout:
        other = WriteRollout.__new__(WriteRollout)
        other.episode, other.config, other.position = self.episode, self.config, self.position
        other.encoder = self.encoder
        other.stream = self.stream.copy()
        other.slots = list(self.slots)
        other.slot_vectors = self.slot_vectors.copy()
        other.slot_texts = dict(self.slot_texts)
        other.decisions, other.states = list(self.decisions), list(self.states)
        return other

    def slot_text(self, slot: int) -> str:
        """What memory slot ``slot`` holds: its candidate's text, with the writer's note when it wrote one."""
        return self.slot_texts.get(slot, self.episode.texts[self.slots[slot]])

    @property
    def done(self) -> bool:
        return self.position >= self.episode.n

    def memory_id(self, slot: int) -> str:
        return f"{self.episode.episode_id}:m{slot}"

    def state(self) -> WriteState:
        """The state of the next candidate (observes it in the stream statistics: call once per step)."""
        ep, i = self.episode, self.position
        nearest_id = nearest_sim = nearest_text = None
        if self.slots:
            sims = self.slot_vectors[: len(self.slots)] @ ep.vectors[i]
            slot = int(np.argmax(sims))
            nearest_id, nearest_sim, nearest_text = self.memory_id(slot), float(sims[slot]), self.slot_text(slot)
        return make_write_state(
            ep.texts[i],
            nearest_id,
            nearest_sim,
            nearest_text,
            speaker=ep.speakers[i],
            writer_signal=ep.writer[i],
            stream=self.stream,
            context=ep.texts[i - 1] if i > 0 else "",
        )

    def step(self, policy: Any, mode: str = "greedy", rng: np.random.Generator | None = None) -> Decision:
        state = self.state()
        decision = policy.decide(state, mode, rng)
        i = self.position
        slot = None
        if decision.action == "store":
            slot = len(self.slots)
            self.slots.append(i)
            decision.memory_ids = [self.memory_id(slot)]
        elif decision.action == "update":
            assert state.nearest_memory_id is not None
            slot = int(state.nearest_memory_id.rsplit(":m", 1)[1])
            self.slots[slot] = i
            decision.memory_ids = [self.memory_id(slot)]
        if slot is not None:
            note = str(decision.extra.get("note") or "").strip()
            self.slot_texts.pop(slot, None)
            self.slot_vectors[slot] = self.episode.vectors[i]
            if note:  # the writer's words join the candidate's: what the memory is found by
                if self.encoder is None:
                    raise BadInputError("a writer's note needs the rollout's encoder (WriteRollout(..., encoder=...))")
                self.slot_texts[slot] = f"{self.episode.texts[i]} {note}"
                self.slot_vectors[slot] = self.encoder.encode([self.slot_texts[slot]])[0]
        self.stream.record(str(decision.action))
        self.decisions.append(decision)
        self.states.append(state)
        self.position += 1
        return decision

    def run(self, policy: Any, until: int | None = None, mode: str = "greedy", rng: Any = None) -> None:
        """Step until position ``until`` (default: the end)."""
        end = self.episode.n if until is None else min(until, self.episode.n)
        while self.position < end:
            self.step(policy, mode, rng)

    def finish(self, tops: Sequence[np.ndarray] | None = None) -> WriteOutcome:
        """Ask the questions against the stored memories and join the rewards to the decisions. ``tops``: each
        question's ranked slots from another ranker (a rank head, ``reme.envs.writer_episode``); default the
        store's search (FAISS + BM25, ReMe's fusion)."""
        ep, config = self.episode, self.config
        k = max(config.k, 10)
        slots = self.slots
        if tops is None:
            tops = hybrid_top_k(
                self.slot_vectors[: len(slots)],
                [tokenize(self.slot_texts[s]) if s in self.slot_texts else ep.tokens[c] for s, c in enumerate(slots)],
                ep.query_vectors,
                ep.query_tokens,
                k=k,
            )
        rewards: list[RewardEvent] = []
        sums = {5: 0.0, 10: 0.0, config.k: 0.0}
        for qi, (question, top) in enumerate(zip(ep.questions, tops)):
            evidence = set(question.evidence)
            for cut in sums:
                found = {t for slot in top[:cut] for t in ep.sources[slots[slot]]} & evidence
                sums[cut] += len(found) / len(evidence)
            credited: set[str] = set()
            for slot in np.asarray(top[: config.k]).tolist():
                for turn in ep.sources[slots[slot]]:
                    if turn in evidence and turn not in credited:
                        credited.add(turn)
                        rewards.append(
                            RewardEvent(
                                reward_id=f"{ep.episode_id}:q{qi}:{turn}",
                                memory_id=self.memory_id(slot),
                                source="used",
                                value=1.0 / len(evidence),
                                episode_id=ep.episode_id,
                                time=QUESTION_TIME,
                            )
                        )
        n_q = max(len(ep.questions), 1)
        stamped = [d.model_copy(update={"time": STREAM_TIME}) for d in self.decisions]
        report = join_rewards([*stamped, *rewards], gamma=config.gamma, storage_cost_per_day=config.storage_cost)
        by_id = {s.decision.decision_id: s.ret for s in report.samples}
        return WriteOutcome(
            decisions=self.decisions,
            states=self.states,
            recall={f"recall@{cut}": total / n_q for cut, total in sorted(sums.items())},
            stored_fraction=len(slots) / max(ep.n, 1),
            returns=[by_id.get(d.decision_id, 0.0) for d in self.decisions],
            rewards=rewards,
        )


def run_write(
    episode: WriteEpisode,
    policy: Any,
    config: WriteEnvConfig,
    mode: str = "greedy",
    rng: np.random.Generator | None = None,
) -> WriteOutcome:
    """One full rollout of ``policy`` over ``episode``."""
    rollout = WriteRollout(episode, config)
    rollout.run(policy, mode=mode, rng=rng)
    return rollout.finish()


def load_write_policy(spec: str) -> Any:
    """``novelty-length`` (novelty/length at the budget), ``store-all`` (ReMe's add rule: store until the budget is
    spent), ``random`` (store with the budget's rate), ``default`` (the shipped default), or a checkpoint directory
    (``mlp-write-paced`` or ``mlp-write``)."""
    if spec == "novelty-length":
        return NoveltyLengthWritePolicy()
    if spec == "default":  # the shipped default of this reme version (the registry's heuristic: store-all)
        from reme.policy.registry import shipped_policy

        return shipped_policy("write")[1]
    if spec == "heuristic":  # one meaning of "heuristic" per decision: the registry's, which this env calls store-all
        raise BadInputError(
            "--policy heuristic: the write environment's baselines are novelty-length (the budget-paced rule), "
            "store-all (ReMe's add rule, the registry's write heuristic) and random"
        )
    if spec == "store-all":
        return HeuristicWritePolicy()
    if spec == "random":
        return RandomWritePolicy()
    path = Path(spec)
    if not path.is_dir():
        raise BadInputError(f"--policy {spec!r}: use novelty-length, store-all, random or a checkpoint directory")
    from reme.policy.checkpoint import read_spec

    name = read_spec(path).get("policy")
    return PacedMLPWritePolicy.load(path) if name == PacedMLPWritePolicy.name else MLPWritePolicy.load(path)


def evaluate_write(
    episodes: Sequence[WriteEpisode],
    policies: Mapping[str, Any],
    config: WriteEnvConfig,
    seed: int = 0,
    random_repeats: int = 3,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Greedy rollouts of each policy (``random-budget`` is sampled, ``random_repeats`` times with seeded draws);
    ``results[label]`` holds ``recall@5``, ``recall@10`` (means over questions) and ``stored_fraction`` (mean over
    episodes)."""
    if not policies:
        raise BadInputError("give at least one policy")
    queries = sum(len(e.questions) for e in episodes)
    results: dict[str, dict[str, float]] = {}
    with progress_bar("evaluating", total=len(policies) * len(episodes), enabled=show_progress) as advance:
        for label, policy in policies.items():
            sampled = isinstance(policy, RandomWritePolicy)
            repeats = random_repeats if sampled else 1
            sums = {"recall@5": 0.0, "recall@10": 0.0}
            stored = 0.0
            for episode in episodes:
                for r in range(repeats):
                    rng = np.random.default_rng([seed, r]) if sampled else None
                    out = run_write(episode, policy, config, "sample" if sampled else "greedy", rng)
                    for key in sums:
                        sums[key] += out.recall[key] * len(episode.questions) / repeats
                    stored += out.stored_fraction / repeats
                advance(1)
            results[label] = {key: round(value / max(queries, 1), 4) for key, value in sums.items()}
            results[label]["stored_fraction"] = round(stored / max(len(episodes), 1), 4)
    return {
        "format": episodes[0].format if episodes else "locomo",
        "queries": queries,
        "budget": config.budget,
        "results": results,
    }
