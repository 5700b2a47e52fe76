"""Joining delayed rewards to the decisions that caused them: the training samples of the trainers.

Credit rules (the one place they are written, so that every trainer learns from the same returns). The log is read
in its order; ``gamma`` (``credit.gamma``, default 0.9) is the discount per step of distance.

- **Named decision.** A reward that names a ``decision_id`` is credited to that decision, undiscounted (a search
  whose results were used, a compaction after which the task failed, explicit feedback on a decision).
- **Named memory.** A reward that names a ``memory_id`` is credited to the write decision that stored (or last
  updated) that memory, times ``gamma ** d``, ``d`` the number of write decisions logged after that write and up
  to the reward: a memory that pays off soon after it was written earns more than one that pays off late.
- **Write credit through retrieval.** A reward that names a search (a ``rank`` decision) is also credited to each
  write decision that, when the search was logged, had stored (or last updated) a memory of the search's top k,
  with the same discount ``gamma ** d`` as a named memory (``d``: writes after that write, up to the reward). The
  top k is what the search returned (``extra["returned"]``, positions into its candidates, after the score
  floor), or its ranking (``action``) for a record without it. A write is credited once per reward, however many
  of its memories the top k holds; the rewards of several searches that returned its memory (and rewards naming
  the memory) are its repeats, averaged per source below. A memory outside the top k, or a write that only
  discarded, earns nothing from that search. When the host says which of the returned memories it used (rewards
  with source ``used`` naming a memory, credited to the latest search that returned it), only the writes of
  those memories share that search's rewards: the others were returned and did not help, and a memory that
  matches many questions without answering them would otherwise earn from every answer it stood beside.
- **Storage cost per memory-day.** Each ``store`` or ``update`` write is charged
  ``storage_cost_per_day * min(days, storage_horizon_days)`` for each memory it wrote, where ``days`` runs from the
  write's ``time`` to the first of: the next write that stores or updates the same memory (that writer pays from
  then on), the memory's deletion (a ``MemoryEvent``), or the latest ``time`` of any record in the log; never
  negative, and 0 for a time that cannot be read. So the charge is bounded by ``storage_cost_per_day *
  storage_horizon_days`` per memory and depends on the log alone. A ``discard`` costs nothing and earns nothing.
- **Compaction credit.** A ``compact`` decision opens a window in its *scope*: its ``episode_id``, or its target
  (``extra["target"]``) when it has no episode (with neither, it has no window). The window lasts until the next
  compact decision of the same scope. A reward logged in an open window is credited to that compact decision,
  times ``gamma ** d`` where ``d`` is the number of decisions (any kind) of the scope logged after the compact
  decision and before the reward. A reward is in a scope when its ``episode_id`` is the scope's episode, or the
  decision it names (or the write of the memory it names) has that episode or that target. A reward that names a
  compact decision is credited to that decision alone (the first rule), not again through a window.
- **No reward, no sample.** Decisions of other kinds with no reward get no sample (their return is unknown, not
  zero); every write is a sample (its return may be just its storage cost).
- **Repeats are averaged, not summed.** The values one decision receives from one ``source`` (``feedback``,
  ``used``, ``answer``, ``task``) count as their mean (after discounting), and the sources' means add up. Fifty
  identical feedbacks on one search are worth one; a memory used by ten tasks earns the mean task outcome, ReMe's
  ``utility / freq``. With rewards in [-1, 1] (``Memory.feedback`` refuses others), a return is bounded by the
  number of sources, minus a storage cost bounded as above, however many rewards arrive.

Each sample's ``behaviour_logprob`` is the probability with which its action was taken: the exploration mixture's
(``reme.policy.explore``) when the decision was taken under exploration, else the policy's ``logprob``.
Untrainable decisions (``logprob`` null) never become samples; they are counted.

Worked example (``gamma = 0.5``, ``storage_cost_per_day = 0.01``): ``w1`` stores ``m1`` on day 0, ``w2`` stores
``m2`` on day 0, a search ``r`` on day 2 returns ``[m1]``, feedback ``+1`` on ``r`` on day 2; the log ends on day 10
and ``m2`` is deleted on day 4. Then ``r`` earns 1; ``w1`` earns ``1 * 0.5 ** 1`` (one write, ``w2``, after it)
minus ``0.01 * 10`` = 0.4; ``w2`` is outside the top k and earns ``-0.01 * 4`` = -0.04.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import BaseModel

from reme.policy.decision import Decision
from reme.policy.explore import behaviour_logprob as behaviour_of
from reme.policy.explore import exploration_of
from reme.policy.trajectory import MemoryEvent, RewardEvent

__all__ = [
    "DAY_SECONDS", "JoinReport", "Sample", "from_llm", "has_propensity", "has_return", "join_rewards", "record_time",
    "storage_days", "top_k_memories", "used_memories",
]  # fmt: skip

DAY_SECONDS = 86_400.0
PAID_WRITES = ("store", "update")


class Sample(BaseModel):
    """One training sample: the decision as recorded, its behaviour log-probability and its return."""

    decision: Decision
    behaviour_logprob: float
    """log of the probability with which the action was taken (the exploration mixture's when explored)."""
    ret: float
    """The return: the sum over sources of the mean credited value, minus ``storage_cost``."""
    rewards: int
    """How many reward events contributed."""
    storage_cost: float = 0.0
    """The storage cost charged (included in ``ret``): writes only."""


class JoinReport(BaseModel):
    samples: list[Sample]
    rewards: int
    """Reward events read."""
    rewards_joined: int
    """Reward events credited to at least one decision."""
    untrainable: int
    unmatched_reward_ids: list[str]


def has_propensity(decision: Decision) -> bool:
    """Whether the decision's behaviour probability is a real propensity: sampled (``mode: sample``), or taken
    under exploration (``extra["exploration"]``, whose propensity the join puts in ``behaviour_logprob``; every
    decision taken while its kind's epsilon is above 0 has one, not only those whose action exploration changed).
    A greedy decision without exploration had probability 1, which says nothing about the actions it did not take."""
    return decision.mode == "sample" or exploration_of(decision) is not None


def has_return(sample: Sample) -> bool:
    """A write always has a return (a memory nobody used earned nothing and paid its storage; a discard earns 0);
    a decision of another kind once a reward arrived."""
    return sample.rewards > 0 or sample.decision.kind == "write"


def from_llm(decision: Decision) -> bool:
    """A decision an LLM expressed in its text (``reme.llm.decisions``: the ReAct writer, the LLM compactor): its
    log-probability is over tokens, and ``reme train-policy --decision writer`` trains it, not the off-policy
    learners of the gates."""
    return "token_logprobs" in decision.extra


def record_time(text: str) -> float | None:
    """Seconds since the epoch of a record's ``time`` (ISO 8601; naive means UTC), ``None`` if unreadable."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def storage_days(start: float | None, end: float | None, horizon_days: float) -> float:
    """Days charged for one memory of one write: ``end - start`` in days, clamped to ``[0, horizon_days]``."""
    if start is None or end is None:
        return 0.0
    return min(max((end - start) / DAY_SECONDS, 0.0), horizon_days)


def top_k_memories(decision: Decision) -> list[str]:
    """The memory ids a search returned, best first: ``extra["returned"]`` (positions into its candidates) or, for a
    record without it, its ranking ``action``; ids of candidates deleted before the search (``""``) are left out."""
    positions = decision.extra.get("returned", decision.action)
    ids = decision.memory_ids
    out: list[str] = []
    for pos in positions if isinstance(positions, list) else []:
        if isinstance(pos, int) and 0 <= pos < len(ids) and ids[pos] and ids[pos] not in out:
            out.append(ids[pos])
    return out


def _scope_keys(decision: Decision) -> list[tuple[str, str]]:
    """The scopes a decision belongs to: its episode and its target, where it has them."""
    keys: list[tuple[str, str]] = []
    if decision.episode_id:
        keys.append(("episode", decision.episode_id))
    target = decision.extra.get("target")
    if isinstance(target, str) and target:
        keys.append(("target", target))
    return keys


def _window_key(decision: Decision) -> tuple[str, str] | None:
    """The scope whose window a compact decision opens: its episode, else its target."""
    keys = _scope_keys(decision)
    return keys[0] if keys else None


class _Join:
    """The state of one pass over a log (see the module docstring for the rules it applies)."""

    def __init__(self, gamma: float, used: dict[str, set[str]] | None = None) -> None:
        self.gamma = gamma
        self.used = used or {}  # rank decision id -> the memories of its top k a ``used`` reward named
        self.decisions: dict[str, Decision] = {}
        self.write_position: dict[str, int] = {}  # write decision id -> index among write decisions
        self.writes = 0
        self.writer_of: dict[str, str] = {}  # memory id -> the write that last stored or updated it
        self.spans: dict[str, dict[str, list[float | None]]] = {}  # write id -> memory id -> [start, end]
        self.search_writers: dict[str, list[str]] = {}  # rank decision id -> writers of its top k, when logged
        self.window: dict[tuple[str, str], str] = {}  # scope -> its open compact decision
        self.since: dict[str, int] = {}  # compact decision id -> decisions of its scope logged after it
        self.by_source: dict[str, dict[str, list[float]]] = {}
        self.counts: dict[str, int] = {}
        self.latest: float | None = None

    def see_time(self, text: str) -> float | None:
        moment = record_time(text)
        if moment is not None and (self.latest is None or moment > self.latest):
            self.latest = moment
        return moment

    def close_span(self, memory_id: str, moment: float | None) -> None:
        writer = self.writer_of.get(memory_id)
        if writer is not None:
            span = self.spans[writer][memory_id]
            if span[1] is None:
                span[1] = moment if moment is not None else span[0]

    def decision(self, d: Decision) -> None:
        moment = self.see_time(d.time)
        self.decisions[d.decision_id] = d
        counted = {self.window[k] for k in _scope_keys(d) if k in self.window}
        for compact_id in counted:
            self.since[compact_id] += 1
        if d.kind == "compact":
            key = _window_key(d)
            if key is not None:
                self.window[key] = d.decision_id
                self.since[d.decision_id] = 0
        elif d.kind == "rank":
            used = self.used.get(d.decision_id)
            writers = [self.writer_of[m] for m in top_k_memories(d) if m in self.writer_of and (not used or m in used)]
            self.search_writers[d.decision_id] = list(dict.fromkeys(writers))
        elif d.kind == "write":
            self.write_position[d.decision_id] = self.writes
            self.writes += 1
            if d.action in PAID_WRITES:
                for mid in d.memory_ids:
                    self.close_span(mid, moment)
                    self.writer_of[mid] = d.decision_id
                    self.spans.setdefault(d.decision_id, {})[mid] = [moment, None]

    def deleted(self, event: MemoryEvent) -> None:
        moment = self.see_time(event.time)
        for mid in event.memory_ids:
            self.close_span(mid, moment)

    def write_discount(self, write_id: str) -> float:
        return float(self.gamma ** (self.writes - 1 - self.write_position[write_id]))

    def reward(self, r: RewardEvent) -> bool:
        """Credit one reward; whether it reached any decision."""
        self.see_time(r.time)
        credit: dict[str, float] = {}  # decision id -> value (one entry per decision and reward)
        named = self.decisions.get(r.decision_id) if r.decision_id is not None else None
        scoped: list[Decision] = []
        if named is not None:
            credit[named.decision_id] = r.value
            scoped.append(named)
            for writer in self.search_writers.get(named.decision_id, []):
                credit.setdefault(writer, r.value * self.write_discount(writer))
        elif r.memory_id is not None and r.memory_id in self.writer_of:
            writer = self.writer_of[r.memory_id]
            credit[writer] = r.value * self.write_discount(writer)
            scoped.append(self.decisions[writer])
        if named is None or named.kind != "compact":
            keys = {("episode", r.episode_id)} if r.episode_id else set()
            keys.update(k for d in scoped for k in _scope_keys(d))
            for compact_id in {self.window[k] for k in keys if k in self.window}:
                credit[compact_id] = r.value * float(self.gamma ** self.since[compact_id])
        for decision_id, value in credit.items():
            self.by_source.setdefault(decision_id, {}).setdefault(r.source, []).append(value)
            self.counts[decision_id] = self.counts.get(decision_id, 0) + 1
        return bool(credit)

    def storage_cost(self, write_id: str, per_day: float, horizon_days: float) -> float:
        spans = self.spans.get(write_id, {})
        days = sum(storage_days(s, e if e is not None else self.latest, horizon_days) for s, e in spans.values())
        return per_day * days


def used_memories(records: Iterable[Decision | RewardEvent | MemoryEvent]) -> dict[str, set[str]]:
    """Per search (rank decision id), the memories of its top k that a later ``used`` reward named (each such reward
    belongs to the latest search before it that returned its memory)."""
    last_search: dict[str, str] = {}
    used: dict[str, set[str]] = {}
    for record in records:
        if isinstance(record, Decision) and record.kind == "rank":
            for memory_id in top_k_memories(record):
                last_search[memory_id] = record.decision_id
        elif isinstance(record, RewardEvent) and record.source == "used" and record.memory_id in last_search:
            used.setdefault(last_search[record.memory_id], set()).add(str(record.memory_id))
    return used


def join_rewards(
    records: Iterable[Decision | RewardEvent | MemoryEvent],
    gamma: float = 0.9,
    storage_cost_per_day: float = 0.0,
    storage_horizon_days: float = 365.0,
) -> JoinReport:
    """Apply the credit rules (module docstring) to a log's records, in log order. A workspace's parameters are
    ``credit`` of its settings: ``join_rewards(records, **settings.credit.model_dump())``."""
    if not 0 < gamma <= 1:
        raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
    if not math.isfinite(storage_cost_per_day) or storage_cost_per_day < 0:
        raise ValueError(f"storage_cost_per_day must be finite and >= 0, got {storage_cost_per_day!r}")
    if not math.isfinite(storage_horizon_days) or storage_horizon_days <= 0:
        raise ValueError(f"storage_horizon_days must be finite and > 0, got {storage_horizon_days!r}")
    records = list(records)
    join = _Join(gamma, used_memories(records))
    rewards = joined = 0
    unmatched: list[str] = []
    for record in records:
        if isinstance(record, Decision):
            join.decision(record)
        elif isinstance(record, MemoryEvent):
            join.deleted(record)
        else:
            rewards += 1
            if join.reward(record):
                joined += 1
            else:
                unmatched.append(record.reward_id)
    returns = {d: sum(sum(v) / len(v) for v in sources.values()) for d, sources in join.by_source.items()}
    samples: list[Sample] = []
    untrainable = 0
    for decision in join.decisions.values():
        behaviour = behaviour_of(decision)
        if not decision.trainable or decision.logprob is None or behaviour is None:
            untrainable += 1
            continue
        if decision.decision_id not in returns and decision.kind != "write":
            continue
        paid = decision.kind == "write" and decision.action in PAID_WRITES
        cost = join.storage_cost(decision.decision_id, storage_cost_per_day, storage_horizon_days) if paid else 0.0
        samples.append(
            Sample(
                decision=decision,
                behaviour_logprob=behaviour,
                ret=returns.get(decision.decision_id, 0.0) - cost,
                rewards=join.counts.get(decision.decision_id, 0),
                storage_cost=cost,
            )
        )
    return JoinReport(
        samples=samples, rewards=rewards, rewards_joined=joined, untrainable=untrainable, unmatched_reward_ids=unmatched
    )
