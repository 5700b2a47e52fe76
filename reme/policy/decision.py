"""The one decision protocol: every memory decision (``rank``, ``write``, ``compact``) is taken by a policy that
returns the action *and its log-probability*, as a ``Decision`` record a trainer can replay.

A policy has three methods, the same for heuristics and learned heads::

    decision = policy.decide(state, mode="sample", rng=rng)    # act: sample (training) or greedy (serving)
    logp = policy.logprob(state, decision.action)               # re-score any action under the policy
    state = policy.state_from_record(decision)                  # rebuild the state from the record alone

``decide`` and ``logprob`` share one scoring path, so the recorded log-probability and a later re-score agree.
Both modes record the log-probability of the action taken under the policy; only ``sample`` records are valid
behaviour propensities for off-policy training (a greedy action's probability is not the probability with
which it was chosen).

Sequential gates under constraints (compaction) record, per gate, whether the action was *forced* (by a hard
constraint or an exhausted budget); a forced gate contributes log-probability 0, so the joint
log-probability is well defined and can be re-scored exactly.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from reme.schema import utc_now

DecisionKind = Literal["rank", "write", "compact"]
DECISION_KINDS: tuple[DecisionKind, ...] = ("rank", "write", "compact")
Mode = Literal["sample", "greedy"]

RECORD_SCHEMA_VERSION = 1
"""Version of the trajectory record layout (``Decision`` and ``RewardEvent`` lines)."""


class Matrix(BaseModel):
    """A float32 matrix stored exactly (base64 of its bytes), so a re-score sees the very inputs of the
    decision. ``names`` label the columns."""

    shape: list[int]
    b64: str
    names: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, array: np.ndarray, names: list[str] | tuple[str, ...] = ()) -> Matrix:
        arr = np.ascontiguousarray(array, dtype=np.float32)
        return cls(shape=list(arr.shape), b64=base64.b64encode(arr.tobytes()).decode("ascii"), names=list(names))

    def array(self) -> np.ndarray:
        flat = np.frombuffer(base64.b64decode(self.b64), dtype=np.float32)
        return flat.reshape(self.shape).copy()


class Decision(BaseModel):
    """One decision, as written to the trajectory log (``type: "decision"``)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["decision"] = "decision"
    schema_version: int = RECORD_SCHEMA_VERSION
    decision_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    kind: DecisionKind
    policy: str
    """Policy name (``heuristic-fusion``, ``mlp-rank``, ...)."""
    version: str
    """Version of the policy that decided: a registry version hash, or a hash of a heuristic's parameters."""
    mode: Mode
    action: Any
    """rank: positions into the candidates, best first (the top k); write: ``store`` | ``discard`` | ``update``;
    compact: one ``keep`` | ``compact`` per message, in message order."""
    logprob: float | None
    """log pi(action | state) under the policy; ``None`` only for an external LLM that returned none."""
    trainable: bool = True
    """False when the log-probability is unknown (``logprob: null``); such records are counted, never trained on."""
    forced: list[bool] | None = None
    """Per gate, in the order of ``action`` (message order for compaction, whatever order the gates ran in,
    which ``extra["order"]`` records): whether a constraint or the budget forced it (log-probability 0)."""
    inputs: dict[str, Any] = Field(default_factory=dict)
    """What the policy scored, enough to rebuild its state (``Matrix`` dumps and plain values)."""
    memory_ids: list[str] = Field(default_factory=list)
    """Memories involved (rank: the candidates, in candidate order; write: the stored or superseded memory)."""
    episode_id: str | None = None
    group_id: str | None = None
    step: int | None = None
    time: str = Field(default_factory=utc_now)
    extra: dict[str, Any] = Field(default_factory=dict)
    """Free-form context. ``extra["params"]`` holds a heuristic policy's constructor arguments: the audit
    rebuilds the heuristic from them to re-score the decision (learned policies are found by ``version``)."""

    _scores: np.ndarray | None = PrivateAttr(default=None)

    @property
    def scores(self) -> np.ndarray | None:
        """rank: the score of every candidate that the policy decided from (``SearchHit.score``), so a search need
        not ask the policy again; held in memory only, never logged (``None`` on a record read back)."""
        return self._scores

    @model_validator(mode="after")
    def _logprob_is_a_logprob(self) -> Decision:
        if self.logprob is None:
            self.trainable = False  # an unknown propensity can never be trained on
        elif not np.isfinite(self.logprob) or self.logprob > 1e-9:
            raise ValueError(f"logprob must be finite and <= 0, got {self.logprob!r}")
        return self


S = TypeVar("S")


class Policy(Protocol[S]):
    """What every policy provides (see the module docstring)."""

    kind: DecisionKind
    name: str
    learned: bool
    """Whether the policy has trained weights (a checkpoint, found by ``version``), rather than hand-set parameters
    (recorded with each decision); a caller asks this, never ``isinstance``."""

    @property
    def version(self) -> str: ...

    def decide(self, state: S, mode: Mode = "greedy", rng: np.random.Generator | None = None) -> Decision: ...

    def logprob(self, state: S, action: Any) -> float: ...

    def state_from_record(self, decision: Decision) -> S: ...


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax over the last axis (float64)."""
    z = np.asarray(logits, dtype=np.float64)
    m = np.max(z, axis=-1, keepdims=True)
    return z - m - np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))


def log_sigmoid(x: float) -> float:
    """log(1 / (1 + exp(-x))), stable for large |x|."""
    return float(-np.logaddexp(0.0, -x))
