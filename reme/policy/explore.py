"""Exploration per decision kind: an epsilon rule mixed with the policy, and the propensity of what was taken.

The credit rules (``reme.policy.rewards``) see only what was done: a candidate the write policy discards has no
later evidence of its own, and a message the compact policy summarises is never seen verbatim afterwards. To
score those actions counterfactually, a small share of them is replaced by the other action, and each record
carries the *behaviour probability* of the action actually taken (the mixture of the policy and the rule), so
that an off-policy trainer or evaluator can importance-weight it. The rules, with ``p`` the policy's probability
under the decision's mode (``sample``: ``pi(a | s)``; ``greedy``: 1 for the greedy action, 0 otherwise) and
``epsilon`` the workspace's setting for the kind (``policies.exploration``):

- **write**: when the policy's action is ``discard`` and ``store`` is allowed (and scorable: ``pi(store) > 0``),
  it becomes ``store`` with probability ``epsilon``. ``b(store) = p(store) + epsilon * p(discard)``,
  ``b(discard) = (1 - epsilon) * p(discard)``, ``b(update) = p(update)``. A candidate the policy keeps is never
  dropped.
- **compact**: at each unforced gate (``reme.policy.compact.walk_gates``), a message the policy would compact is
  kept instead with probability ``epsilon``: ``b(keep) = p(keep) + epsilon * (1 - p(keep))``,
  ``b(compact) = (1 - epsilon) * (1 - p(keep))``. The joint behaviour probability is the product over unforced
  gates (a forced gate has probability 1 under both). Exploration never keeps a message past the reserve.
- **rank**: a ``greedy`` search samples its ordering from the policy's Plackett-Luce distribution instead, with
  probability ``epsilon``: ``b(a) = (1 - epsilon) * [a is the greedy ordering] + epsilon * pi(a | s)``. A
  ``sample``-mode search already samples every ordering from ``pi``, so the rule changes nothing there.
- **rank canary**: while ``reme learn`` tries a canary (``reme.policy.registry.set_canary``), a greedy search whose
  top k under the canary differs from the serving policy's takes the canary's ordering with probability
  ``canary_share`` and the serving one otherwise (the epsilon rule does not draw there): ``b(canary ordering) =
  canary_share``, ``b(greedy) = 1 - canary_share``. The record names the canary and which answered, so the two
  are compared on the searches where they differ, on-policy, with the assignment at random. ``Decision.logprob``
  stays the serving policy's ``log pi`` of the ordering shown, as everywhere.

``epsilon = 0`` leaves every decision exactly as the policy took it, with no exploration record. Above 0, every
decision of the kind records ``extra["exploration"]`` (an ``Exploration``: epsilon, seed, whether the rule changed
the action, the behaviour log-probability, the gates it flipped) and, when the rule changed the action,
``extra["explored"] = True``. ``Decision.logprob`` stays the policy's own ``log pi(a | s)`` of the action taken,
which ``reme trajectories verify`` re-scores; ``behaviour_logprob`` is what importance weights divide by.

The draws are ``draw(seed, decision_id, gate)``: blake2b of the three, as a uniform number in [0, 1). No global
random state is read or advanced (with ``epsilon = 0`` not even the decision's own generator), and every draw
can be recomputed from the log.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from reme.policy.decision import Decision

__all__ = [
    "Exploration",
    "GateExploration",
    "behaviour_logprob",
    "draw",
    "exploration_of",
    "explore_rank",
    "explore_write",
    "gate_behaviour_probability",
    "rank_behaviour_probability",
    "write_behaviour_probability",
]


class Exploration(BaseModel):
    """What exploration did to one decision (``Decision.extra["exploration"]``)."""

    epsilon: float = Field(ge=0, le=1)
    """The kind's epsilon when the decision was taken."""
    seed: int
    """The seed of the draws (``policies.exploration.seed``)."""
    explored: bool
    """Whether the rule changed the policy's action (write, rank) or at least one gate (compact)."""
    behaviour_logprob: float = Field(le=1e-9)
    """log of the probability of the action taken under the mixture of the policy and the rule."""
    gates: list[int] = Field(default_factory=list)
    """compact: the messages (indices, message order) that the rule kept where the policy compacted them."""
    canary: str | None = None
    """rank: the canary version this search was drawn between (its top k differed from the serving one)."""
    canary_served: bool = False
    """rank: the canary's ordering answered the search (else the serving policy's, with the canary drawn against)."""


