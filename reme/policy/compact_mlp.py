"""The learned compact gates: ``MLPCompactPolicy`` (a per-message keep-logit from an MLP over the message's
features) and ``RankedMLPCompactPolicy`` (a learned value per message, ranked per token and filled into the
reserve). Both decide and re-score through the gate walk of ``reme.policy.compact`` (the forcing rules are every
compact policy's) and are saved and loaded by ``reme.policy.checkpoint``'s torch-head saver and loader.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from reme.policy.checkpoint import TorchHead, head_tensors, head_version, load_head, save_head
from reme.policy.compact import (
    COMPACT_FEATURES,
    CompactState,
    HeuristicCompactPolicy,
    compact_features,
    compact_state_from_record,
    gate_decision,
    keep_flags,
    walk_gates,
)
from reme.policy.decision import Decision, DecisionKind, Mode, Policy

if TYPE_CHECKING:
    import torch

__all__ = ["MLPCompactPolicy", "RankedMLPCompactPolicy"]


class MLPCompactPolicy:
    """A learned per-message gate: ``p(keep_i) = sigmoid(MLP(features_i))``, under the same forcing rules.

    The MLP is ``Linear(F, hidden) -> tanh -> Linear(hidden, 1)`` with float32 weights; logits are computed in
    float64 from the float32 features (``state.features`` when given, else ``compact_features(state)``), so a
    re-score from the record is exact. ``version`` is the checkpoint version of the current weights (the value
    ``save`` returns and ``load`` checks), recomputed from the weights, so it changes when they are trained.
    """

    kind: DecisionKind = "compact"
    name = "mlp-compact"
    learned: bool = True

    def __init__(
        self,
        hidden: int = 32,
        seed: int = 0,
        feature_spec: Sequence[str] = COMPACT_FEATURES,
        training_data_hash: str = "",
    ):
        import torch

        if hidden < 1 or not feature_spec:
            raise ValueError("hidden must be >= 1 and feature_spec non-empty")
        self.feature_spec: tuple[str, ...] = tuple(str(x) for x in feature_spec)
        self.training_data_hash = training_data_hash
        self.config: dict[str, Any] = {"hidden": int(hidden), "n_features": len(self.feature_spec)}
        self.params = self.config
        generator = torch.Generator().manual_seed(int(seed))
        self.net = torch.nn.ModuleDict(
            {
                "hidden": torch.nn.Linear(len(self.feature_spec), int(hidden)),
                "out": torch.nn.Linear(int(hidden), 1),
            }
        )
        with torch.no_grad():
            for p in self.net.parameters():
                p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float32) * 0.3)
        self.net.eval()

    def parameters(self) -> Iterable[torch.nn.Parameter]:
        """The trainable weights (for an optimizer)."""
        return self.net.parameters()

    def checkpoint_spec(self) -> dict[str, Any]:
        """The spec a checkpoint of this policy carries (``reme.policy.checkpoint.TorchHead``)."""
        return {
            "kind": self.kind,
            "policy": self.name,
            "feature_spec": list(self.feature_spec),
            "config": self.config,
            "training_data_hash": self.training_data_hash,
        }

    def torch_module(self) -> torch.nn.Module:
        """The gate's MLP (its ``state_dict`` is the checkpoint's weights)."""
        return self.net

    def _tensors(self) -> dict[str, torch.Tensor]:
        return head_tensors(self.net)

    @property
    def version(self) -> str:
        """The hash ``save`` writes, so a fresh policy's decisions name the version it will be saved under."""
        return head_version(self)

    # -- scoring ---------------------------------------------------------------------------------------------

    def features(self, state: CompactState) -> np.ndarray:
        """The float32 features the gate scores: ``state.features`` when present, else ``compact_features``."""
        if state.features is not None:
            feats = state.features
        elif self.feature_spec == COMPACT_FEATURES:
            feats = compact_features(state)
        else:
            raise ValueError(f"policy expects features {self.feature_spec}; the state carries none")
        if feats.shape[1] != len(self.feature_spec):
            raise ValueError(f"policy expects {len(self.feature_spec)} features, the state has {feats.shape[1]}")
        return np.ascontiguousarray(feats, dtype=np.float32)

    def logits_torch(self, features: Any) -> torch.Tensor:
        """Differentiable float64 keep-logits ``(n,)`` of a ``(n, F)`` float32 array or tensor."""
        import torch
        import torch.nn.functional as F

        x = torch.as_tensor(features).to(torch.float64)
        hidden = cast("torch.nn.Linear", self.net["hidden"])
        out = cast("torch.nn.Linear", self.net["out"])
        h = torch.tanh(F.linear(x, hidden.weight.double(), hidden.bias.double()))
        return F.linear(h, out.weight.double(), out.bias.double()).squeeze(-1)

    def logits(self, state: CompactState) -> np.ndarray:
        """Float64 keep-logit of each message, no gradient. The same maths as ``logits_torch`` in numpy: serving
        a tiny MLP through torch's thread pool costs milliseconds per call on a busy machine."""
        x = self.features(state).astype(np.float64)
        w = {k: v.numpy().astype(np.float64) for k, v in self._tensors().items()}
        h = np.tanh(x @ w["hidden.weight"].T + w["hidden.bias"])
        return np.asarray(h @ w["out.weight"].T + w["out.bias"], dtype=np.float64).reshape(-1)

    def _logit_fn(self, state: CompactState) -> tuple[np.ndarray, Callable[[int, bool], float]]:
        z = self.logits(state)
        return z, lambda i, stopped: float(z[i])

    def _gate_logits_torch(self, state: CompactState) -> torch.Tensor:
        """The differentiable keep-logits of every gate (the MLP's outputs here)."""
        import torch

        return self.logits_torch(torch.from_numpy(self.features(state)))

    def decide(self, state: CompactState, mode: Mode = "greedy", rng: np.random.Generator | None = None) -> Decision:
        feats = self.features(state)
        scored = replace(state, features=feats)  # the record carries the very features that were scored
        _, logit_at = self._logit_fn(scored)
        return gate_decision(self, scored, logit_at, mode, rng)

    def logprob(self, state: CompactState, action: Any) -> float:
        _, logit_at = self._logit_fn(state)
        return walk_gates(state, logit_at, wanted=keep_flags(state, action)).logprob

    def logprob_torch(self, state: CompactState, action: Any) -> torch.Tensor:
        """Differentiable log-probability of ``action`` (a float64 scalar; 0 when every gate is forced)."""
        import torch
        import torch.nn.functional as F

        _, logit_at = self._logit_fn(state)
        # the numpy walk validates the action and finds the free gates; torch re-computes their log-probabilities
        walk = walk_gates(state, logit_at, wanted=keep_flags(state, action))
        free = [i for i in range(state.n_messages) if not walk.forced[i]]
        logits = self._gate_logits_torch(state)
        if not free:
            return logits.sum() * 0.0 if logits.numel() else torch.zeros((), dtype=torch.float64)
        idx = torch.as_tensor(free, dtype=torch.long)
        sign = torch.as_tensor([1.0 if walk.keep[i] else -1.0 for i in free], dtype=torch.float64)
        return F.logsigmoid(sign * logits[idx]).sum()

    def state_from_record(self, decision: Decision) -> CompactState:
        return compact_state_from_record(decision)

    # -- checkpoints -----------------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> str:
        """Write ``policy.safetensors`` + ``policy.json``; returns the version (equal to ``self.version``)."""
        return save_head(directory, self)

    @classmethod
    def load(cls, directory: str | Path) -> MLPCompactPolicy:
        """A policy from a checkpoint directory (``reme.policy.checkpoint.load_head``); ``BadInputError`` when it is
        corrupt or not a checkpoint of this class."""

        def build(spec: dict[str, Any]) -> MLPCompactPolicy:
            config = spec["config"]
            policy = cls(
                hidden=int(config["hidden"]),
                feature_spec=spec["feature_spec"],
                training_data_hash=str(spec.get("training_data_hash", "")),
            )
            policy.config = dict(config)
            policy.params = policy.config
            return policy

        return load_head(directory, kind="compact", policy=cls.name, build=build)


