"""The public face of an environment's rollout, what trainers drive: fork a shared prefix, run a policy over the
rest of the stream (greedily or sampling), and finish into an outcome whose decisions carry their states.

``reme.envs.write.WriteRollout`` (a step per candidate) and ``reme.envs.compaction.CompactionRollout`` (a step
per compaction point) follow it; the trainers of ``reme.train`` use nothing else of a rollout."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import numpy as np

from reme.policy.decision import Decision, Mode

__all__ = ["Outcome", "Rollout"]


class Outcome(Protocol):
    """What a finished rollout did: its decisions and the state each one saw (parallel lists)."""

    @property
    def decisions(self) -> Sequence[Decision]: ...

    @property
    def states(self) -> Sequence[Any]: ...


OutcomeT = TypeVar("OutcomeT", bound=Outcome, covariant=True)


class Rollout(Protocol[OutcomeT]):
    """One pass of a policy over an episode's stream of decisions."""

    @property
    def done(self) -> bool:
        """The stream has no decision left."""
        ...

    def copy(self) -> Rollout[OutcomeT]:
        """An independent fork of this rollout at its current step (a group's shared prefix)."""
        ...

    def run(
        self, policy: Any, until: int | None = None, mode: Mode = "greedy", rng: np.random.Generator | None = None
    ) -> None:
        """Decide with ``policy`` until decision ``until`` is due (not taken), or to the end when ``None``."""
        ...

    def finish(self) -> OutcomeT:
        """Score the end state: the outcome of the rollout's decisions."""
        ...
