"""``reme train-policy --decision compact``: the compact policy trained in the compaction environment
(``reme.envs.compaction``).

The algorithm (``--algo grpo``) is GRPO as the rank head has it (``reme.train.common.grpo_loss``): the group-relative
advantage, the clipped ratio to the policy that sampled the group, ``update_epochs`` passes per batch and a KL term
(``beta``) towards the policy GRPO started from. With the defaults (one pass, ``beta = 0``) the ratio is 1 and the
update is REINFORCE with a group baseline.

A group shares its prefix (Memory-R2's point: once rollouts diverge they no longer share a state). Per group:
pick a training episode and one of its compaction points ``j`` uniformly (the points of the current policy's
greedy run); stream the episode greedily up to ``j`` (identical for every rollout, so the state at ``j`` is
shared); then ``G`` rollouts each *sample* the decision at ``j`` and continue greedily to the end. Each rollout's
reward is joined to its decisions by the decision core (``join_outcome``: every decision of a rollout is credited
with the rollout's reward), and the return of the decision at ``j`` is used:

    A_g  = (R_g - mean(R)) / (std(R) + 1e-6)      (``group_advantages``; groups whose rewards all tie are skipped)
    loss = -mean_g(min(rho_g A_g, clip(rho_g, 1 - eps, 1 + eps) A_g)) + beta KL,   rho_g = pi / pi_sampling

with Adam. The greedy policy is validated at step 0 and every ``eval_every`` steps; the checkpoint kept
(``BestCheckpoint``) is the one with the best validation reward (``evidence_reachable - token_cost *
kept_token_fraction``), the last one without validation.

The MLP starts near "keep every message that fits, newest first" (small weights, a positive output bias), which is
within a hair of ReMe's tail rule: training moves away from it only where rewards say so.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reme.envs.compaction import (
    CompactionEnvConfig,
    CompactionEpisode,
    CompactionOutcome,
    evaluate_compaction,
    hindsight_keep_labels,
    join_outcome,
    point_rollouts,
)
from reme.envs.compaction_features import COMPACTION_ENV_FEATURES
from reme.envs.rollout import Rollout
from reme.errors import BadInputError
from reme.policy.compact import HeuristicCompactPolicy
from reme.policy.compact_mlp import MLPCompactPolicy, RankedMLPCompactPolicy
from reme.progress import progress_bar
from reme.train.common import BestCheckpoint, group_advantages, grpo_loss, step_row, write_run

__all__ = ["CompactGRPOConfig", "hindsight_warm_start", "train_compact_policy"]


@dataclass
class CompactGRPOConfig(CompactionEnvConfig):
    """Trainer settings, on top of the environment's (``CompactionEnvConfig``; ``env()`` gives those alone)."""

    budget: float = 0.2
    steps: int = 200
    group_size: int = 8
    """G: sampled rollouts per group."""
    episodes_per_step: int = 2
    """Groups per optimiser step (each on a randomly drawn training episode)."""
    lr: float = 1e-3
    epsilon: float = 0.2
    """Clipping range of the ratio to the sampling policy (it binds from the second update epoch on)."""
    beta: float = 0.0
    """KL coefficient towards the policy GRPO started from (after the warm start)."""
    update_epochs: int = 1
    """Gradient passes over each step's sampled decisions."""
    hidden: int = 32
    seed: int = 0
    eval_every: int = 10
    init_scale: float = 0.05
    """Standard deviation of the initial weights."""
    init_keep_bias: float = 1.0
    """Initial output bias: ``p(keep)`` starts near ``sigmoid(init_keep_bias)`` for every message."""
    policy: str = "ranked"
    """``ranked`` (``RankedMLPCompactPolicy``: a value per message, ranked per token into the reserve, warm-started
    on hindsight labels) or ``gate`` (``MLPCompactPolicy``: an independent keep gate per message, newest first)."""
    hindsight_epochs: int = 100
    """ranked: full-batch Adam epochs fitting the value to ``hindsight_keep_labels`` before GRPO (0: none)."""
    hindsight_lr: float = 3e-3
    hindsight_weight_decay: float = 1e-3
    token_exponents: tuple[float, ...] = (0.5, 0.75, 1.0)
    """ranked: the ``token_exponent`` values tried after the warm start; validation picks one."""
    hindsight_rounds: int = 3
    """ranked: warm-start rounds. Round 1 fits on the states of the tail rule's runs; each later round (DAgger)
    adds the states of the previous round's policy's own greedy runs (the labels do not depend on the state)
    and refits from scratch on all of them, so the value is also fitted where the learned policy goes: old
    messages it kept, which the tail rule's states never hold."""

    def __post_init__(self) -> None:
        if self.policy not in ("ranked", "gate"):
            raise BadInputError(f"unknown compact policy {self.policy!r}: use 'ranked' or 'gate'")
        if self.hindsight_rounds < 1:
            raise BadInputError(f"hindsight_rounds must be >= 1, got {self.hindsight_rounds!r}")
        if self.hindsight_epochs < 0 or not self.hindsight_lr > 0 or not self.token_exponents:
            raise BadInputError("hindsight_epochs must be >= 0, hindsight_lr > 0, token_exponents non-empty")
        if self.group_size < 2:
            raise BadInputError("group_size must be at least 2: GRPO normalises rewards within a group")
        if self.steps < 1 or self.episodes_per_step < 1 or self.eval_every < 1 or self.hidden < 1:
            raise BadInputError("steps, episodes_per_step, eval_every and hidden must be positive")
        if not self.lr > 0:
            raise BadInputError(f"lr must be > 0, got {self.lr!r}")
        if not self.epsilon > 0 or self.beta < 0 or self.update_epochs < 1:
            raise BadInputError("epsilon must be > 0, beta >= 0 and update_epochs >= 1")
        super().__post_init__()  # validates the environment fields


