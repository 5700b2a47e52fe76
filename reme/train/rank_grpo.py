"""GRPO for the ranking head (Group Relative Policy Optimization, Shao et al. 2024, applied to rankings).

Per step, for each question of a batch: draw G orderings of the top k from the current head (Gumbel-top-k is
an exact Plackett-Luce sample), reward each (recall@k or NDCG@k against the evidence turns), normalise the
rewards within the group, and take a clipped-surrogate step:

    A_g   = (r_g - mean(r)) / (std(r) + eps)                       (0 for groups whose rewards are all equal)
    rho_g = exp(logp_new(o_g) - logp_old(o_g))
    loss  = -mean(min(rho_g A_g, clip(rho_g, 1 - epsilon, 1 + epsilon) A_g)) + beta KL - ent_coef H

(``reme.train.common``: ``group_advantages`` with the unbiased std, ``grpo_loss``).

KL is the k3 estimator against the initial head on the sampled orderings; H is the entropy of the first
position's softmax (the full Plackett-Luce entropy has no closed form). The head starts at the heuristic
(``init="heuristic"``), so training moves away from ReMe's fusion only where rewards say so.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reme.errors import BadInputError
from reme.eval.metrics import dcg_discounts, ideal_dcg
from reme.policy.rank import MLPRankPolicy
from reme.policy.rank_features import RANK_FEATURES
from reme.train.common import group_advantages, grpo_loss
from reme.train.rank_data import RankExample, TrainResult, pad


@dataclass
class GRPOConfig:
    """GRPO settings; symbols as in the module docstring."""

    steps: int = 300
    """Optimiser steps."""
    batch_questions: int = 32
    """Questions per step."""
    group_size: int = 16
    """G: sampled orderings per question."""
    k: int = 10
    """Length of the sampled orderings and the cut-off of the reward."""
    reward: str = "recall"
    """``recall`` (recall@k) or ``ndcg`` (NDCG@k)."""
    lr: float = 3e-3
    """Adam learning rate."""
    weight_decay: float = 0.0
    """L2 penalty of Adam (the head overfits a few conversations without it)."""
    epsilon: float = 0.2
    """Clipping range of the ratio."""
    beta: float = 0.0
    """KL coefficient towards the initial head."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient."""
    update_epochs: int = 1
    """mu: gradient passes over each batch of samples."""
    hidden: int = 64
    init: str = "heuristic"
    """``heuristic`` (start at ReMe's fusion) or ``random``."""
    init_temperature: float = 0.05
    """T0 of the heuristic start: the same ordering, more exploration when larger."""
    residual_bound: float | None = None
    """B: train a bounded residual on the fused score (``MLPRankPolicy(residual_bound=B)``); ``None``: the free
    head."""
    feature_names: tuple[str, ...] = RANK_FEATURES
    """The columns of the examples' feature matrices, in order (extra query-time columns for experiments; the
    live decision computes ``RANK_FEATURES``)."""
    seed: int = 0
    eval_every: int = 25
    """Validate every this many steps."""
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.group_size < 2:
            raise BadInputError("--group-size must be at least 2: GRPO normalises rewards within a group")
        if self.steps < 1 or self.batch_questions < 1 or self.k < 1:
            raise BadInputError("steps, batch_questions and k must be positive")
        if self.reward not in ("recall", "ndcg"):
            raise BadInputError(f"reward must be 'recall' or 'ndcg', got {self.reward!r}")


def plackett_luce_logprob(scores: Any, orderings: Any) -> Any:
    """log p of each ordering: ``scores (B, N)`` (-inf where invalid), ``orderings (B, G, k)`` -> ``(B, G)``."""
    import torch

    n = scores.shape[-1]
    onehot = torch.nn.functional.one_hot(orderings, n).to(scores.dtype)  # (B, G, k, N)
    placed_before = onehot.cumsum(dim=2) - onehot  # items placed at earlier positions
    remaining = placed_before == 0
    s = scores[:, None, None, :].expand_as(onehot)
    lse = torch.logsumexp(s.masked_fill(~remaining, float("-inf")), dim=-1)  # (B, G, k)
    chosen = torch.gather(scores[:, None, :].expand(-1, orderings.shape[1], -1), 2, orderings)  # (B, G, k)
    return (chosen - lse).sum(dim=-1)


