"""``reme train-policy --decision rank``: build the rank examples of the split conversations (or read a
trajectory log), train with one of the rank trainers (``ALGOS``), and write the checkpoint directory
(``policy.safetensors``, ``policy.json``, ``metrics.json``, ``curves.png``)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from reme.errors import BadInputError
from reme.policy.rank import HeuristicRankPolicy, RankState
from reme.progress import progress_bar
from reme.schema import Episode
from reme.train.common import BestCheckpoint, resolve_device, step_row, write_run
from reme.train.logs import LoggedRankSample, logged_rank_samples, workspace_root
from reme.train.rank_data import RankExample, TrainResult, build_examples, data_hash, evaluate_scores
from reme.train.rank_grpo import GRPOConfig, policy_scores, train_grpo
from reme.train.rank_ppo import PPOConfig, train_ppo
from reme.train.rank_supervised import SupervisedConfig, train_supervised


def logged_hash(samples: Sequence[LoggedRankSample]) -> str:
    """A hash of logged training data (decision ids and returns)."""
    import hashlib

    digest = hashlib.sha256()
    for sample in samples:
        digest.update(f"{sample.decision_id}:{sample.ret}".encode())
    return digest.hexdigest()[:16]


ALGOS = ("grpo", "supervised", "ppo")
DEFAULT_STEPS = {"grpo": 600, "supervised": 1500, "ppo": 600}


def heuristic_metrics(examples: Sequence[RankExample]) -> dict[str, float]:
    heuristic = HeuristicRankPolicy()
    return evaluate_scores(examples, [heuristic.scores(RankState(ex.features, 10)) for ex in examples])


def style_margins(
    groups: Mapping[str, Sequence[RankExample]], baselines: Mapping[str, dict[str, float]], policy: Any
) -> dict[str, dict[str, float]]:
    """Per validation style: the head's recall@10, the heuristic's, and the margin (head minus heuristic)."""
    out = {}
    for style, examples in groups.items():
        mine = evaluate_scores(examples, policy_scores(policy, examples))["recall@10"]
        base = baselines[style]["recall@10"]
        out[style] = {"recall@10": mine, "heuristic": base, "margin": round(mine - base, 4)}
    return out


class WorstStyleSelection:
    """Which validated step a rank run keeps: the one whose smallest recall@10 margin over the heuristic across the
    validation styles is largest; the mean margin breaks ties (at a thousandth of its weight, below one question's
    share of any style's recall). Call it on the head at each validation (it records the margins and keeps a copy
    of the weights when the step is the best so far); ``restore`` loads the kept weights back."""

    def __init__(self, groups: Mapping[str, Sequence[RankExample]]):
        self.groups = {style: list(examples) for style, examples in groups.items() if examples}
        self.baselines = {style: heuristic_metrics(examples) for style, examples in self.groups.items()}
        self.history: list[dict[str, dict[str, float]]] = []
        """The per-style margins of each validation, in order."""
        self.best = BestCheckpoint(metric="worst_margin")

    def __call__(self, policy: Any) -> dict[str, dict[str, float]]:
        margins = style_margins(self.groups, self.baselines, policy)
        self.history.append(margins)
        values = [m["margin"] for m in margins.values()]
        worst = {"worst_margin": min(values) + float(np.mean(values)) / 1000}
        self.best.offer(len(self.history) - 1, worst, lambda: copy.deepcopy(policy.head.state_dict()))
        return margins

    def restore(self, policy: Any) -> int:
        """Load the kept weights into ``policy``; returns the index of the kept validation (-1: none)."""
        if self.best.step >= 0:
            policy.head.load_state_dict(self.best.kept)
            policy.refresh_version()
        return self.best.step


def train_rank_policy(
    train_episodes: Sequence[Episode],
    val_episodes: Sequence[Episode],
    out: str | Path,
    algo: str = "grpo",
    steps: int | None = None,
    group_size: int = 32,
    device: str = "auto",
    seed: int = 0,
    text_format: str = "dated",
    show_progress: bool = True,
    from_trajectories: str | Path | None = None,
    reward: str = "ndcg",
    k: int = 10,
    val_styles: Mapping[str, Sequence[Episode]] | None = None,
    residual_bound: float | None = None,
) -> dict[str, Any]:
    """Train and write the checkpoint directory; returns the metrics written to ``metrics.json``.

    With validation, the kept checkpoint is the validated step whose worst margin over the heuristic (recall@10)
    across validation styles is largest: ``val_styles`` names the styles (one validation file each, say), else all
    of ``val_episodes`` is one style. A head that wins on average but loses on one style is not kept over one
    that wins on all; the last step wins only when it is the best by that rule."""
    if algo not in ALGOS:
        raise BadInputError(f"--algo {algo!r}: available are {', '.join(ALGOS)}")
    if residual_bound is not None and algo != "grpo":
        raise BadInputError("--residual-bound trains a bounded residual head with --algo grpo only")
    if (algo == "ppo") != (from_trajectories is not None):
        raise BadInputError("--algo ppo trains from logged decisions: it needs --from-trajectories, and only it does")
    device = resolve_device(device)
    steps = steps or DEFAULT_STEPS[algo]
    logged = logged_rank_samples(from_trajectories) if from_trajectories is not None else []
    if from_trajectories is not None and not logged:
        from reme.policy.audit import NOT_EXPLORED, stats

        counts = stats(workspace_root(from_trajectories)).get("learnable", {}).get("rank", {})
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items())) or "no rank decision at all"
        raise BadInputError(
            f"{from_trajectories}: no sampled, rewarded rank decision in the log ({why})"
            + (
                "; a greedy search says nothing about the orderings it did not take: set `mode: sample` or "
                "`policies.exploration.rank: 0.1` in reme.yaml (docs/policies.md)"
                if counts.get(NOT_EXPLORED)
                else ""
            )
        )
    train = [] if logged else build_examples(train_episodes, text_format=text_format, show_progress=show_progress)
    styles = dict(val_styles) if val_styles else ({"validation": list(val_episodes)} if val_episodes else {})
    groups = {
        style: build_examples(episodes, text_format=text_format, show_progress=show_progress)
        for style, episodes in styles.items()
    }
    groups = {style: examples for style, examples in groups.items() if examples}
    val = [ex for examples in groups.values() for ex in examples]
    if not train and not logged:
        raise BadInputError("the training conversations have no scored question")
    baseline = heuristic_metrics(val) if val else {}
    selection = WorstStyleSelection(groups)

    def validate(policy: Any) -> dict[str, dict[str, float]]:
        selection(policy)
        return {algo: evaluate_scores(val, policy_scores(policy, val)), "heuristic": baseline}

    config: GRPOConfig | SupervisedConfig | PPOConfig
    result: TrainResult
    last_val: dict[str, str] = {"text": ""}

    def validate_and_show(policy: Any) -> dict[str, dict[str, float]]:
        results = validate(policy)
        mine = results[algo]
        worst = min(m["margin"] for m in selection.history[-1].values())
        last_val["text"] = f"val R@10 {mine['recall@10']:.3f}, worst style {worst:+.3f}"
        return results

    with progress_bar(f"training ({algo}, {device})", total=steps, enabled=show_progress) as advance:

        def show(step: int, stats: dict[str, float]) -> None:
            shown = f"reward {stats['reward']:.3f}" if algo != "supervised" else f"loss {stats['loss']:.3f}"
            advance(1, f"{shown}  {last_val['text']}")

        check = validate_and_show if val else None
        if algo == "grpo":
            config = GRPOConfig(
                steps=steps,
                group_size=group_size,
                seed=seed,
                device=device,
                reward=reward,
                k=k,
                init_temperature=0.2,
                residual_bound=residual_bound,
            )
            result = train_grpo(train, config, check, show)
        elif algo == "supervised":
            config = SupervisedConfig(steps=steps, seed=seed, device=device)
            result = train_supervised(train, config, check, show)
        else:
            config = PPOConfig(steps=steps, seed=seed, device=device)
            result = train_ppo(logged, config, check, show)
    out = Path(out)
    trained_on = data_hash(train) if train else logged_hash(logged)
    kept = selection.restore(result.policy)  # the validated step with the best worst-style margin
    best_step = result.validation[kept]["step"] if kept >= 0 else steps
    version = result.policy.save(out, training_data_hash=trained_on)
    final: dict[str, dict[str, float]] = {}
    final_styles: dict[str, dict[str, float]] = {}
    if val:
        final = {algo: evaluate_scores(val, policy_scores(result.policy, val)), "heuristic": baseline}
        final_styles = style_margins(selection.groups, selection.baselines, result.policy)
    metrics = {
        "algo": algo,
        "version": version,
        "config": asdict(config),
        "text_format": text_format,
        "train_conversations": sorted({e.episode_id for e in train_episodes}),
        "from_trajectories": str(from_trajectories) if from_trajectories is not None else None,
        "logged_decisions": len(logged),
        "val_conversations": sorted({e.episode_id for e in val_episodes}),
        "train_questions": len(train) or len({s.group_id for s in logged}),
        "val_questions": len(val),
        "steps": [step_row(**s) for s in result.steps],
        "validation": result.validation,
        "best_step": best_step,
        "selection": "worst-style recall@10 margin over the heuristic" if val else "last step",
        "val_styles": final_styles,
        "validation_styles": [{"step": v["step"], "styles": m} for v, m in zip(result.validation, selection.history)],
        "final": final,
        "seconds": result.seconds,
        "device": device,
    }
    title = f"reme train-policy --decision rank --algo {algo}"
    return write_run(out, metrics, title, learned=algo, validation_keys=("recall@5", "recall@10"))
