"""The trainer kit: the pieces every trainer of ``reme/train/`` shares, one copy each.

- ``group_advantages``: rewards made relative to their group (GRPO's advantage), the variants as one switch;
- ``clipped_surrogate``: PPO's clipped policy-gradient objective (every trainer, and ``reme learn``);
- ``grpo_loss``: the surrogate plus the KL to a reference (the rank, write and compact GRPO);
- ``BestCheckpoint``: which checkpoint a run keeps, by an evaluator's primary metric (or the last one);
- ``step_row`` / ``write_run`` / ``plot_curves``: one vocabulary of logged step scalars (``STEP_KEYS``), one
  ``metrics.json`` writer and one ``curves.png`` (a panel per metric);
- ``resolve_device`` and ``describe_ids``, small helpers of the above.

Each trainer stays one readable loop in its own file (``rank_grpo``, ``rank_ppo``, ``rank_supervised``,
``write_grpo``, ``compact_grpo``); this module holds what they would otherwise copy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from reme.errors import BadInputError

__all__ = [
    "STEP_KEYS", "TIE_STD", "BestCheckpoint", "clipped_surrogate", "describe_ids", "group_advantages", "grpo_loss",
    "plot_curves", "resolve_device", "step_row", "write_run",
]  # fmt: skip

TIE_STD = 1e-8
"""A group whose rewards have a standard deviation at most this carries no signal (its rewards all tie)."""

AdvantageScale = Literal["group", "batch", "none"]


def group_advantages(
    rewards: Sequence[float] | np.ndarray,
    groups: Sequence[Hashable] | np.ndarray | None = None,
    *,
    scale: AdvantageScale = "group",
    ddof: int = 0,
    eps: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray]:
    """Advantages of ``rewards`` relative to their group, and which of them carry signal: ``(advantages, informative)``,
    both shaped like ``rewards`` (1-d). ``groups`` names each reward's group (default: one group).

    Every variant centres a reward on its group's mean ``A = r - mean_group(r)``; ``scale`` then says what divides it:

    - ``group``: the group's standard deviation, ``A / (std_group + eps)`` (GRPO); a group whose rewards tie
      (std <= ``TIE_STD``) gets ``A = 0`` and is not informative;
    - ``batch``: the standard deviation of all centred values, ``A / (std_all + eps)``; nothing is informative when
      that std is <= ``TIE_STD``;
    - ``none``: nothing (the centred rewards); tied groups as for ``group``.

    ``ddof`` is the standard deviation's delta degrees of freedom (``1``: the unbiased estimate). A group of one
    reward has no spread: it is never informative."""
    if scale not in ("group", "batch", "none"):
        raise BadInputError(f"scale must be 'group', 'batch' or 'none', got {scale!r}")
    r = np.asarray(rewards)
    labels = np.zeros(len(r), dtype=np.int64) if groups is None else np.asarray(groups)
    if labels.shape != r.shape or r.ndim != 1:
        raise BadInputError("rewards and groups must be 1-d and of one length")
    advantages = np.zeros_like(r)
    informative = np.zeros(len(r), dtype=bool)
    for label in dict.fromkeys(labels.tolist()):
        rows = np.flatnonzero(labels == label)
        group = r[rows]
        centred = group - group.mean()
        if len(group) < 2:
            advantages[rows] = centred
            continue
        std = group.std(ddof=ddof)
        if scale == "batch":
            advantages[rows] = centred
            informative[rows] = True
        elif std > TIE_STD:
            advantages[rows] = centred / (std + eps) if scale == "group" else centred
            informative[rows] = True
    if scale == "batch":
        std_all = advantages.std(ddof=ddof)
        if std_all <= TIE_STD:
            return np.zeros_like(r), np.zeros(len(r), dtype=bool)
        advantages = advantages / (std_all + eps)
    return advantages, informative


def grpo_loss(
    logp_new: Any, logp_old: Any, advantages: Any, epsilon: float, logp_ref: Any | None = None, beta: float = 0.0
) -> tuple[Any, dict[str, float]]:
    """GRPO's loss on one batch of sampled actions: the clipped surrogate (``clipped_surrogate``) on the ratio to
    the policy that sampled them (``logp_old``), plus ``beta`` times the k3 estimate of KL(pi || pi_ref) when a
    reference is given. With one update epoch the ratio is 1 and the gradient is REINFORCE's with the group
    baseline; further epochs on the same batch are what the clip bounds. Returns ``(loss, parts)``."""
    import torch

    pg_loss, ratio = clipped_surrogate(logp_new - logp_old, advantages, epsilon)
    kl = torch.zeros((), dtype=logp_new.dtype)
    if logp_ref is not None and beta > 0:
        diff = logp_ref - logp_new
        kl = (diff.exp() - diff - 1).mean()
    with torch.no_grad():
        clip_frac = ((ratio - 1).abs() > epsilon).float().mean().item()
    return pg_loss + beta * kl, {"pg_loss": pg_loss.item(), "kl": kl.item(), "clip_frac": clip_frac}


def clipped_surrogate(log_ratio: Any, advantages: Any, epsilon: float, weight: Any | None = None) -> tuple[Any, Any]:
    """PPO's clipped surrogate loss and the ratios, torch tensors of one shape:

        rho  = exp(log_ratio)
        loss = -mean(weight * min(rho A, clip(rho, 1 - epsilon, 1 + epsilon) A))

    (``weight`` 1 when ``None``: the decoupled loss passes the capped behaviour weight). Returns ``(loss, rho)``."""
    import torch

    ratio = log_ratio.exp()
    clipped_ratio = ratio.clamp(1 - epsilon, 1 + epsilon)
    objective = torch.minimum(ratio * advantages, clipped_ratio * advantages)
    loss = -(objective if weight is None else weight * objective).mean()
    return loss, ratio


@dataclass
class BestCheckpoint:
    """Which checkpoint a training run keeps: the one whose validation results are best on ``metric`` (an
    evaluator's primary metric; ``greater_is_better`` says its direction, an improvement must exceed
    ``min_delta``), or the last one offered when ``metric`` is ``None``. ``offer`` calls ``save`` when the
    offered checkpoint is kept."""

    metric: str | None
    greater_is_better: bool = True
    min_delta: float = 0.0
    step: int = -1
    """Step of the kept checkpoint (-1: none yet)."""
    value: float = math.nan
    """Its ``metric`` value (NaN when kept without one)."""
    kept: Any = None
    """What ``save`` returned for it."""

    def offer(self, step: int, results: Mapping[str, float] | None, save: Callable[[], Any]) -> bool:
        """Keep step ``step`` (``save()``) when it is the first, or better than the kept one; ``results`` ``None``
        (no validation) keeps it as the latest."""
        if self.metric is not None and results is not None:
            value = float(results[self.metric])
            if self.step >= 0:
                delta = value - self.value if self.greater_is_better else self.value - value
                if not delta > self.min_delta:
                    return False
        else:
            value = math.nan
        self.kept = save()
        self.step, self.value = step, value
        return True


STEP_KEYS: tuple[str, ...] = ("step", "reward", "loss", "kl", "entropy")
"""The scalars every trainer logs per optimiser step in ``metrics.json``: the batch's mean reward (a rollout's
return for the write and compact trainers), the loss, the KL to the reference or proximal policy and the policy
entropy (0 where the algorithm has none)."""


def step_row(step: float, **values: float) -> dict[str, float]:
    """One ``metrics.json`` step: ``STEP_KEYS`` (missing ones 0), rounded to 6 places; other keys are dropped."""
    return {"step": int(step), **{key: round(float(values.get(key, 0.0)), 6) for key in STEP_KEYS[1:]}}


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees one, else ``cpu``; ``cpu`` / ``cuda`` checked."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise BadInputError("--device cuda: torch sees no CUDA device on this machine")
    if device not in ("cpu", "cuda"):
        raise BadInputError(f"--device must be auto, cpu or cuda, got {device!r}")
    return device


def describe_ids(ids: Sequence[str], limit: int = 3) -> str:
    """Conversation ids for a title: all of them when few, else a count and the first two."""
    ids = list(ids)
    return ", ".join(ids) if len(ids) <= limit else f"{len(ids)} conversations ({', '.join(ids[:2])}, ...)"


def write_run(
    out: Path, metrics: dict[str, Any], title: str, learned: str, validation_keys: Sequence[str]
) -> dict[str, Any]:
    """Write a run's ``metrics.json`` and its ``curves.png`` (``plot_curves``) into ``out``; returns ``metrics``.

    ``metrics`` holds ``steps`` (``step_row`` rows), ``validation`` (``[{"step", "results": {label: {metric:
    value}}}]``), ``val_conversations``, ``seconds`` and optionally ``best_step``; ``threads`` is added, the torch
    thread count the run had (its figures can depend on it, ``reme.threads``)."""
    from reme.threads import threads_in_use

    metrics.setdefault("threads", threads_in_use())
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    plot_curves(metrics, out / "curves.png", title, learned, validation_keys)
    return metrics


def plot_curves(
    metrics: Mapping[str, Any], path: Path, title: str, learned: str, validation_keys: Sequence[str]
) -> None:
    """One panel per metric against steps: each training scalar of ``STEP_KEYS`` that is not always 0 (the batch
    values and their running mean), then each of ``validation_keys`` with a curve per validated label (``learned``
    solid, the others dashed: the baselines) and the kept checkpoint's step dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = metrics["steps"]
    steps = [s["step"] for s in rows]
    train_keys = [key for key in STEP_KEYS[1:] if any(s.get(key, 0.0) for s in rows)]
    validation = metrics["validation"]
    panels = len(train_keys) + max(len(validation_keys), 1)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.8), squeeze=False)
    for ax, key in zip(axes[0], train_keys):
        values = np.asarray([s.get(key, 0.0) for s in rows], dtype=np.float64)
        window = max(1, len(values) // 30)
        ax.plot(steps, values, alpha=0.3, color="tab:blue", label="batch")
        ax.plot(steps[window - 1 :], np.convolve(values, np.ones(window) / window, mode="valid"), color="tab:blue",
                label=f"mean of {window}")  # fmt: skip
        ax.set_xlabel("step")
        ax.set_ylabel(f"training {key}")
        ax.legend(fontsize=8)
    val_axes = axes[0][len(train_keys) :]
    if not validation:
        val_axes[0].text(0.5, 0.5, "no validation conversations", ha="center", va="center")
    else:
        v_steps = [v["step"] for v in validation]
        labels = list(validation[0]["results"])
        shown = describe_ids(metrics.get("val_conversations", []))
        for ax, key in zip(val_axes, validation_keys):
            for label in labels:
                curve = [v["results"][label][key] for v in validation]
                if label == learned:
                    ax.plot(v_steps, curve, marker="o", ms=3, color="tab:green", label=label)
                else:
                    ax.plot(v_steps, curve, ls="--", label=label)
            if metrics.get("best_step", -1) >= 0:
                ax.axvline(metrics["best_step"], color="tab:green", ls=":", lw=1, label="kept checkpoint")
            ax.set_xlabel("step")
            ax.set_ylabel(f"validation {key}")
            ax.set_title(f"held out: {shown}", fontsize=9)
            ax.legend(fontsize=8)
    fig.suptitle(f"{title} ({metrics.get('device', 'cpu')}, {metrics['seconds']} s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