class RankedMLPCompactPolicy(MLPCompactPolicy):
    """A learned *value* per message, ranked per token and filled into the reserve.

    The MLP's output ``v_i`` scores how much keeping message ``i`` verbatim is worth (trained first on hindsight
    labels, then by GRPO). Each message's priority is ``log sigmoid(v_i) - a * log(1 + tokens_i)`` (value per
    token, ``a = token_exponent``); ``ahead_i = sum_j tokens_j * sigmoid((prio_j - prio_i) / rank_temperature)``
    over ``j != i`` is a soft count of the tokens ranked before it, and the keep-logit is

        z_i = (budget - ahead_i - tokens_i) / (budget_temperature * budget)

    so the greedy gate keeps the longest prefix of the ranking by value per token that fits the reserve, wherever
    its messages sit in the context (ReMe's tail keeps the prefix of the ranking by recency). Sampling, re-scoring
    and the forcing rules are those of every compact policy; the keep-logits are float64 functions of the recorded
    features, so a record re-scores exactly.
    """

    name = "mlp-compact-ranked"

    def __init__(
        self,
        hidden: int = 32,
        seed: int = 0,
        feature_spec: Sequence[str] = COMPACT_FEATURES,
        training_data_hash: str = "",
        token_exponent: float = 0.75,
        rank_temperature: float = 0.1,
        budget_temperature: float = 0.05,
    ):
        for label, value in (("rank_temperature", rank_temperature), ("budget_temperature", budget_temperature)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{label} must be a finite number > 0, got {value!r}")
        if not (isinstance(token_exponent, int | float) and math.isfinite(token_exponent) and token_exponent >= 0):
            raise ValueError(f"token_exponent must be a finite number >= 0, got {token_exponent!r}")
        super().__init__(hidden=hidden, seed=seed, feature_spec=feature_spec, training_data_hash=training_data_hash)
        self.config.update(
            token_exponent=float(token_exponent),
            rank_temperature=float(rank_temperature),
            budget_temperature=float(budget_temperature),
        )

    def _ranked(self, value: Any, state: CompactState, xp: Any) -> Any:
        """Keep-logits from value logits, in numpy (``xp=np``) or torch (the same float64 maths)."""
        tokens = xp.asarray(np.asarray(state.tokens, dtype=np.float64))
        budget = float(max(state.budget, 1))
        a = float(self.config.get("token_exponent", 0.75))
        rank_t = float(self.config.get("rank_temperature", 0.1))
        budget_t = float(self.config.get("budget_temperature", 0.05))
        if xp is np:
            log_value = -np.logaddexp(0.0, -value)
            priority = log_value - a * np.log1p(tokens)
            before = 0.5 * (1.0 + np.tanh((priority[None, :] - priority[:, None]) / (2.0 * rank_t)))  # sigmoid
        else:
            import torch.nn.functional as F

            priority = F.logsigmoid(value) - a * xp.log1p(tokens)
            before = xp.sigmoid((priority[None, :] - priority[:, None]) / rank_t)
        ahead = (before * tokens[None, :]).sum(1) - 0.5 * tokens  # drop j == i (sigmoid(0) = 0.5)
        return (budget - ahead - tokens) / (budget_t * budget)

    def keep_logits(self, state: CompactState) -> np.ndarray:
        """Float64 keep-logit of each message (``logits`` are the values they are ranked by)."""
        if state.n_messages == 0:
            return np.zeros(0, dtype=np.float64)
        return np.asarray(self._ranked(self.logits(state), state, np), dtype=np.float64)

    def _logit_fn(self, state: CompactState) -> tuple[np.ndarray, Callable[[int, bool], float]]:
        z = self.keep_logits(state)
        return z, lambda i, stopped: float(z[i])

    def _gate_logits_torch(self, state: CompactState) -> torch.Tensor:
        import torch

        value = self.logits_torch(torch.from_numpy(self.features(state)))
        if state.n_messages == 0:
            return value
        return cast("torch.Tensor", self._ranked(value, state, torch))


if TYPE_CHECKING:  # the classes satisfy the protocols (checked by mypy only)

    def _protocol_check(
        h: HeuristicCompactPolicy, m: MLPCompactPolicy, r: RankedMLPCompactPolicy
    ) -> list[Policy[CompactState]]:
        return [h, m, r]

    def _head_check(m: MLPCompactPolicy, r: RankedMLPCompactPolicy) -> list[TorchHead]:
        return [m, r]
