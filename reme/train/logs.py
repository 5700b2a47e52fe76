"""Logged decisions as training data: record sampled rankings with evidence rewards, and read them back.

``record_rank_logs`` replays a dataset through a real workspace, the way an agent would use it: each
conversation's turns are added to their own target (``task:<conversation id>``), each question is searched
``samples`` times by the rank policy in ``sample`` mode, and each ranking gets a reward (recall@k against the
question's evidence) through ``Memory.feedback``. Every decision and reward lands in the workspace's trajectory
log, and ``logged_rank_samples`` turns the log back into training samples through the rewards join, with no
access to the live store: what ``reme train-policy --from-trajectories`` and ``reme policy evaluate`` read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from reme.datasets.dates import parse_date
from reme.errors import BadInputError
from reme.eval.metrics import is_scored, recall_of_hits
from reme.policy.decision import Decision, Matrix
from reme.policy.explore import exploration_of
from reme.policy.rank_features import RANK_FEATURES
from reme.policy.rewards import Sample, has_propensity, join_rewards, used_memories
from reme.policy.trajectory import Record, read_records
from reme.retrieval.embedding import Encoder
from reme.schema import Episode, MemoryType
from reme.settings import load_settings


def record_rank_logs(
    episodes: Sequence[Episode],
    workspace: str | Path,
    policy: object,
    samples: int = 8,
    k: int = 10,
    text_format: str = "dated",
    seed: int = 0,
    encoder: Encoder | None = None,
) -> dict[str, int]:
    """Append sampled rank decisions and their evidence rewards to ``workspace``'s log; returns counts."""
    from reme.memory import Memory
    from reme.settings import ExplorationSettings, PolicySettings, WorkspaceSettings

    # the turns are stored as the write policy decides, without write exploration: the same dataset and seed
    # record the same log (what it records is the rank decisions)
    settings = WorkspaceSettings(mode="sample", policies=PolicySettings(exploration=ExplorationSettings(write=0.0)))

    counts = {"conversations": 0, "questions": 0, "decisions": 0, "rewards": 0}
    with Memory(workspace, encoder=encoder, rank_policy=policy, settings=settings, seed=seed) as mem:
        for episode in episodes:
            target = f"task:{episode.episode_id}"
            ids = {t.turn_id: f"{episode.episode_id}:{i}" for i, t in enumerate(episode.turns)}
            mem.add_many(
                [
                    {
                        "content": t.render(text_format),
                        "memory_id": ids[t.turn_id],
                        "memory_type": MemoryType.history,
                        "message_time": parse_date(t.date),
                        "metadata": {"turn_id": t.turn_id, "session_id": t.session_id, "speaker": t.speaker},
                    }
                    for t in episode.turns
                ],
                target=target,
            )
            counts["conversations"] += 1
            last = max((d for d in (parse_date(t.date) for t in episode.turns) if d), default="")
            for question in episode.questions:
                if not is_scored(question, episode.format) or not question.evidence:
                    continue
                asked = parse_date(question.question_date) or last
                evidence = {ids[e] for e in question.evidence if e in ids}
                for g in range(samples):
                    decision, _ = mem.search_with_decision(
                        question.question,
                        limit=k,
                        target=target,
                        min_score=0.0,
                        episode_id=episode.episode_id,
                        group_id=question.question_id,
                        step=g,
                        query_time=datetime.fromisoformat(asked) if asked else None,
                    )
                    ranked = np.asarray([decision.memory_ids[p] in evidence for p in decision.action], dtype=bool)
                    reward = recall_of_hits(ranked[:k], max(len(evidence), 1))
                    mem.feedback(
                        reward, decision_id=decision.decision_id, source="answer", episode_id=episode.episode_id
                    )
                    counts["decisions"] += 1
                    counts["rewards"] += 1
                counts["questions"] += 1
    return counts


@dataclass
class LoggedRankSample:
    """One logged, sampled, rewarded ranking: what the off-policy trainer and evaluator need."""

    decision_id: str
    group_id: str | None
    features: np.ndarray
    ordering: list[int]
    behaviour_logprob: float
    ret: float
    behaviour: tuple[str, str, dict[str, object]] = ("", "", {})
    """The behaviour policy's name, version and parameters (to rebuild it for off-policy evaluation)."""
    target: str = ""
    """The target searched (training weighs targets equally; the activation gate scores each one's slice)."""
    epsilon: float = 1.0
    """The share of searches the behaviour sampled from its Plackett-Luce distribution: 1 in ``mode: sample``, the
    rank exploration's epsilon for a greedy search under exploration (it took its greedy ordering otherwise)."""


def trajectory_dir(path: str | Path) -> Path:
    """A workspace or its ``trajectories`` folder (a workspace whose log lives in PostgreSQL gives its folder too:
    ``logged_records`` reads the database for it)."""
    from reme.store.open import log_in_database

    root = Path(path)
    if (root / "trajectories").is_dir() or (root.is_dir() and log_in_database(load_settings(root))):
        return root / "trajectories"
    if root.is_dir() and any(root.glob("segment-*.jsonl")):
        return root
    raise BadInputError(f"{path} is neither a workspace with a trajectory log nor a trajectory folder")


