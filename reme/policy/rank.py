"""The ``rank`` decision: a Plackett-Luce distribution over orderings of the top k candidates of a query.

``HeuristicRankPolicy`` is ReMe 0.3.1.x's fusion rule (``0.7 * cosine + 0.3 * bm25 / max(bm25)``, with ReMe's
one-side fallbacks) made a policy by a softmax over its fused scores with a temperature: its greedy ordering is
exactly the order of ``reme.policy.fusion.fused_scores``. ``RRFRankPolicy`` is ReMe 0.4's reciprocal-rank fusion
(``0.7 / (60 + rank_dense) + 0.3 / (60 + rank_keyword)``, ``fusion.rrf_fusion``), the heuristic of the 0.4
``search`` job. The formulas live in ``reme.policy.fusion``, once.
``MLPRankPolicy`` scores candidates with a learned head (an MLP over ``RANK_FEATURES``); the same Plackett-Luce
maths gives its log-probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reme.errors import BadInputError
from reme.policy import fusion
from reme.policy import plackett_luce as pl
from reme.policy.checkpoint import head_version, load_head, params_version, save_head
from reme.policy.decision import Decision, DecisionKind, Matrix, Mode
from reme.policy.rank_features import RANK_FEATURES


@dataclass
class RankState:
    """What a ranking policy sees: one row of features per candidate (``RANK_FEATURES`` columns)."""

    features: np.ndarray
    k: int
    memory_ids: list[str] = field(default_factory=list)
    feature_names: tuple[str, ...] = RANK_FEATURES

    def column(self, name: str) -> np.ndarray:
        return self.features[:, self.feature_names.index(name)].astype(np.float64)

    def to_inputs(self) -> dict[str, Any]:
        return {"features": Matrix.of(self.features, self.feature_names).model_dump(), "k": self.k}

    @classmethod
    def from_record(cls, decision: Decision) -> RankState:
        matrix = Matrix.model_validate(decision.inputs["features"])
        return cls(matrix.array(), int(decision.inputs["k"]), list(decision.memory_ids), tuple(matrix.names))


def _decision(
    policy: Any,
    state: RankState,
    scores: np.ndarray,
    mode: Mode,
    rng: np.random.Generator | None,
    hit_scores: np.ndarray | None = None,
) -> Decision:
    """Sample or take the greedy ordering of Plackett-Luce over ``scores``; the decision keeps ``hit_scores``
    (default ``scores``: the policy's ``scores(state)``) for the search's hits."""
    if mode == "sample":
        action = pl.sample(scores, state.k, rng or np.random.default_rng())
    elif mode == "greedy":
        action = pl.greedy(scores, state.k)
    else:
        raise ValueError(f"unknown mode {mode!r}")
    decision = Decision(
        kind="rank",
        policy=policy.name,
        version=policy.version,
        mode=mode,
        action=action,
        logprob=pl.logprob(scores, action),
        inputs=state.to_inputs(),
        memory_ids=list(state.memory_ids),
        extra={"params": policy.params},
    )
    decision._scores = scores if hit_scores is None else hit_scores
    return decision


class _FusionRule:
    """A hand-set fusion of the two candidate lists made a policy: Plackett-Luce over ``scores / temperature``.
    ``scores`` applies ReMe's one-side fallbacks (a side that found nothing leaves the other side's raw scores, and
    ``-inf`` for the candidates it did not find); subclasses fuse when both sides found something."""

    kind: DecisionKind = "rank"
    name = ""
    learned: bool = False
    params: dict[str, Any]
    version: str

    def _both(self, cos: np.ndarray, kw: np.ndarray, in_dense: np.ndarray, in_kw: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def scores(self, state: RankState) -> np.ndarray:
        """The fused score of each candidate (``-inf`` for one that the fallbacks leave out)."""
        cos, kw = state.column("cosine"), state.column("bm25_norm")
        in_dense, in_kw = state.column("in_dense") > 0, state.column("in_keyword") > 0
        fallback = fusion.one_side_scores(cos, kw, in_dense, in_kw)
        return fallback if fallback is not None else self._both(cos, kw, in_dense, in_kw)

    def _pl_scores(self, state: RankState) -> np.ndarray:
        return self.scores(state) / float(self.params["temperature"])

    def decide(self, state: RankState, mode: Mode = "greedy", rng: np.random.Generator | None = None) -> Decision:
        fused = self.scores(state)
        return _decision(self, state, fused / float(self.params["temperature"]), mode, rng, hit_scores=fused)

    def logprob(self, state: RankState, action: Any) -> float:
        return pl.logprob(self._pl_scores(state), action)

    def state_from_record(self, decision: Decision) -> RankState:
        return RankState.from_record(decision)


class HeuristicRankPolicy(_FusionRule):
    """ReMe 0.3.1's fusion as a policy: ``0.7 * cosine + 0.3 * bm25_norm``, Plackett-Luce over ``fused /
    temperature``.

    ``missing="zero"`` reproduces ReMe's backends, which gave a candidate found by one side 0 for the other.
    """

    name = "heuristic-fusion"

    def __init__(self, vector_weight: float = 0.7, temperature: float = 0.05, missing: str = "exact"):
        if not 0.0 <= vector_weight <= 1.0 or temperature <= 0 or missing not in ("exact", "zero"):
            raise ValueError("vector_weight in [0, 1], temperature > 0, missing 'exact' or 'zero'")
        self.params = {"vector_weight": vector_weight, "temperature": temperature, "missing": missing}
        self.version = params_version(self.name, self.params)

    def _both(self, cos: np.ndarray, kw: np.ndarray, in_dense: np.ndarray, in_kw: np.ndarray) -> np.ndarray:
        return fusion.fused_scores(
            cos, kw, in_dense, in_kw, float(self.params["vector_weight"]), str(self.params["missing"])
        )


def with_fusion_weight(policy: Any, vector_weight: float) -> Any:
    """``policy`` with ReMe's fusion at ``vector_weight`` (``retrieval.vector_weight``) when it is that rule, so that
    the weight of the score shown is the weight of the order; any other policy (a learned head) unchanged."""
    if type(policy) is HeuristicRankPolicy and policy.params["vector_weight"] != vector_weight:
        params = policy.params
        return HeuristicRankPolicy(vector_weight, float(params["temperature"]), str(params["missing"]))
    return policy


def _ranks(scores: np.ndarray, present: np.ndarray) -> np.ndarray:
    """1-based rank of each present candidate by descending score (ties keep candidate order); 0 where absent."""
    order = sorted((i for i in range(len(scores)) if present[i]), key=lambda i: (-scores[i], i))
    out = np.zeros(len(scores), dtype=np.float64)
    for rank, i in enumerate(order, start=1):
        out[i] = rank
    return out


class RRFRankPolicy(_FusionRule):
    """ReMe 0.4's fusion as a policy: reciprocal-rank fusion ``w / (k + rank_dense) + (1 - w) / (k + rank_keyword)``
    (``w = 0.7``, ``k = 60``; a side that did not find a candidate adds nothing), Plackett-Luce over
    ``fused / temperature``. When only one side found anything its raw scores rank, as ReMe's ``search`` returns
    that list unchanged. The ranks come from the ``cosine`` and ``bm25_norm`` columns, so a logged decision is
    re-scorable from its features alone.
    """

    name = "heuristic-rrf"

    def __init__(self, vector_weight: float = 0.7, k: float = float(fusion.RRF_K), temperature: float = 0.001):
        if not 0.0 <= vector_weight <= 1.0 or k < 0 or temperature <= 0:
            raise ValueError("vector_weight in [0, 1], k >= 0, temperature > 0")
        self.params = {"vector_weight": vector_weight, "k": k, "temperature": temperature}
        self.version = params_version(self.name, self.params)

    def _both(self, cos: np.ndarray, kw: np.ndarray, in_dense: np.ndarray, in_kw: np.ndarray) -> np.ndarray:
        w, k = float(self.params["vector_weight"]), float(self.params["k"])
        return fusion.rrf_fusion(_ranks(cos, in_dense), _ranks(kw, in_kw), in_dense, in_kw, w, k)


def _rank_head(n_features: int, hidden: int, residual: tuple[int, float, float] | None = None) -> Any:
    """``score(x) = MLP(x) + w . x``: an MLP plus a linear skip term, so that the head can start exactly at a
    linear rule (the heuristic's fusion) and learn the rest.

    With ``residual = (fused column, bound B, anchor temperature T0)`` the head is a bounded correction of ReMe's
    fused score instead: ``score(x) = fused / T0 + B * tanh(MLP(x))`` (the linear term is unused and stays 0)."""
    import torch

    class RankHead(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mlp = torch.nn.Sequential(
                torch.nn.Linear(n_features, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1)
            )
            self.linear = torch.nn.Linear(n_features, 1, bias=False)

        def forward(self, x: Any) -> Any:
            if residual is None:
                return (self.mlp(x) + self.linear(x)).squeeze(-1)
            column, bound, anchor = residual
            return x[..., column] / anchor + bound * torch.tanh(self.mlp(x).squeeze(-1))

    return RankHead()


class MLPRankPolicy:
    """A learned scoring head: ``score_i = (MLP(features_i) + w . features_i) / temperature``, Plackett-Luce
    over the scores.

    ``init="heuristic"`` starts at ReMe's fusion: the linear term carries ``0.7 / T0`` on ``cosine`` and
    ``0.3 / T0`` on ``bm25_norm`` (with ``T0 = init_temperature = 0.05``, the heuristic policy's Plackett-Luce
    scores when both sides retrieved something; a larger ``T0`` starts at the same ordering, less peaked) and
    the MLP's output layer starts at zero. ``init="random"`` starts near uniform.

    ``residual_bound=B`` makes the head a bounded residual on ReMe's fused score: ``score_i = (fused_i / T0 +
    B * tanh(MLP(features_i))) / temperature`` with ``T0 = anchor_temperature`` (0.05, the heuristic policy's).
    The learned part can then only reorder candidates whose fused scores lie within ``2 B T0`` of each other: what
    it learned on one style of conversation cannot push a weak match of another style above a strong one (the
    measured failure of the free head, docs/policies.md). Its MLP's output layer starts at zero, so the head starts
    at the heuristic's scores exactly.
    """

    kind: DecisionKind = "rank"
    name = "mlp-rank"
    learned: bool = True

    def __init__(
        self,
        feature_names: tuple[str, ...] = RANK_FEATURES,
        hidden: int = 64,
        temperature: float = 1.0,
        seed: int = 0,
        init: str = "random",
        init_temperature: float = 0.05,
        residual_bound: float | None = None,
        anchor_temperature: float = 0.05,
    ):
        import torch

        if init not in ("random", "heuristic"):
            raise BadInputError(f"init must be 'random' or 'heuristic', got {init!r}")
        self.feature_names = tuple(feature_names)
        self.params: dict[str, Any] = {"hidden": hidden, "temperature": temperature}
        residual = None
        if residual_bound is not None:
            if not residual_bound > 0 or not anchor_temperature > 0 or "fused" not in self.feature_names:
                raise BadInputError("a residual head needs residual_bound > 0, anchor_temperature > 0 and 'fused'")
            self.params |= {"residual_bound": float(residual_bound), "anchor_temperature": float(anchor_temperature)}
            residual = (self.feature_names.index("fused"), float(residual_bound), float(anchor_temperature))
        self.training_data_hash = ""
        generator = torch.Generator().manual_seed(seed)
        self.head = _rank_head(len(self.feature_names), hidden, residual)
        with torch.no_grad():
            for p in self.head.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.1)
            if residual is not None:
                self.head.linear.weight.zero_()
                self.head.linear.weight.requires_grad_(False)
                self.head.mlp[2].weight.zero_()
                self.head.mlp[2].bias.zero_()
            elif init == "heuristic":
                heuristic = HeuristicRankPolicy(temperature=init_temperature)
                w, t = heuristic.params["vector_weight"], heuristic.params["temperature"]
                self.head.linear.weight.zero_()
                for name, value in (("cosine", w / t), ("bm25_norm", (1 - w) / t)):
                    if name in self.feature_names:
                        self.head.linear.weight[0, self.feature_names.index(name)] = value * temperature
                self.head.mlp[2].weight.zero_()
                self.head.mlp[2].bias.zero_()
        self.head.eval()
        self._version: str | None = None

    @property
    def version(self) -> str:
        """The checkpoint version when loaded or saved; otherwise a hash of the current weights."""
        if self._version is None:
            import hashlib

            digest = hashlib.sha256(repr(self.params).encode())
            for t in self.head.state_dict().values():
                digest.update(t.detach().cpu().numpy().tobytes())
            return digest.hexdigest()[:16]
        return self._version

    def scores_torch(self, features: Any) -> Any:
        """Differentiable scores ``(..., n)`` for a ``(..., n, F)`` float tensor (trainers call this)."""
        return self.head(features) / float(self.params["temperature"])

    def refresh_version(self) -> str:
        """Forget the cached version after the weights changed (trainers call this before publishing)."""
        self._version = None
        return self.version

    def scores(self, state: RankState) -> np.ndarray:
        """Float64 scores of the candidates. On the CPU the same float32 maths runs in numpy: a search calls this
        once per query, and torch's intra-op thread pool, woken for a 64-unit MLP, keeps spinning and slows the
        FAISS scan of the next query (measured at 100k memories on 2 cores: 28 ms per search through torch,
        against 9 ms for the heuristic)."""
        import torch

        if state.feature_names != self.feature_names:
            raise ValueError(f"policy expects features {self.feature_names}, state has {state.feature_names}")
        device = next(self.head.parameters()).device
        x = np.ascontiguousarray(state.features, dtype=np.float32)
        if device.type == "cpu":
            w1, b1 = self.head.mlp[0].weight.detach().numpy(), self.head.mlp[0].bias.detach().numpy()
            w2, b2 = self.head.mlp[2].weight.detach().numpy(), self.head.mlp[2].bias.detach().numpy()
            mlp = (np.tanh(x @ w1.T + b1) @ w2.T + b2)[..., 0]
            if "residual_bound" in self.params:
                fused = x[..., self.feature_names.index("fused")]
                anchor, bound = np.float32(self.params["anchor_temperature"]), np.float32(self.params["residual_bound"])
                out = fused / anchor + bound * np.tanh(mlp)
            else:
                out = mlp + (x @ self.head.linear.weight.detach().numpy().T)[..., 0]
            return (out / np.float32(self.params["temperature"])).astype(np.float64)
        with torch.no_grad():
            t = torch.from_numpy(x).to(device)
            return self.scores_torch(t).double().cpu().numpy()

    def decide(self, state: RankState, mode: Mode = "greedy", rng: np.random.Generator | None = None) -> Decision:
        scores = self.scores(state)
        if not np.isfinite(scores).all():  # NaN scores would rank nothing with log-probability 0
            raise ValueError(f"the head gave {int((~np.isfinite(scores)).sum())} non-finite scores of {len(scores)}")
        return _decision(self, state, scores, mode, rng)

    def logprob(self, state: RankState, action: Any) -> float:
        return pl.logprob(self.scores(state), action)

    def logprob_torch(self, features: Any, ordering: list[int]) -> Any:
        """Differentiable Plackett-Luce log-probability of one ordering."""
        import torch

        s = self.scores_torch(features)
        idx = torch.as_tensor(ordering, dtype=torch.long)
        chosen = s[idx]
        # logsumexp over the candidates not yet placed: suffix sums over the placed ones, plus the unplaced pool
        mask = torch.ones_like(s, dtype=torch.bool)
        mask[idx] = False
        rest = torch.logsumexp(s[mask], dim=0) if bool(mask.any()) else s.new_tensor(float("-inf"))
        terms = []
        for j in range(len(ordering)):
            pool = torch.cat([chosen[j:], rest.reshape(1)])
            terms.append(chosen[j] - torch.logsumexp(pool, dim=0))
        return torch.stack(terms).sum()

    def state_from_record(self, decision: Decision) -> RankState:
        return RankState.from_record(decision)

    def checkpoint_spec(self) -> dict[str, Any]:
        """The spec a checkpoint of this head carries (``reme.policy.checkpoint.TorchHead``)."""
        return {
            "kind": self.kind,
            "policy": self.name,
            "feature_spec": list(self.feature_names),
            "config": self.params,
            "training_data_hash": self.training_data_hash,
        }

    def torch_module(self) -> Any:
        """The scoring head (its ``state_dict`` is the checkpoint's weights)."""
        return self.head

    def save(self, directory: str | Path, training_data_hash: str = "") -> str:
        self.training_data_hash = training_data_hash
        self._version = save_head(directory, self)
        return self._version

    @classmethod
    def load(cls, directory: str | Path) -> MLPRankPolicy:
        """A head from a checkpoint directory (``reme.policy.checkpoint.load_head``); ``BadInputError`` when it is
        corrupt or not a rank head. Its version is the checkpoint's."""

        def build(spec: dict[str, Any]) -> MLPRankPolicy:
            config = spec["config"]
            policy = cls(
                tuple(spec["feature_spec"]),
                config.get("hidden", 64),
                config.get("temperature", 1.0),
                residual_bound=config.get("residual_bound"),
                anchor_temperature=config.get("anchor_temperature", 0.05),
            )
            policy.training_data_hash = str(spec.get("training_data_hash", ""))
            return policy

        policy = load_head(directory, kind="rank", policy=cls.name, build=build)
        policy._version = head_version(policy)  # the checkpoint's version: load_head checked they are equal
        return policy