def initial_policy(config: CompactGRPOConfig) -> MLPCompactPolicy:
    """An MLP over ``COMPACTION_ENV_FEATURES`` with small weights and a keep-leaning output bias (``gate``), or a
    ``RankedMLPCompactPolicy`` with small weights (``ranked``: every value near equal, so ties fall to the walk)."""
    import torch

    cls = RankedMLPCompactPolicy if config.policy == "ranked" else MLPCompactPolicy
    policy = cls(hidden=config.hidden, seed=config.seed, feature_spec=COMPACTION_ENV_FEATURES)
    generator = torch.Generator().manual_seed(int(config.seed))
    with torch.no_grad():
        for p in policy.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float32) * config.init_scale)
        out = policy.net["out"]
        assert isinstance(out, torch.nn.Linear)
        out.bias.fill_(config.init_keep_bias)
    return policy


def hindsight_rows(
    train: Sequence[CompactionEpisode], env: CompactionEnvConfig, behaviour: Any
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Feature rows and ``hindsight_keep_labels`` targets of every message of every compaction point of
    ``behaviour``'s greedy runs over ``train``."""
    rows: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    for ep in train:
        labels = hindsight_keep_labels(ep, env)
        for point in point_rollouts(ep, behaviour, env)[0]:
            features = point.state().features
            assert features is not None  # the environment always sets them
            rows.append(features)
            targets.append(labels[np.asarray(point.verbatim, dtype=np.int64)])
    return rows, targets


def hindsight_warm_start(
    policy: MLPCompactPolicy,
    train: Sequence[CompactionEpisode],
    env: CompactionEnvConfig,
    config: CompactGRPOConfig,
    data: tuple[list[np.ndarray], list[np.ndarray]] | None = None,
) -> list[float]:
    """Fit the policy's value logits to ``hindsight_keep_labels`` on ``data`` (default: the rows of the tail rule's
    greedy runs, ``hindsight_rows``), with class-balanced binary cross-entropy; returns the loss per epoch."""
    import torch
    import torch.nn.functional as F

    rows, targets = data if data is not None else hindsight_rows(train, env, HeuristicCompactPolicy())
    if not rows or config.hindsight_epochs == 0:
        return []
    x = torch.from_numpy(np.concatenate(rows).astype(np.float32))
    y = torch.from_numpy(np.concatenate(targets).astype(np.float64))
    positive = float(y.mean())
    if positive in (0.0, 1.0):
        return []
    weight = torch.where(y > 0, 0.5 / positive, 0.5 / (1.0 - positive))
    # fit on standardised columns, then fold the standardisation into the first layer (the policy keeps raw inputs)
    mean = x.mean(dim=0)
    scale = x.std(dim=0)
    scale = torch.where(scale > 1e-6, scale, torch.ones_like(scale))
    z = (x - mean) / scale
    optimizer = torch.optim.Adam(
        policy.parameters(), lr=config.hindsight_lr, weight_decay=config.hindsight_weight_decay
    )
    losses: list[float] = []
    for _ in range(config.hindsight_epochs):
        loss = F.binary_cross_entropy_with_logits(policy.logits_torch(z), y, weight=weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(round(float(loss.item()), 6))
    hidden = policy.net["hidden"]
    assert isinstance(hidden, torch.nn.Linear)
    with torch.no_grad():
        folded = hidden.weight / scale[None, :]
        hidden.bias.sub_(folded @ mean)
        hidden.weight.copy_(folded)
    return losses


def _validate(policy: MLPCompactPolicy, val: Sequence[CompactionEpisode], env: CompactionEnvConfig) -> dict[str, float]:
    return evaluate_compaction(val, {"learned": policy}, env)["results"]["learned"]


def train_compact_policy(
    train: Sequence[CompactionEpisode],
    val: Sequence[CompactionEpisode],
    out: str | Path,
    config: CompactGRPOConfig,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Train with GRPO (``grpo_loss``), keep the best checkpoint by validation reward in ``out``
    (``policy.safetensors``, ``policy.json``), write ``out/metrics.json`` and ``out/curves.png``; returns the
    metrics."""
    import torch

    if not train:
        raise BadInputError("no training conversations")
    env = config.env()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    policy = initial_policy(config)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr)
    heuristic_val = evaluate_compaction(val, {"heuristic": HeuristicCompactPolicy()}, env)["results"]["heuristic"]
    warm: dict[str, Any] = {}
    if isinstance(policy, RankedMLPCompactPolicy):
        rows, targets = hindsight_rows(train, env, HeuristicCompactPolicy())
        for round_ in range(config.hindsight_rounds):
            if round_:  # DAgger: add the states the previous round's policy visits, refit from scratch
                more_rows, more_targets = hindsight_rows(train, env, policy)
                rows, targets = rows + more_rows, targets + more_targets
                torch.manual_seed(config.seed + round_)
                policy = initial_policy(config)
                optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr)
            assert isinstance(policy, RankedMLPCompactPolicy)
            warm["losses"] = hindsight_warm_start(policy, train, env, config, (rows, targets))
            tried: dict[str, float] = {}
            for exponent in config.token_exponents:
                policy.config["token_exponent"] = float(exponent)
                if val:
                    tried[str(exponent)] = _validate(policy, val, env)["reward"]
            chosen = max(tried, key=lambda e: tried[e]) if tried else str(config.token_exponents[0])
            policy.config["token_exponent"] = float(chosen)
            warm.setdefault("rounds", []).append({"rows": int(sum(len(r) for r in rows)), "val_reward": tried})
            warm.update(token_exponent=float(chosen), val_reward_by_token_exponent=tried)
    validation: list[dict[str, Any]] = []
    steps: list[dict[str, float]] = []
    best = BestCheckpoint(metric="reward", min_delta=1e-9)

    def check(step: int) -> str:
        if not val:
            if step == config.steps:  # no validation: keep the last policy
                best.offer(step, None, lambda: policy.save(out))
            return ""
        mine = _validate(policy, val, env)
        validation.append({"step": step, "results": {"learned": mine, "heuristic": heuristic_val}})
        best.offer(step, mine, lambda: policy.save(out))
        return f"val reach {mine['evidence_reachable']:.3f} (heuristic {heuristic_val['evidence_reachable']:.3f})"

    reference = copy.deepcopy(policy) if config.beta > 0 else None  # the warm-started policy, for the KL term
    start = time.perf_counter()
    shown = check(0)
    with progress_bar("training (compact GRPO)", total=config.steps, enabled=show_progress) as advance:
        for step in range(1, config.steps + 1):
            batch: list[tuple[Any, Any, float]] = []
            rewards: list[float] = []
            for _ in range(config.episodes_per_step):
                ep = train[int(rng.integers(len(train)))]
                points, _ = point_rollouts(ep, policy, env)
                if not points:
                    continue  # the conversation fits the context: no decision to learn from
                j = int(rng.integers(len(points)))
                group: list[tuple[Any, Any, float]] = []
                for _g in range(config.group_size):
                    fork: Rollout[CompactionOutcome] = points[j].copy()
                    fork.run(policy, until=j + 1, mode="sample", rng=rng)  # point j sampled, the rest greedy
                    fork.run(policy)
                    outcome = fork.finish()
                    decision = outcome.decisions[j]
                    returns = {s.decision.decision_id: s.ret for s in join_outcome(outcome).samples}
                    group.append((outcome.states[j], decision.action, returns[decision.decision_id]))
                rets = np.asarray([g[2] for g in group], dtype=np.float64)
                rewards.extend(rets.tolist())
                advantages, informative = group_advantages(rets)
                if not informative.any():
                    continue
                batch.extend((state, action, float(a)) for (state, action, _), a in zip(group, advantages))
            loss_value = 0.0
            if batch:
                adv = torch.as_tensor([a for _, _, a in batch], dtype=torch.float64)
                logp = torch.stack([policy.logprob_torch(state, action) for state, action, _ in batch])
                logp_old = logp.detach()  # the policy that sampled the group
                logp_ref = None
                if reference is not None:
                    logp_ref = torch.stack([reference.logprob_torch(s, a) for s, a, _ in batch]).detach()
                for epoch in range(config.update_epochs):
                    if epoch:
                        logp = torch.stack([policy.logprob_torch(state, action) for state, action, _ in batch])
                    loss, _ = grpo_loss(logp, logp_old, adv, config.epsilon, logp_ref, config.beta)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                loss_value = float(loss.item())
            steps.append(step_row(step, reward=float(np.mean(rewards)) if rewards else 0.0, loss=loss_value))
            if step % config.eval_every == 0 or step == config.steps:
                shown = check(step)
            advance(1, f"reward {steps[-1]['reward']:.3f}  {shown}")
    seconds = round(time.perf_counter() - start, 2)
    final_policy = type(policy).load(out)
    final: dict[str, Any] = {}
    if val:
        final = evaluate_compaction(val, {"learned": final_policy, "heuristic": HeuristicCompactPolicy()}, env)
    metrics: dict[str, Any] = {
        "decision": "compact",
        "algo": "grpo",
        "version": final_policy.version,
        "config": asdict(config),
        "feature_spec": list(COMPACTION_ENV_FEATURES),
        "train_conversations": [ep.episode_id for ep in train],
        "val_conversations": [ep.episode_id for ep in val],
        "train_questions": sum(ep.n_questions for ep in train),
        "val_questions": sum(ep.n_questions for ep in val),
        "steps": steps,
        "validation": validation,
        "hindsight_warm_start": warm,
        "best_step": best.step,
        "best_val_reward": None if not np.isfinite(best.value) else round(best.value, 6),
        "final": final,
        "seconds": seconds,
        "device": "cpu",
    }
    title = f"reme train-policy --decision compact, budget {config.budget}"
    return write_run(out, metrics, title, learned="learned", validation_keys=("evidence_reachable", "reward"))
