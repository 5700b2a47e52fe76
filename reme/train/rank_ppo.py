"""PPO with decoupled behaviour weights, off-policy from trajectory logs (``--from-trajectories``).

The logged rankings were sampled by some behaviour policy (mu, its log-probability is in each record), long
before training; the head being trained is pi_theta, and pi_prox is a frozen copy of it refreshed every
``prox_every`` steps. As in AReaL's decoupled loss, the clipped trust region is taken around pi_prox, and the
gap between pi_prox and mu is corrected by a capped importance weight:

    w      = min(exp(logp_prox(o) - logp_mu(o)), cap)                (no gradient)
    rho    = exp(logp_theta(o) - logp_prox(o))
    A      = (R - mean_group(R)) / (std_group(R) + eps)              (group: the logged samples of a question)
                                                                       (``group_advantages``, unbiased std)
    loss   = -mean(w * min(rho A, clip(rho, 1 - epsilon, 1 + epsilon) A))

R is the return the rewards join gives each decision. Groups of one sample use ``R - mean(R)`` over the log.

Targets weigh the same: batches draw each logged decision with probability proportional to ``1 / n_target`` (the
number of logged samples of its target), so a target that logs ten times more decisions (a busy tenant, or one
flooding rewards on its own searches) has no more say in the head than any other. The mean that centres lone
samples is weighted the same way.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reme.errors import BadInputError
from reme.policy.rank import MLPRankPolicy
from reme.train.common import clipped_surrogate, group_advantages
from reme.train.logs import LoggedRankSample
from reme.train.rank_data import TrainResult, pad_features
from reme.train.rank_grpo import plackett_luce_logprob


@dataclass
class PPOConfig:
    steps: int = 600
    """Optimiser steps."""
    batch_samples: int = 128
    """Logged decisions per step."""
    lr: float = 3e-3
    epsilon: float = 0.2
    """Clipping range of rho around the proximal policy."""
    importance_cap: float = 5.0
    """Cap of the behaviour weight pi_prox / mu (AReaL's decoupled loss caps it the same way)."""
    prox_every: int = 10
    """Refresh pi_prox every this many steps."""
    weight_decay: float = 0.0
    hidden: int = 64
    init: str = "heuristic"
    init_temperature: float = 0.2
    seed: int = 0
    eval_every: int = 25
    device: str = "cpu"


def target_weights(samples: Sequence[LoggedRankSample]) -> np.ndarray:
    """A probability per sample, ``1 / n_target`` normalised: every target has the same total weight."""
    counts: dict[str, int] = defaultdict(int)
    for s in samples:
        counts[s.target] += 1
    w = np.asarray([1.0 / counts[s.target] for s in samples], dtype=np.float64)
    return w / w.sum()


def advantages(samples: Sequence[LoggedRankSample]) -> np.ndarray:
    """Returns normalised within each question's group of logged samples (or centred by the target-weighted mean
    of the log, for lone samples)."""
    returns = np.asarray([s.ret for s in samples], dtype=np.float64)
    out = returns - float(target_weights(samples) @ returns)
    sizes: dict[str | None, int] = defaultdict(int)
    for s in samples:
        sizes[s.group_id] += 1
    grouped = [i for i, s in enumerate(samples) if s.group_id and sizes[s.group_id] > 1]
    if grouped:
        grouped_adv, _ = group_advantages(returns[grouped], [samples[i].group_id for i in grouped], ddof=1)
        out[grouped] = grouped_adv
    return out


def _batch(samples: Sequence[LoggedRankSample], device: Any) -> tuple[Any, Any, Any, Any]:
    import torch

    x, valid = pad_features([s.features for s in samples])
    orderings = np.asarray([[s.ordering] for s in samples], dtype=np.int64)  # (B, 1, k)
    behaviour = np.asarray([s.behaviour_logprob for s in samples], dtype=np.float32)
    return (
        torch.from_numpy(x).to(device),
        torch.from_numpy(valid).to(device),
        torch.from_numpy(orderings).to(device),
        torch.from_numpy(behaviour).to(device),
    )


def train_ppo(
    samples: Sequence[LoggedRankSample],
    config: PPOConfig,
    validate: Callable[[MLPRankPolicy], dict[str, Any]] | None = None,
    progress: Callable[[int, dict[str, float]], None] | None = None,
    policy: MLPRankPolicy | None = None,
) -> TrainResult:
    """Train a head from logged samples; ``policy`` continues training an existing head (``--follow``)."""
    import torch

    if not samples:
        raise BadInputError("the trajectory log holds no sampled, rewarded rank decision to learn from")
    # one ordering length per batch: the most common one (the first search of a young store returns fewer)
    k = Counter(len(s.ordering) for s in samples).most_common(1)[0][0]
    samples = [s for s in samples if len(s.ordering) == k]
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    adv_all = advantages(samples)
    draw = target_weights(samples) if len({s.target for s in samples}) > 1 else None
    if policy is None:
        policy = MLPRankPolicy(
            hidden=config.hidden, seed=config.seed, init=config.init, init_temperature=config.init_temperature
        )
    head = policy.head.to(config.device)
    prox = copy.deepcopy(head).eval()
    optimizer = torch.optim.Adam(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    result = TrainResult(policy)
    for step in range(1, config.steps + 1):
        if step % config.prox_every == 1 or config.prox_every == 1:
            prox.load_state_dict(head.state_dict())
        rows = rng.choice(len(samples), min(config.batch_samples, len(samples)), replace=False, p=draw)
        x, valid, orderings, logp_mu = _batch([samples[i] for i in rows], config.device)
        adv = torch.as_tensor(adv_all[rows], dtype=torch.float32, device=config.device)
        with torch.no_grad():
            logp_prox = plackett_luce_logprob(prox(x).masked_fill(~valid, float("-inf")), orderings)[:, 0]
            behaviour_weight = (logp_prox - logp_mu).exp().clamp(max=config.importance_cap)
        head.train()
        logp_new = plackett_luce_logprob(head(x).masked_fill(~valid, float("-inf")), orderings)[:, 0]
        log_ratio = logp_new - logp_prox
        pg_loss, _ = clipped_surrogate(log_ratio, adv, config.epsilon, behaviour_weight)
        optimizer.zero_grad()
        pg_loss.backward()
        optimizer.step()
        head.eval()
        with torch.no_grad():
            kl = ((log_ratio.exp() - 1) - log_ratio).mean().item()  # k3 estimate of KL(prox || new)
        stats = {
            "reward": float(np.mean([samples[i].ret for i in rows])),
            "loss": pg_loss.item(),
            "kl": kl,
            "entropy": 0.0,
            "behaviour_weight": behaviour_weight.mean().item(),
        }
        result.record(step, stats, config.steps, config.eval_every, validate, progress)
    return result.finish()
