"""The learned write policies: ``MLPWritePolicy`` (``mlp-write``: logits = MLP(features), ``WRITE_FEATURES`` ->
``hidden`` -> 3, tanh, disallowed actions masked to -inf before the log-softmax) and ``PacedMLPWritePolicy``
(``mlp-write-paced``: a learned score ranked against the stream and paced by the budget). Float64 throughout; they
share ``WritePolicyBase``'s scoring path with the heuristics of ``reme.policy.write`` and are saved and loaded by
``reme.policy.checkpoint``'s torch-head saver and loader. Trainers use ``batch_inputs`` + ``masked_logprobs`` (the
batched, differentiable scoring path) or ``logprob_torch``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from reme.errors import BadInputError
from reme.policy.checkpoint import TorchHead, head_tensors, head_version, load_head, save_head
from reme.policy.decision import Policy, log_softmax
from reme.policy.write import WRITE_ACTIONS, WritePolicyBase, WriteState, WriteStream
from reme.policy.write_features import N_WRITE_FEATURES, WRITE_COLUMN, WRITE_FEATURES

if TYPE_CHECKING:
    import torch

__all__ = ["MLPWritePolicy", "PacedMLPWritePolicy"]


class MLPWritePolicy(WritePolicyBase):
    """A learned write policy: logits = MLP(features) (``WRITE_FEATURES`` -> ``hidden`` -> 3, tanh), float64.

    Disallowed actions are masked to -inf before the log-softmax. ``module`` is the ``torch.nn.Module`` a
    trainer optimises; ``logprob_torch`` gives batched, differentiable log-probabilities. ``version`` is the
    checkpoint version hash of the current weights (so it changes when a trainer changes them, and equals the
    version ``save`` writes).
    """

    name: str = "mlp-write"
    learned: bool = True

    def __init__(self, hidden: int = 32, seed: int = 0) -> None:
        import torch

        if not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1:
            raise BadInputError(f"hidden must be a positive integer, got {hidden!r}")
        self.hidden = hidden
        self.training_data_hash = ""
        self.module = torch.nn.Sequential(
            torch.nn.Linear(N_WRITE_FEATURES, hidden, dtype=torch.float64),
            torch.nn.Tanh(),
            torch.nn.Linear(hidden, len(WRITE_ACTIONS), dtype=torch.float64),
        )
        generator = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():
            for layer in (self.module[0], self.module[2]):
                assert isinstance(layer, torch.nn.Linear)
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)
        self._version_key: bytes | None = None
        self._version_value = ""

    # -- versioning and checkpoints -------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {
            "hidden": self.hidden,
            "n_features": N_WRITE_FEATURES,
            "actions": list(WRITE_ACTIONS),
            "activation": "tanh",
            "dtype": "float64",
        }

    def checkpoint_spec(self) -> dict[str, Any]:
        """The spec a checkpoint of this policy carries (``reme.policy.checkpoint.TorchHead``)."""
        return {
            "kind": self.kind,
            "policy": self.name,
            "feature_spec": list(WRITE_FEATURES),
            "config": self.config(),
            "training_data_hash": self.training_data_hash,
        }

    def torch_module(self) -> torch.nn.Module:
        """The MLP (its ``state_dict`` is the checkpoint's weights)."""
        return self.module

    def _tensors(self) -> dict[str, torch.Tensor]:
        return head_tensors(self.module)

    @property
    def version(self) -> str:
        tensors = self._tensors()
        key = b"".join(t.numpy().tobytes() for t in tensors.values()) + self.training_data_hash.encode()
        if key != self._version_key:
            self._version_value = head_version(self)
            self._version_key = key
        return self._version_value

    def save(self, directory: str | Path, training_data_hash: str | None = None) -> str:
        """Write a checkpoint directory (kind ``write``, policy ``mlp-write``); returns its version."""
        if training_data_hash is not None:
            self.training_data_hash = str(training_data_hash)
        version = save_head(directory, self)
        if version != self.version:  # the live hash and the written one are the same function of the same bytes
            raise BadInputError(f"checkpoint version {version} differs from the policy's version {self.version}")
        return version

    @classmethod
    def load(cls, directory: str | Path) -> MLPWritePolicy:
        """Load a checkpoint written by ``save`` (``reme.policy.checkpoint.load_head``); a corrupt, edited or
        foreign checkpoint raises ``BadInputError``."""

        def build(spec: dict[str, Any]) -> MLPWritePolicy:
            if list(spec.get("feature_spec") or []) != list(WRITE_FEATURES):
                raise BadInputError(
                    f"{directory} was trained on features {spec.get('feature_spec')!r}, not this version's"
                )
            config = spec["config"]
            hidden = config.get("hidden")
            if not isinstance(hidden, int) or hidden < 1:
                raise BadInputError(f"{directory} has a bad hidden size {hidden!r}")
            policy = cls(hidden=hidden)
            if config != policy.config():
                raise BadInputError(f"{directory} has an unsupported config {config!r}")
            policy.training_data_hash = str(spec.get("training_data_hash", ""))
            return policy

        return load_head(directory, kind="write", policy=cls.name, build=build)

    # -- scoring ---------------------------------------------------------------------------------------------

    def masked_logprobs(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(n, 3) float64 log-probabilities; -inf where ``mask`` is False. The one scoring path."""
        import torch

        logits = self.module(features)
        return torch.log_softmax(logits.masked_fill(~mask, -math.inf), dim=-1)

    def batch_inputs(self, states: Sequence[WriteState]) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        features = torch.from_numpy(np.stack([s.features for s in states]).astype(np.float64))
        mask = torch.from_numpy(np.stack([s.mask() for s in states]))
        return features, mask

    def _numpy_weights(self) -> tuple[np.ndarray, ...]:
        """The weights as float64 arrays, refreshed when a trainer changed them."""
        tensors = self._tensors()
        key = b"".join(t.numpy().tobytes() for t in tensors.values())
        if key != getattr(self, "_np_key", None):
            self._np_weights = tuple(
                tensors[k].numpy().astype(np.float64) for k in ("0.weight", "0.bias", "2.weight", "2.bias")
            )
            self._np_key = key
        return self._np_weights

    def action_logprobs(self, state: WriteState) -> np.ndarray:
        """log pi(a | state) for each of ``WRITE_ACTIONS`` (-inf for disallowed ones), float64. The maths of
        ``logprob_torch`` in numpy: one decision through torch costs ten times more on a busy machine."""
        w1, b1, w2, b2 = self._numpy_weights()
        logits = np.tanh(state.features.astype(np.float64) @ w1.T + b1) @ w2.T + b2
        return log_softmax(np.where(state.mask(), logits, -np.inf))

    def logprob_torch(self, states: Sequence[WriteState], actions: Sequence[str]) -> torch.Tensor:
        """Batched, differentiable log pi(action_i | state_i) (float64, shape ``(n,)``) for trainers."""
        import torch

        if len(states) != len(actions):
            raise BadInputError(f"{len(states)} states but {len(actions)} actions")
        if not states:
            return torch.zeros(0, dtype=torch.float64)
        index = []
        for state, action in zip(states, actions):
            if not isinstance(action, str) or action not in WRITE_ACTIONS:
                raise BadInputError(f"unknown write action {action!r}: use {', '.join(WRITE_ACTIONS)}")
            if action not in state.allowed:
                raise BadInputError(f"write action {action!r} is not allowed (allowed: {', '.join(state.allowed)})")
            index.append(WRITE_ACTIONS.index(action))
        logp = self.masked_logprobs(*self.batch_inputs(states))
        return logp.gather(1, torch.tensor(index, dtype=torch.long).unsqueeze(1)).squeeze(1)


class PacedMLPWritePolicy(MLPWritePolicy):
    """A learned score, ranked against the stream and paced by the budget (``mlp-write-paced``).

    The MLP (``WRITE_FEATURES`` -> ``hidden`` -> 2, tanh, float64) gives a score ``s`` and an update logit ``u``.
    The candidate's soft percentile among the stream's recent candidates (``state.reference``, itself counted once)
    is ``pct = (1 + sum_j sigmoid(s(x) - s(r_j))) / (1 + m)``; then, as in ``NoveltyLengthWritePolicy``,
    ``logit(store) = (pct - (1 - budget_rate)) / T``, ``logit(discard) = 0``, ``logit(update) = u``. Pacing is
    part of the structure (a candidate must out-rank the share of the stream the budget cannot afford), so
    training shapes *which* candidates are stored, not how many. Everything is a function of the state and the
    weights, so recorded log-probabilities re-score exactly.
    """

    name: str = "mlp-write-paced"
    TEMPERATURE = 0.05

    def __init__(self, hidden: int = 32, seed: int = 0) -> None:
        import torch

        super().__init__(hidden=hidden, seed=seed)
        generator = torch.Generator().manual_seed(int(seed) + 1)
        head = torch.nn.Linear(hidden, 2, dtype=torch.float64)
        with torch.no_grad():
            bound = 1.0 / math.sqrt(hidden)
            head.weight.uniform_(-bound, bound, generator=generator)
            head.bias.copy_(torch.tensor([0.0, -4.0], dtype=torch.float64))  # updates start rare
        self.module[2] = head
        self._version_key = None

    def config(self) -> dict[str, Any]:
        return {
            "hidden": self.hidden,
            "n_features": N_WRITE_FEATURES,
            "actions": list(WRITE_ACTIONS),
            "activation": "tanh",
            "dtype": "float64",
            "outputs": ["score", "update_logit"],
            "temperature": self.TEMPERATURE,
            "reference_size": WriteStream.REFERENCE_SIZE,
        }

    def batch_inputs(self, states: Sequence[WriteState]) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        import torch

        m = max([0 if s.reference is None else len(s.reference) for s in states] + [0])
        features = torch.from_numpy(np.stack([s.features for s in states]).astype(np.float64))
        refs = np.zeros((len(states), max(m, 1), N_WRITE_FEATURES), dtype=np.float64)
        ref_mask = np.zeros((len(states), max(m, 1)), dtype=bool)
        for i, s in enumerate(states):
            if s.reference is not None and len(s.reference):
                refs[i, : len(s.reference)] = s.reference
                ref_mask[i, : len(s.reference)] = True
        mask = torch.from_numpy(np.stack([s.mask() for s in states]))
        return features, torch.from_numpy(refs), torch.from_numpy(ref_mask), mask

    def masked_logprobs(self, *batch: torch.Tensor) -> torch.Tensor:
        import torch

        features, refs, ref_mask, mask = batch
        out = self.module(features)
        score, update = out[:, 0], out[:, 1]
        ref_score = self.module(refs)[..., 0]
        wins = torch.sigmoid(score[:, None] - ref_score) * ref_mask
        pct = (1.0 + wins.sum(-1)) / (1.0 + ref_mask.sum(-1))
        rate = features[:, WRITE_COLUMN["budget_rate"]]
        store = (pct - (1.0 - rate)) / self.TEMPERATURE
        logits = torch.stack([store, torch.zeros_like(store), update], dim=-1)
        return torch.log_softmax(logits.masked_fill(~mask, -math.inf), dim=-1)

    def action_logprobs(self, state: WriteState) -> np.ndarray:
        """The maths of ``masked_logprobs`` in numpy (float64), for fast serving."""
        w1, b1, w2, b2 = self._numpy_weights()

        def net(x: np.ndarray) -> np.ndarray:
            return np.tanh(x.astype(np.float64) @ w1.T + b1) @ w2.T + b2

        score, update = net(state.features[None, :])[0]
        ref = state.reference
        wins = 0.0
        m = 0
        if ref is not None and len(ref):
            m = len(ref)
            wins = float((1.0 / (1.0 + np.exp(-(score - net(ref)[:, 0])))).sum())
        pct = (1.0 + wins) / (1.0 + m)
        rate = float(state.features[WRITE_COLUMN["budget_rate"]])
        logits = np.array([(pct - (1.0 - rate)) / self.TEMPERATURE, 0.0, update], dtype=np.float64)
        return log_softmax(np.where(state.mask(), logits, -np.inf))


if TYPE_CHECKING:  # the classes satisfy the protocols (checked by mypy only)

    def _protocol_check(m: MLPWritePolicy, p: PacedMLPWritePolicy) -> list[Policy[WriteState]]:
        return [m, p]

    def _head_check(m: MLPWritePolicy, p: PacedMLPWritePolicy) -> list[TorchHead]:
        return [m, p]