def workspace_root(path: str | Path) -> Path:
    """The workspace of ``path`` (a workspace, or its ``trajectories`` folder)."""
    return trajectory_dir(path).parent


def logged_records(path: str | Path) -> list[Record]:
    """Every readable record of the log of ``path`` (a workspace or its ``trajectories`` folder), oldest first: the
    segment files, or the PostgreSQL table when the workspace's log lives there (``trajectories.location``), read
    on a connection of its own, so a learner on another machine reads what the replicas wrote."""
    from reme.store.open import trajectory_source

    source = trajectory_source(workspace_root(path))
    try:
        return [e.record for e in read_records(source) if e.record is not None]
    finally:
        if not isinstance(source, str | Path):
            source.close()


def credit_of(workspace: str | Path, gamma: float | None = None) -> dict[str, Any]:
    """The workspace's credit parameters (``credit`` of its settings) as ``join_rewards`` keywords, ``gamma``
    overriding the discount when given."""
    credit = load_settings(workspace).credit.model_dump()
    if gamma is not None:
        credit["gamma"] = gamma
    return credit


def logged_rank_samples(path: str | Path, gamma: float | None = None) -> list[LoggedRankSample]:
    """Trainable rank decisions that received a reward, with their returns (the workspace's credit rules,
    ``credit`` of its settings; ``gamma`` overrides its discount), taken where their behaviour probability is
    known (``rank_samples``)."""
    records = logged_records(path)
    return rank_samples(join_rewards(records, **credit_of(workspace_root(path), gamma)).samples)


def _sampled_share(decision: Decision) -> float:
    """``LoggedRankSample.epsilon``: the rank exploration's epsilon when the search ran under it (an explored search
    is recorded in sample mode, but its logger was the mixture), else 1 (``mode: sample``)."""
    rule = exploration_of(decision)
    return 1.0 if rule is None else float(rule.epsilon)


def rank_samples(samples: Iterable[Sample]) -> list[LoggedRankSample]:
    """The joined samples that a rank head can learn from and be evaluated on, in log order: rewarded rank
    decisions whose behaviour probability is known, sampled (``mode: sample``) or greedy under rank exploration
    (``extra["exploration"]``, whose mixture propensity is the sample's ``behaviour_logprob``), over this version's
    ``RANK_FEATURES``."""
    out = []
    for sample in samples:
        d: Decision = sample.decision
        if d.kind != "rank" or sample.rewards == 0 or not d.action:
            continue
        if not has_propensity(d):
            continue  # a greedy ordering without exploration: its probability is not a propensity
        found = exploration_of(d)
        if found is not None and found.canary is not None:
            continue  # drawn between the serving policy and a canary: compared on-policy (reme learn), not re-weighted
        if d.policy.startswith("llm") or "features" not in d.inputs:
            continue  # an LLM's decision (an answer synthesised from a ranking) has no feature matrix to re-score
        matrix = Matrix.model_validate(d.inputs["features"])
        if tuple(matrix.names) != RANK_FEATURES:
            continue  # logged by a policy over other features: cannot be re-scored by this head
        out.append(
            LoggedRankSample(
                d.decision_id,
                d.group_id,
                matrix.array(),
                list(d.action),
                sample.behaviour_logprob,
                sample.ret,
                (d.policy, d.version, dict(d.extra.get("params", {}))),
                str(d.extra.get("target", "")),
                _sampled_share(d),
            )
        )
    return out


@dataclass
class UsedRanking:
    """One search whose shown memories a later ``used`` reward labelled: the candidates it showed, best first, as
    their feature rows, and which of them were used."""

    decision_id: str
    time: str
    target: str
    features: np.ndarray
    """``(k, F)``: the shown candidates' rows of the search's feature matrix, in the order shown."""
    used: np.ndarray
    """``(k,)`` bool."""


def used_rankings(records: Sequence[Any]) -> list[UsedRanking]:
    """The log's searches (any mode, explored or not) that showed at least one memory a later ``used`` reward named
    (``reme.policy.rewards.used_memories``), in log order. A label on a shown memory needs no propensity: it says
    which of what was shown was useful, whatever chose to show it."""
    used = used_memories(records)
    out = []
    for d in records:
        if not isinstance(d, Decision) or d.kind != "rank" or d.decision_id not in used or "features" not in d.inputs:
            continue
        matrix = Matrix.model_validate(d.inputs["features"])
        if tuple(matrix.names) != RANK_FEATURES:
            continue
        shown = [p for p in d.extra.get("returned", d.action) if isinstance(p, int) and 0 <= p < len(d.memory_ids)]
        labels = np.asarray([d.memory_ids[p] in used[d.decision_id] for p in shown], dtype=bool)
        if shown and labels.any():
            rows = matrix.array()[shown]
            out.append(UsedRanking(d.decision_id, d.time, str(d.extra.get("target", "")), rows, labels))
    return out
