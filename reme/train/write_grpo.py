"""``reme train-policy --decision write``: the write policy trained in the write environment (``reme.envs.write``).

The algorithm (``--algo grpo``) is GRPO as the rank head has it (``reme.train.common.grpo_loss``): the group-relative
advantage, the clipped ratio to the policy that sampled the window, ``update_epochs`` passes per batch and a KL term
(``beta``) towards the policy training started from. With the defaults (one pass, ``beta = 0``) the ratio is 1 and
the update is REINFORCE with a group baseline, which is what the shipped writer was trained with.

One group (Memory-R2's point: rollouts that wrote different memories no longer share a state, so a group must
start from one intermediate state):

1. pick a training conversation, a budget and a prefix length ``p``; run the current policy greedily over the first
   ``p`` candidates: every rollout of the group shares this state;
2. fork it ``G`` times; each fork *samples* the next ``window`` decisions, then continues greedily to the end of
   the stream, and the questions are asked;
3. each fork's return is the sum of its decisions' joined returns (``join_rewards``: evidence found in the top k,
   credited to the writes that stored it, minus the storage cost); advantages (``group_advantages``, the
   ``advantage`` switch of ``WriteGRPOConfig``) are made relative to the group, and the loss is ``grpo_loss`` over
   the sampled window decisions: ``-mean(min(rho A, clip(rho) A)) + beta KL`` with ``rho = pi / pi_sampling``.

The policy starts from a behaviour-cloned copy of the novelty/length heuristic (a few hundred cross-entropy steps
on its greedy actions), so training improves a working rule instead of discovering the budget from scratch. The
best checkpoint by validation recall@10 is kept (``BestCheckpoint``; the last one without validation).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reme.envs.rollout import Rollout
from reme.envs.write import WriteEnvConfig, WriteEpisode, WriteOutcome, WriteRollout, evaluate_write, load_write_policy
from reme.errors import BadInputError
from reme.policy.write import WRITE_ACTIONS, NoveltyLengthWritePolicy, WriteState
from reme.policy.write_mlp import PacedMLPWritePolicy
from reme.progress import progress_bar
from reme.train.common import BestCheckpoint, group_advantages, grpo_loss, step_row, write_run

__all__ = ["WriteGRPOConfig", "question_weights", "train_write_policy", "usable_episodes"]


@dataclass
class WriteGRPOConfig(WriteEnvConfig):
    """Trainer settings, on top of the environment's (``WriteEnvConfig``: ``budget`` is the one validation selects
    at, ``storage_cost`` is charged in the join)."""

    storage_cost: float = 0.1
    """Charged per memory-day in the join; the environment's conversation is one day, so a store that is never
    used earns ``-storage_cost`` (``reme.envs.write``)."""
    steps: int = 200
    group_size: int = 8
    groups_per_step: int = 2
    window: int = 48
    """Sampled decisions per rollout (the rest of the stream is greedy)."""
    lr: float = 3e-3
    hidden: int = 8
    seed: int = 0
    eval_every: int = 10
    train_budgets: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.3, 0.5])
    """Budgets sampled per group (a policy that reads ``budget_rate`` should work across them)."""
    clone_steps: int = 300
    """Behaviour-cloning steps on ``NoveltyLengthWritePolicy`` before training (0: start from random weights)."""
    clone_temperature: float = 0.25
    """Temperature of the novelty/length rule that is cloned: a softer teacher leaves the policy room to explore."""
    epsilon: float = 0.2
    """Clipping range of the ratio to the sampling policy (it binds from the second update epoch on)."""
    beta: float = 0.0
    """KL coefficient towards the policy training started from (after cloning)."""
    update_epochs: int = 1
    """Gradient passes over each step's sampled decisions."""
    advantage: str = "decision"
    """``decision``: each sampled decision's own joined return minus the group's mean return at the same position
    (the forks share the state at the window start); ``rollout``: the fork's total return, standardised in the
    group (the textbook GRPO advantage)."""

    def __post_init__(self) -> None:
        for name in ("steps", "group_size", "groups_per_step", "window", "hidden", "eval_every", "update_epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "steps" else 1):
                raise BadInputError(f"{name} must be a positive integer, got {value!r}")
        if not self.epsilon > 0 or self.beta < 0:
            raise BadInputError(f"epsilon must be > 0 and beta >= 0, got {self.epsilon!r} and {self.beta!r}")
        if self.advantage not in ("decision", "rollout"):
            raise BadInputError(f"advantage must be 'decision' or 'rollout', got {self.advantage!r}")
        if self.group_size < 2:
            raise BadInputError("group_size must be >= 2 (advantages compare rollouts of a group)")
        super().__post_init__()
        for b in self.train_budgets:
            WriteEnvConfig(budget=b)


def _clone_novelty_length(
    policy: PacedMLPWritePolicy, episodes: Sequence[WriteEpisode], config: WriteGRPOConfig, rng: np.random.Generator
) -> float:
    """Fit the MLP to the novelty/length rule's greedy actions on its own rollouts; returns the final
    cross-entropy."""
    import torch

    teacher = NoveltyLengthWritePolicy(temperature=config.clone_temperature)
    states: list[WriteState] = []
    for episode in episodes:
        for budget in config.train_budgets:
            rollout = WriteRollout(episode, config.env(budget=budget))
            rollout.run(teacher)
            states.extend(rollout.states)
    if not states or config.clone_steps == 0:
        return float("nan")
    targets = torch.from_numpy(np.exp(np.stack([teacher.action_logprobs(s) for s in states])))
    batch_all = policy.batch_inputs(states)
    masks = batch_all[-1]
    optimiser = torch.optim.Adam(policy.module.parameters(), lr=1e-2)
    loss = torch.zeros(())
    batch = min(512, len(states))
    for _ in range(config.clone_steps):
        idx = torch.from_numpy(rng.choice(len(states), batch, replace=False))
        logp = policy.masked_logprobs(*(t[idx] for t in batch_all))
        loss = -(targets[idx] * torch.where(masks[idx], logp, torch.zeros_like(logp))).sum(-1).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return float(loss.detach())


def usable_episodes(train: Sequence[WriteEpisode]) -> list[WriteEpisode]:
    """The training conversations a write trainer can learn from: candidates and scored questions both."""
    usable = [e for e in train if e.n and e.questions]
    if not usable:
        raise BadInputError("no training conversation has both candidates and scored questions")
    return usable


def question_weights(train: Sequence[WriteEpisode]) -> np.ndarray:
    """How often each conversation is drawn: as often as it asks questions."""
    questions = np.asarray([len(e.questions) for e in train], dtype=np.float64)
    return questions / questions.sum()


def _validate(policy: Any, val: Sequence[WriteEpisode], config: WriteGRPOConfig) -> dict[str, float]:
    if not val:
        return {}
    return evaluate_write(val, {"p": policy}, config.env())["results"]["p"]


def train_write_policy(
    train: Sequence[WriteEpisode],
    val: Sequence[WriteEpisode],
    out: str | Path,
    config: WriteGRPOConfig | None = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Train, keep the best validation checkpoint in ``out`` and write ``metrics.json`` and ``curves.png``."""
    import torch

    config = config or WriteGRPOConfig()
    train = usable_episodes(train)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    policy = PacedMLPWritePolicy(hidden=config.hidden, seed=config.seed)
    clone_loss = _clone_novelty_length(policy, train, config, rng)
    optimiser = torch.optim.Adam(policy.module.parameters(), lr=config.lr)
    reference = copy.deepcopy(policy) if config.beta > 0 else None  # the cloned start, for the KL term
    baselines = {
        label: _validate(load_write_policy(label), val, config) for label in ("novelty-length", "random") if val
    }
    weights_by_questions = question_weights(train)
    history: list[dict[str, Any]] = []
    validation: list[dict[str, Any]] = []
    best = BestCheckpoint(metric="recall@10")

    def check(step: int) -> None:
        if not val:
            return
        result = _validate(policy, val, config)
        validation.append({"step": step, "results": {"mlp-write-paced": result, **baselines}})
        best.offer(step, result, lambda: policy.save(out))

    check(0)
    with progress_bar("training (write, grpo)", total=config.steps, enabled=show_progress) as advance:
        for step in range(1, config.steps + 1):
            states: list[WriteState] = []
            actions: list[str] = []
            weights: list[float] = []
            returns: list[float] = []
            for _ in range(config.groups_per_step):
                episode = train[int(rng.choice(len(train), p=weights_by_questions))]
                budget = float(config.train_budgets[int(rng.integers(len(config.train_budgets)))])
                start = int(rng.integers(0, max(episode.n - config.window, 0) + 1))
                shared = WriteRollout(episode, config.env(budget=budget))
                shared.run(policy, until=start)
                group = []
                for _g in range(config.group_size):
                    fork: Rollout[WriteOutcome] = shared.copy()
                    fork.run(policy, until=start + config.window, mode="sample", rng=rng)
                    fork.run(policy)
                    group.append(fork.finish())
                totals = np.asarray([o.total_return for o in group])
                returns.extend(totals.tolist())
                window = slice(start, start + config.window)
                if config.advantage == "rollout":
                    per_fork, informative = group_advantages(totals)
                    if not informative.any():
                        continue
                    advantages = np.repeat(per_fork[:, None], len(group[0].states[window]), axis=1)
                else:  # each position's forks form a group; the centred returns are scaled by their joint std
                    own = np.asarray([o.returns[window] for o in group])  # (G, window) joined returns
                    position = np.tile(np.arange(own.shape[1]), own.shape[0])
                    centred, informative = group_advantages(own.ravel(), position, scale="batch")
                    if not informative.any():
                        continue
                    advantages = centred.reshape(own.shape)
                for outcome, row in zip(group, advantages):
                    states.extend(outcome.states[window])
                    actions.extend(str(d.action) for d in outcome.decisions[window])
                    weights.extend(row.tolist())
            loss_value = 0.0
            if states:
                adv = torch.as_tensor(weights, dtype=torch.float64)
                logp = policy.logprob_torch(states, actions)
                logp_old = logp.detach()  # the policy that sampled the window
                logp_ref = None if reference is None else reference.logprob_torch(states, actions).detach()
                for epoch in range(config.update_epochs):
                    if epoch:
                        logp = policy.logprob_torch(states, actions)
                    loss, _ = grpo_loss(logp, logp_old, adv, config.epsilon, logp_ref, config.beta)
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                loss_value = float(loss.detach())
            history.append(step_row(step, reward=float(np.mean(returns)), loss=loss_value))
            if step % config.eval_every == 0 or step == config.steps:
                check(step)
            shown = f"return {np.mean(returns):.2f}"
            if validation:
                shown += f"  val R@10 {validation[-1]['results']['mlp-write-paced']['recall@10']:.3f}"
            advance(1, shown)
    if not val:  # no validation: keep the last weights
        best.offer(config.steps, None, lambda: policy.save(out))
    final = PacedMLPWritePolicy.load(out)
    metrics = {
        "decision": "write",
        "algo": "grpo",
        "version": final.version,
        "config": asdict(config),
        "train_conversations": sorted(e.episode_id for e in train),
        "val_conversations": sorted(e.episode_id for e in val),
        "clone_loss": clone_loss,
        "best_step": best.step,
        "steps": history,
        "validation": validation,
        "seconds": round(time.perf_counter() - started, 1),
        "device": "cpu",
        "actions": list(WRITE_ACTIONS),
    }
    title = f"reme train-policy --decision write, budget {config.budget}"
    return write_run(out, metrics, title, learned="mlp-write-paced", validation_keys=("recall@10",))
