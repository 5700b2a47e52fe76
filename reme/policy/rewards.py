"""Joining delayed rewards to the decisions that caused them: the training samples of the trainers.

Credit rules (one place, so that every trainer learns from the same returns):

- A reward that names a ``decision_id`` is credited to that decision (a search whose results were used, a
  compaction after which the task failed, explicit feedback on a decision).
- A reward that names a ``memory_id`` is credited to the write decision that stored (or last updated) that
  memory, discounted by ``gamma ** d`` where ``d`` is the number of write decisions logged between that write
  and the reward: a memory that pays off soon after it was written earns more than one that pays off late.
- Every ``store`` or ``update`` write is charged ``storage_cost`` once, whether or not it is ever used; a
  ``discard`` costs nothing and earns nothing. A write with no reward at all has return ``-storage_cost``.
- Decisions of other kinds with no reward get no sample (their return is unknown, not zero).
- Repeats are averaged, not summed: the rewards one decision receives from one ``source`` (``feedback``, ``used``,
  ``answer``, ``task``) count as their mean (after discounting), and the sources' means add up. Fifty identical
  feedbacks on one search are worth one; a memory used by ten tasks earns the mean task outcome, ReMe's
  ``utility / freq``. With rewards in [-1, 1] (``Memory.feedback`` refuses others), a return is bounded by the
  number of sources, however many rewards arrive.

Untrainable decisions (``logprob`` null) never become samples; they are counted.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

from reme.policy.decision import Decision
from reme.policy.trajectory import RewardEvent


class Sample(BaseModel):
    """One training sample: the decision as recorded, its behaviour log-probability and its return."""

    decision: Decision
    behaviour_logprob: float
    ret: float
    rewards: int
    """How many reward events contributed."""


class JoinReport(BaseModel):
    samples: list[Sample]
    rewards: int
    rewards_joined: int
    untrainable: int
    unmatched_reward_ids: list[str]


def join_rewards(
    records: Iterable[Decision | RewardEvent], gamma: float = 0.9, storage_cost: float = 0.0
) -> JoinReport:
    """Apply the credit rules to a log's records (in log order)."""
    decisions: dict[str, Decision] = {}
    write_position: dict[str, int] = {}  # decision id -> index among write decisions
    writer_of: dict[str, str] = {}  # memory id -> id of the write decision that last stored or updated it
    by_source: dict[str, dict[str, list[float]]] = {}  # credited decision -> source -> values
    counts: dict[str, int] = {}
    writes_so_far = 0
    rewards = joined = 0
    unmatched: list[str] = []
    for record in records:
        if isinstance(record, Decision):
            decisions[record.decision_id] = record
            if record.kind == "write":
                write_position[record.decision_id] = writes_so_far
                writes_so_far += 1
                if record.action in ("store", "update"):
                    for mid in record.memory_ids:
                        writer_of[mid] = record.decision_id
            continue
        rewards += 1
        target: str | None = None
        value = record.value
        if record.decision_id is not None and record.decision_id in decisions:
            target = record.decision_id
        elif record.memory_id is not None and record.memory_id in writer_of:
            target = writer_of[record.memory_id]
            value *= gamma ** (writes_so_far - 1 - write_position[target])
        if target is None:
            unmatched.append(record.reward_id)
            continue
        joined += 1
        by_source.setdefault(target, {}).setdefault(record.source, []).append(value)
        counts[target] = counts.get(target, 0) + 1
    returns = {d: sum(sum(v) / len(v) for v in sources.values()) for d, sources in by_source.items()}
    samples: list[Sample] = []
    untrainable = 0
    for decision in decisions.values():
        if not decision.trainable or decision.logprob is None:
            untrainable += 1
            continue
        is_paid_write = decision.kind == "write" and decision.action in ("store", "update")
        if decision.decision_id not in returns and decision.kind != "write":
            continue
        ret = returns.get(decision.decision_id, 0.0) - (storage_cost if is_paid_write else 0.0)
        samples.append(
            Sample(
                decision=decision,
                behaviour_logprob=decision.logprob,
                ret=ret,
                rewards=counts.get(decision.decision_id, 0),
            )
        )
    return JoinReport(
        samples=samples, rewards=rewards, rewards_joined=joined, untrainable=untrainable, unmatched_reward_ids=unmatched
    )
