"""Policy safety: a learned policy that cannot be trusted never decides, and never logs a bad record.

At load (``load_guarded``), a learned policy is refused when its checkpoint is missing or corrupt, holds another
decision kind, or was trained on other feature columns than this version computes for live decisions. At decision
time (``GuardedPolicy``), a decision that raises or carries a non-finite log-probability (non-finite scores
give one) is refused. What happens then is the workspace's ``policies.on_failure``:

- ``error`` (the default): a ``PolicyError`` naming the policy and the cause; nothing is written;
- ``heuristic``: ReMe's rule for that decision kind decides instead, with a warning in the log, one more count in
  ``FALLBACKS[kind]`` (and in the guard's own ``fallbacks``), and ``extra["fallback_from"]`` on the decision
  record naming the version that failed.

Either way a decision is never recorded with a non-finite log-probability: ``Decision`` itself refuses one.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from reme.errors import ReMeError
from reme.policy.feature_sets import live_features

__all__ = ["FALLBACKS", "GuardedPolicy", "PolicyError", "load_guarded"]

log = logging.getLogger(__name__)

OnFailure = Literal["error", "heuristic"]

FALLBACKS: Counter[str] = Counter()
"""Fallbacks to the heuristic in this process, per decision kind (``rank:load``, ``rank:decide``, ...)."""


class PolicyError(ReMeError):
    """A learned policy could not be loaded or could not decide, and the workspace does not fall back."""


def _features_of(policy: Any) -> tuple[str, ...] | None:
    names = getattr(policy, "feature_names", None) or getattr(policy, "feature_spec", None)
    return tuple(names) if names else None


class GuardedPolicy:
    """A learned policy behind the decision-time check (see the module docstring). Every other attribute (name,
    kind, version, ``learned``, ``needs_nearest``, ``save``, ``logprob``, ...) is the wrapped policy's; what a
    caller needs to know of a policy it asks those attributes, never ``isinstance`` (``policy.policy`` is the
    wrapped one)."""

    def __init__(self, policy: Any, kind: str, on_failure: OnFailure = "error") -> None:
        self.policy = policy
        self.guard_kind = kind
        self.on_failure = on_failure
        self.fallbacks = 0
        self._heuristic: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.policy, name)

    def decide(self, state: Any, mode: Any = "greedy", rng: Any = None) -> Any:
        try:
            decision = self.policy.decide(state, mode=mode, rng=rng)
            if decision.logprob is not None and not math.isfinite(decision.logprob):
                raise ValueError(f"non-finite log-probability {decision.logprob!r}")
        except (ValueError, ArithmeticError, RuntimeError, IndexError, KeyError, TypeError) as exc:
            cause = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            return self._fall_back(state, mode, rng, cause)
        return decision

    def _fall_back(self, state: Any, mode: Any, rng: Any, cause: str) -> Any:
        what = f"{self.guard_kind} policy {getattr(self.policy, 'name', '?')} {getattr(self.policy, 'version', '?')}"
        if self.on_failure != "heuristic":
            raise PolicyError(f"the {what} failed to decide ({cause}); set policies.on_failure: heuristic to fall back")
        if self._heuristic is None:
            from reme.policy.registry import heuristic_for

            self._heuristic = heuristic_for(self.guard_kind)
        self.fallbacks += 1
        FALLBACKS[f"{self.guard_kind}:decide"] += 1
        log.warning("the %s failed to decide (%s); the heuristic decides (fallback %d)", what, cause, self.fallbacks)
        decision = self._heuristic.decide(state, mode=mode, rng=rng)
        decision.extra["fallback_from"] = str(getattr(self.policy, "version", "?"))
        return decision


def load_guarded(workspace: str | Path, kind: str, name: str, on_failure: OnFailure = "error") -> Any:
    """The policy serving ``kind`` (``heuristic``, a registry version, or ``default``: the shipped default, see
    ``registry.resolve``), a learned one behind ``GuardedPolicy``. A version that cannot be loaded (a shipped
    default whose manifest or checkpoint is missing or corrupt too), or whose features are not this version's live
    features, raises ``PolicyError`` or, with ``on_failure="heuristic"``, gives the heuristic (warned and counted)."""
    from reme.policy.registry import DEFAULT, HEURISTIC, heuristic_for, load_version, resolve

    if name == HEURISTIC:
        return heuristic_for(kind)
    try:
        if name == DEFAULT:
            name = resolve(workspace, kind, name)
            if name == HEURISTIC:
                return heuristic_for(kind)
        policy = load_version(workspace, name)
        if getattr(policy, "kind", kind) != kind:
            raise PolicyError(f"version {name} is a {policy.kind} policy, not a {kind} policy")
        features = _features_of(policy)
        if features is not None and features != live_features(kind):
            raise PolicyError(
                f"version {name} was trained on features {list(features)[:4]}... ({len(features)} columns), not the "
                f"{len(live_features(kind))} live {kind} features of this version"
            )
    except (ReMeError, OSError, ValueError, KeyError, RuntimeError) as exc:
        message = f"the {kind} policy {name} cannot serve: {exc}"
        if on_failure != "heuristic":
            raise PolicyError(message) from None
        FALLBACKS[f"{kind}:load"] += 1
        log.warning("%s; the heuristic serves %s decisions instead", message, kind)
        return heuristic_for(kind)
    return GuardedPolicy(policy, kind, on_failure)
