"""Supervised listwise baseline (ListNet-style) on the same features and head as the RL trainers.

For each question, the target distribution puts equal mass on the evidence candidates; the loss is the
cross-entropy between it and the softmax of the head's scores over the question's candidates:

    loss = - sum_i  y_i / sum(y) * log_softmax(scores)_i

It learns from labels directly, so every RL report can say how close rewards alone get.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reme.errors import BadInputError
from reme.policy.rank import MLPRankPolicy
from reme.train.rank_data import RankExample, TrainResult, pad


@dataclass
class SupervisedConfig:
    steps: int = 300
    """Optimiser steps (minibatches)."""
    batch_questions: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    hidden: int = 64
    init: str = "heuristic"
    seed: int = 0
    eval_every: int = 25
    device: str = "cpu"


def train_supervised(
    train: Sequence[RankExample],
    config: SupervisedConfig,
    validate: Callable[[MLPRankPolicy], dict[str, Any]] | None = None,
    progress: Callable[[int, dict[str, float]], None] | None = None,
    policy: MLPRankPolicy | None = None,
) -> TrainResult:
    """``policy``: the head to train (e.g. a bounded residual on ReMe's fusion); default a new one of ``config``."""
    import torch

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    usable = [ex for ex in train if ex.relevant.any()]
    if not usable:
        raise BadInputError("no training question has an evidence turn among its candidates")
    policy = policy or MLPRankPolicy(hidden=config.hidden, seed=config.seed, init=config.init)
    head = policy.head.to(config.device)
    optimizer = torch.optim.Adam(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    result = TrainResult(policy)
    for step in range(1, config.steps + 1):
        batch = [usable[i] for i in rng.choice(len(usable), min(config.batch_questions, len(usable)), replace=False)]
        x, valid, rel, _ = pad(batch, config.device)
        head.train()
        scores = head(x).masked_fill(~valid, float("-inf"))
        log_probs = torch.log_softmax(scores, dim=-1).masked_fill(~valid, 0.0)
        target = rel / rel.sum(-1, keepdim=True)
        loss = -(target * log_probs).sum(-1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        head.eval()
        stats: dict[str, Any] = {"reward": 0.0, "loss": loss.item(), "kl": 0.0, "entropy": 0.0}
        result.record(step, stats, config.steps, config.eval_every, validate, progress)
    return result.finish()