def draw(seed: int, decision_id: str, gate: int = 0) -> float:
    """A uniform number in [0, 1) from ``blake2b(seed, decision_id, gate)``: reproducible, no shared state."""
    digest = hashlib.blake2b(f"{int(seed)}:{decision_id}:{int(gate)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _log(p: float) -> float:
    return math.log(p) if p > 0 else -math.inf


def exploration_of(decision: Decision) -> Exploration | None:
    """The decision's exploration record, or ``None`` when it was taken without exploration."""
    raw = decision.extra.get("exploration")
    return None if raw is None else Exploration.model_validate(raw)


def behaviour_logprob(decision: Decision) -> float | None:
    """log of the probability with which the decision's action was taken: the exploration record's mixture
    propensity when there is one, else the policy's ``logprob``."""
    found = exploration_of(decision)
    return found.behaviour_logprob if found is not None else decision.logprob


def _record(decision: Decision, exploration: Exploration) -> Decision:
    decision.extra["exploration"] = exploration.model_dump()
    if exploration.explored:
        decision.extra["explored"] = True
    return decision


# ----------------------------------------------------------------------------------------------------- write
def write_behaviour_probability(action: str, p: dict[str, float], epsilon: float, explorable: bool) -> float:
    """``b(action)`` of the write rule, from ``p`` (the policy's probability of each action under its mode) and
    whether ``store`` can be explored into (allowed and scorable)."""
    if not explorable:
        return p.get(action, 0.0)
    if action == "store":
        return p.get("store", 0.0) + epsilon * p.get("discard", 0.0)
    if action == "discard":
        return (1.0 - epsilon) * p.get("discard", 0.0)
    return p.get(action, 0.0)


def _score(policy: Any, state: Any, action: str) -> float | None:
    """``log pi(action | state)``, or ``None`` when the policy cannot score it (a host's policy without
    ``logprob``, a disallowed action) or gives it probability 0."""
    try:
        value = float(policy.logprob(state, action))
    except (AttributeError, ValueError, TypeError, KeyError, IndexError):
        return None
    return value if math.isfinite(value) else None


def explore_write(policy: Any, state: Any, decision: Decision, epsilon: float, seed: int) -> Decision:
    """The write decision after the epsilon rule (see the module docstring); ``decision`` itself when
    ``epsilon`` is 0 or the decision has no log-probability (an untrainable host decision)."""
    if epsilon <= 0 or decision.logprob is None:
        return decision
    allowed = tuple(getattr(state, "allowed", ()))
    store_lp = _score(policy, state, "store") if "store" in allowed else None
    explorable = store_lp is not None
    taken = decision
    if explorable and decision.action == "discard" and draw(seed, decision.decision_id) < epsilon:
        assert store_lp is not None
        taken = decision.model_copy(update={"action": "store", "logprob": min(store_lp, 0.0)}, deep=True)
    if decision.mode == "greedy":
        p = {str(decision.action): 1.0}
    else:
        p = {}
        for action in ("store", "discard"):
            if action in allowed:
                lp = decision.logprob if action == decision.action else _score(policy, state, action)
                p[action] = math.exp(lp) if lp is not None else 0.0
        p[str(decision.action)] = math.exp(decision.logprob)
    b = write_behaviour_probability(str(taken.action), p, epsilon, explorable)
    return _record(
        taken,
        Exploration(epsilon=epsilon, seed=seed, explored=taken is not decision, behaviour_logprob=min(_log(b), 0.0)),
    )


# ----------------------------------------------------------------------------------------------------- rank
def rank_behaviour_probability(is_greedy: bool, logprob: float, epsilon: float) -> float:
    """``b(a) = (1 - epsilon) * [a is greedy] + epsilon * pi(a)`` of a greedy search's ordering."""
    return (1.0 - epsilon) * (1.0 if is_greedy else 0.0) + epsilon * math.exp(logprob)


def explore_rank(
    policy: Any,
    state: Any,
    decision: Decision,
    epsilon: float,
    seed: int,
    canary: Any | None = None,
    canary_share: float = 0.5,
) -> Decision:
    """The rank decision after the exploration rules: where a ``canary`` is given and its greedy top k differs from
    ``decision``'s, the canary rule (module docstring); otherwise, with probability ``epsilon`` a greedy decision is
    replaced by an ordering sampled from the policy (a generator seeded from the draw's hash, so it is
    reproducible), under the same decision id. ``decision`` itself in ``sample`` mode, without a log-probability,
    or when neither rule applies."""
    if decision.mode != "greedy" or decision.logprob is None:
        return decision
    if canary is not None and canary_share > 0:
        shown = canary.decide(state, "greedy").action
        if list(shown) != list(decision.action):
            served = draw(seed, decision.decision_id, gate=1) < canary_share
            taken = decision
            if served:
                taken = decision.model_copy(deep=True)
                taken.action = list(shown)
                taken.logprob = float(policy.logprob(state, taken.action))
            b = canary_share if served else 1.0 - canary_share
            rule = Exploration(epsilon=epsilon, seed=seed, explored=served, behaviour_logprob=min(_log(b), 0.0),
                               canary=str(canary.version), canary_served=served)  # fmt: skip
            return _record(taken, rule)
    if epsilon <= 0:
        return decision
    taken = decision
    if draw(seed, decision.decision_id) < epsilon:
        digest = hashlib.blake2b(f"{int(seed)}:{decision.decision_id}:rank".encode(), digest_size=8).digest()
        taken = policy.decide(state, "sample", np.random.default_rng(int.from_bytes(digest, "big")))
        taken.decision_id = decision.decision_id
        taken.time = decision.time
    assert taken.logprob is not None
    b = rank_behaviour_probability(list(taken.action) == list(decision.action), taken.logprob, epsilon)
    return _record(
        taken,
        Exploration(epsilon=epsilon, seed=seed, explored=taken is not decision, behaviour_logprob=min(_log(b), 0.0)),
    )


# --------------------------------------------------------------------------------------------------- compact
def gate_behaviour_probability(keep: bool, p_keep: float, epsilon: float) -> float:
    """``b`` of one unforced gate: ``b(keep) = p + epsilon * (1 - p)``, ``b(compact) = (1 - epsilon) * (1 - p)``,
    with ``p`` the policy's keep probability under its mode."""
    return p_keep + epsilon * (1.0 - p_keep) if keep else (1.0 - epsilon) * (1.0 - p_keep)


@dataclass(frozen=True)
class GateExploration:
    """The compact rule's parameters for one decision, carried by its ``CompactState`` (``exploration``) into the
    gate walk; ``decision_id`` is the id the decision will have (its draws hash it)."""

    epsilon: float
    seed: int
    decision_id: str

    def keeps(self, gate: int) -> bool:
        """Whether the rule keeps message ``gate`` where the policy compacts it."""
        return self.epsilon > 0 and draw(self.seed, self.decision_id, gate) < self.epsilon

    def record(self, decision: Decision, behaviour: float, gates: list[int]) -> Decision:
        """Stamp a compact decision taken under this rule with its id and exploration record."""
        decision.decision_id = self.decision_id
        return _record(
            decision,
            Exploration(
                epsilon=self.epsilon, seed=self.seed, explored=bool(gates), behaviour_logprob=min(behaviour, 0.0),
                gates=sorted(gates),
            ),
        )  # fmt: skip
