"""``reme train-policy --decision rank``: load datasets, split by conversation, build the rank examples, train,
and write the checkpoint directory (``policy.safetensors``, ``policy.json``, ``metrics.json``, ``curves.png``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from reme.errors import BadInputError
from reme.policy.rank import HeuristicRankPolicy, RankState
from reme.progress import progress_bar
from reme.schema import Episode
from reme.train.data import RankExample, build_examples, data_hash, evaluate_scores
from reme.train.grpo import GRPOConfig, TrainResult, policy_scores, train_grpo
from reme.train.logs import LoggedRankSample, logged_rank_samples
from reme.train.ppo import PPOConfig, train_ppo
from reme.train.supervised import SupervisedConfig, train_supervised


def logged_hash(samples: Sequence[LoggedRankSample]) -> str:
    """A hash of logged training data (decision ids and returns)."""
    import hashlib

    digest = hashlib.sha256()
    for sample in samples:
        digest.update(f"{sample.decision_id}:{sample.ret}".encode())
    return digest.hexdigest()[:16]


ALGOS = ("grpo", "supervised", "ppo")
DEFAULT_STEPS = {"grpo": 600, "supervised": 1500, "ppo": 600}


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise BadInputError("--device cuda: torch sees no CUDA device on this machine")
    if device not in ("cpu", "cuda"):
        raise BadInputError(f"--device must be auto, cpu or cuda, got {device!r}")
    return device


def load_episodes(
    paths: Sequence[str], conversations: set[str] | None = None, exclude: set[str] | None = None
) -> list[Episode]:
    """Episodes of several dataset files (any format the loaders read), optionally only some ids, or all but
    some (unknown ids are an error either way)."""
    from reme.datasets import load_dataset

    episodes: list[Episode] = []
    for path in paths:
        loaded, _ = load_dataset(path)
        episodes.extend(loaded)
    missing = ((conversations or set()) | (exclude or set())) - {e.episode_id for e in episodes}
    if missing:
        raise BadInputError(f"unknown conversation id(s): {', '.join(sorted(missing))}")
    if conversations:
        episodes = [e for e in episodes if e.episode_id in conversations]
    if exclude:
        episodes = [e for e in episodes if e.episode_id not in exclude]
    if not episodes:
        raise BadInputError("no conversations to train on")
    return episodes


def heuristic_metrics(examples: Sequence[RankExample]) -> dict[str, float]:
    heuristic = HeuristicRankPolicy()
    return evaluate_scores(examples, [heuristic.scores(RankState(ex.features, 10)) for ex in examples])


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
) -> dict[str, Any]:
    """Train and write the checkpoint directory; returns the metrics written to ``metrics.json``."""
    if algo not in ALGOS:
        raise BadInputError(f"--algo {algo!r}: available are {', '.join(ALGOS)}")
    if (algo == "ppo") != (from_trajectories is not None):
        raise BadInputError("--algo ppo trains from logged decisions: it needs --from-trajectories, and only it does")
    device = resolve_device(device)
    steps = steps or DEFAULT_STEPS[algo]
    logged = logged_rank_samples(from_trajectories) if from_trajectories is not None else []
    if from_trajectories is not None and not logged:
        raise BadInputError(f"{from_trajectories}: no sampled, rewarded rank decision in the log")
    train = [] if logged else build_examples(train_episodes, text_format=text_format, show_progress=show_progress)
    val = build_examples(val_episodes, text_format=text_format, show_progress=show_progress) if val_episodes else []
    if not train and not logged:
        raise BadInputError("the training conversations have no scored question")
    baseline = heuristic_metrics(val) if val else {}

    def validate(policy: Any) -> dict[str, dict[str, float]]:
        return {algo: evaluate_scores(val, policy_scores(policy, val)), "heuristic": baseline}

    config: GRPOConfig | SupervisedConfig | PPOConfig
    result: TrainResult
    last_val: dict[str, str] = {"text": ""}

    def validate_and_show(policy: Any) -> dict[str, dict[str, float]]:
        results = validate(policy)
        mine = results[algo]
        last_val["text"] = f"val R@5 {mine['recall@5']:.3f} R@10 {mine['recall@10']:.3f}"
        return results

    with progress_bar(f"training ({algo}, {device})", total=steps, enabled=show_progress) as advance:

        def show(step: int, stats: dict[str, float]) -> None:
            shown = f"reward {stats['reward']:.3f}" if algo != "supervised" else f"loss {stats['loss']:.3f}"
            advance(1, f"{shown}  {last_val['text']}")

        check = validate_and_show if val else None
        if algo == "grpo":
            config = GRPOConfig(
                steps=steps, group_size=group_size, seed=seed, device=device, reward=reward, k=k, init_temperature=0.2
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
    version = result.policy.save(out, training_data_hash=trained_on)
    final: dict[str, dict[str, float]] = {}
    if val:
        final = {algo: evaluate_scores(val, policy_scores(result.policy, val)), "heuristic": baseline}
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
        "steps": [{k: s.get(k, 0.0) for k in ("step", "reward", "loss", "kl", "entropy")} for s in result.steps],
        "validation": result.validation,
        "final": final,
        "seconds": result.seconds,
        "device": device,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    plot_curves(metrics, out / "curves.png")
    return metrics


def describe_ids(ids: Sequence[str], limit: int = 3) -> str:
    """Conversation ids for a title: all of them when few, else a count and the first two."""
    ids = list(ids)
    return ", ".join(ids) if len(ids) <= limit else f"{len(ids)} conversations ({', '.join(ids[:2])}, ...)"


def plot_curves(metrics: dict[str, Any], path: Path) -> None:
    """Training reward and validation recall against steps, the heuristic as a horizontal line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    algo = metrics["algo"]
    fig, (ax_r, ax_v) = plt.subplots(1, 2, figsize=(11, 4))
    steps = [s["step"] for s in metrics["steps"]]
    if algo == "grpo":
        reward = np.asarray([s["reward"] for s in metrics["steps"]])
        window = max(1, len(reward) // 30)
        smooth = np.convolve(reward, np.ones(window) / window, mode="valid")
        ax_r.plot(steps, reward, alpha=0.25, color="tab:blue", label="reward (batch)")
        ax_r.plot(steps[window - 1 :], smooth, color="tab:blue", label=f"reward (mean of {window})")
        ax_r.set_ylabel(f"training reward ({metrics['config'].get('reward', '')}@{metrics['config'].get('k', '')})")
    elif algo == "ppo":
        ax_r.plot(steps, [s["loss"] for s in metrics["steps"]], color="tab:blue", label="decoupled PPO loss")
        ax_r.set_ylabel("training loss (logged decisions)")
    else:
        ax_r.plot(steps, [s["loss"] for s in metrics["steps"]], color="tab:blue", label="listwise loss")
        ax_r.set_ylabel("training loss")
    ax_r.set_xlabel("step")
    ax_r.legend()
    if metrics["validation"]:
        v_steps = [v["step"] for v in metrics["validation"]]
        for key, color in (("recall@5", "tab:orange"), ("recall@10", "tab:green")):
            ax_v.plot(
                v_steps, [v["results"][algo][key] for v in metrics["validation"]], color=color, label=f"{algo} {key}"
            )
            ax_v.axhline(
                metrics["validation"][0]["results"]["heuristic"][key], color=color, ls="--", label=f"heuristic {key}"
            )
        ax_v.set_xlabel("step")
        ax_v.set_ylabel("validation recall")
        ax_v.set_title(f"held out: {describe_ids(metrics['val_conversations'])}", fontsize=9)
        ax_v.legend(fontsize=8)
    else:
        ax_v.text(0.5, 0.5, "no validation conversations", ha="center", va="center")
    fig.suptitle(f"reme train-policy --decision rank --algo {algo} ({metrics['device']}, {metrics['seconds']} s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