def orderings_reward(orderings: Any, rel: Any, n_ev: Any, kind: str) -> Any:
    """recall@k or NDCG@k of each ordering ``(B, G, k)`` -> ``(B, G)``: ``reme.eval.metrics``'s definitions (its
    discounts and ideal DCG), batched on tensors."""
    import torch

    gains = torch.gather(rel[:, None, :].expand(-1, orderings.shape[1], -1), 2, orderings)  # (B, G, k)
    if kind == "recall":
        return gains.sum(-1) / n_ev[:, None]
    k = orderings.shape[-1]
    discounts = torch.as_tensor(dcg_discounts(k), dtype=gains.dtype, device=gains.device)
    dcg = (gains * discounts).sum(-1)
    ideal = torch.as_tensor([ideal_dcg(int(m), k) for m in n_ev.tolist()], dtype=gains.dtype, device=gains.device)
    return dcg / ideal[:, None]


def train_grpo(
    train: Sequence[RankExample],
    config: GRPOConfig,
    validate: Callable[[MLPRankPolicy], dict[str, Any]] | None = None,
    progress: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train a rank head with GRPO on ``train``; ``validate(policy)`` is called every ``eval_every`` steps."""
    import torch

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    usable = [ex for ex in train if len(ex.relevant) >= config.k and ex.relevant.any()]
    if not usable:
        raise BadInputError("no training question has evidence among at least k candidates")
    policy = MLPRankPolicy(
        hidden=config.hidden,
        seed=config.seed,
        init=config.init,
        init_temperature=config.init_temperature,
        residual_bound=config.residual_bound,
        feature_names=config.feature_names,
    )
    head = policy.head.to(config.device)
    reference = copy.deepcopy(head).eval() if config.beta > 0 else None
    optimizer = torch.optim.Adam(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    result = TrainResult(policy)
    for step in range(1, config.steps + 1):
        batch = [usable[i] for i in rng.choice(len(usable), min(config.batch_questions, len(usable)), replace=False)]
        x, valid, rel, n_ev = pad(batch, config.device)
        # --- rollout: G Plackett-Luce samples per question from the current head
        with torch.no_grad():
            head.eval()
            scores = head(x).masked_fill(~valid, float("-inf"))  # (B, N)
            u = torch.rand((len(batch), config.group_size, x.shape[1]), generator=generator).to(config.device)
            gumbel = -torch.log(-torch.log(u.clamp_min(1e-12)))
            orderings = torch.topk(scores[:, None, :] + gumbel, config.k, dim=-1).indices  # (B, G, k)
            logp_old = plackett_luce_logprob(scores, orderings)
            rewards = orderings_reward(orderings, rel, n_ev, config.reward)  # (B, G)
            flat = rewards.cpu().numpy().ravel()
            adv, signal = group_advantages(flat, np.repeat(np.arange(len(batch)), config.group_size), ddof=1)
            advantages = torch.from_numpy(adv.reshape(rewards.shape)).to(config.device)
            informative = torch.from_numpy(signal.reshape(rewards.shape)[:, 0]).to(config.device)
            logp_ref = None
            if reference is not None:
                logp_ref = plackett_luce_logprob(reference(x).masked_fill(~valid, float("-inf")), orderings)
        stats = {"reward": rewards.mean().item(), "frac_zero_std": 1.0 - informative.float().mean().item()}
        # --- update: clipped surrogate on the informative groups
        head.train()
        if informative.any():
            for _ in range(config.update_epochs):
                new_scores = head(x).masked_fill(~valid, float("-inf"))
                logp_new = plackett_luce_logprob(new_scores, orderings)
                loss, parts = grpo_loss(
                    logp_new[informative],
                    logp_old[informative],
                    advantages[informative],
                    config.epsilon,
                    None if logp_ref is None else logp_ref[informative],
                    config.beta,
                )
                first = torch.log_softmax(new_scores, dim=-1)
                entropy = -(first.exp() * first.masked_fill(~valid, 0.0)).sum(-1).mean()
                loss = loss - config.ent_coef * entropy
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            stats.update(
                {"loss": loss.item(), "kl": parts["kl"], "entropy": entropy.item(), "clip_frac": parts["clip_frac"]}
            )
        else:
            stats.update({"loss": 0.0, "kl": 0.0, "entropy": 0.0, "clip_frac": 0.0})
        head.eval()
        result.record(step, stats, config.steps, config.eval_every, validate, progress)
    return result.finish()


def policy_scores(policy: MLPRankPolicy, examples: Sequence[RankExample]) -> list[np.ndarray]:
    """The head's score of every candidate of every example (numpy, for ``evaluate_scores``)."""
    from reme.policy.rank import RankState

    return [policy.scores(RankState(ex.features, 10, feature_names=policy.feature_names)) for ex in examples]
