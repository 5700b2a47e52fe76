"""One ``reme train-policy`` run on this machine: check the arguments, load and split the conversations by id, train
the decision's policy (rank: GRPO, supervised or PPO from a log; write and compact: GRPO in their environment),
score the kept checkpoint on the validation conversations, and say what was written.

``reme train-policy`` only parses its options into a ``TrainPolicyConfig``, calls ``train_policy`` (or
``follow_config`` and ``reme.train.follow.follow`` with ``--follow``) and prints the ``TrainSummary``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reme.errors import BadInputError
from reme.schema import Episode
from reme.train.rank_ppo import PPOConfig

DECISIONS = ("rank", "write", "compact", "writer")
FOLLOW_STEPS = 200
"""PPO steps per round of ``--follow`` unless ``--steps`` says otherwise."""


@dataclass(frozen=True)
class TrainPolicyConfig:
    """The arguments of a local ``train-policy`` run. ``None`` means the option was not given: the trainer's own
    default applies (``group_size``: rank 32, write and compact 8; ``budget``: write 0.3, compact 0.2)."""

    decision: str = "rank"
    """Which decision to train: rank, write or compact."""
    out: str | None = None
    """The checkpoint directory to write (required)."""
    datasets: tuple[str, ...] = ()
    """Training data files."""
    val_datasets: tuple[str, ...] = ()
    """Validation data files (whole files)."""
    val_fraction: float = 0.0
    """Share of the training conversations held out for validation (seeded shuffle)."""
    conversations: frozenset[str] | None = None
    """Train on these conversation ids only."""
    exclude_conversations: frozenset[str] | None = None
    """Train on all but these ids."""
    val_conversations: frozenset[str] | None = None
    """Validate on these ids of ``val_datasets`` only."""
    exclude_val_conversations: frozenset[str] | None = None
    """Validate on all but these ids of ``val_datasets``."""
    algo: str = "grpo"
    """rank: grpo, supervised, or ppo (with ``from_trajectories``, where grpo means ppo)."""
    steps: int | None = None
    """Optimiser steps."""
    group_size: int | None = None
    """G: sampled rankings (rank) or rollouts (write, compact) per group."""
    reward: str = "ndcg"
    """rank GRPO's reward: ndcg (NDCG@k) or recall (recall@k)."""
    k: int = 10
    """rank GRPO: length of the sampled rankings and the reward's cut-off."""
    residual_bound: float | None = None
    """rank GRPO: train a bounded residual on ReMe's fused score (``MLPRankPolicy(residual_bound=...)``)."""
    device: str = "auto"
    """auto, cpu or cuda."""
    seed: int = 0
    text_format: str = "dated"
    """dated or plain."""
    from_trajectories: str | None = None
    """rank: train with PPO on this workspace's logged decisions."""
    budget: float | None = None
    """write: storage budget; compact: context budget."""
    candidates: str = "turns"
    """write: turns or observations."""
    model: str | None = None
    """writer: the language model (``smollm2``, the local one, or a saved transformers model directory)."""

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise BadInputError(f"--decision {self.decision!r}: use rank, write, compact or writer")
        if self.decision != "rank" and (self.from_trajectories is not None or self.algo != "grpo"):
            raise BadInputError(f"--decision {self.decision} trains with GRPO in its environment only (--algo grpo)")
        if self.decision != "rank" and self.residual_bound is not None:
            raise BadInputError("--residual-bound is for --decision rank")
        if self.residual_bound is not None and not self.residual_bound > 0:
            raise BadInputError("--residual-bound must be positive")
        if self.decision == "rank" and self.budget is not None:
            raise BadInputError("--budget is for --decision write, compact or writer")
        if self.model is not None and self.decision != "writer":
            raise BadInputError("--model (with --backend local) is for --decision writer")

    @property
    def rank_algo(self) -> str:
        """The rank trainer that runs: logged decisions are trained on with decoupled PPO."""
        return "ppo" if self.from_trajectories is not None and self.algo == "grpo" else self.algo


@dataclass(frozen=True)
class TrainSummary:
    """What a run wrote and how the kept checkpoint did on the validation conversations."""

    decision: str
    out: str
    """The checkpoint directory."""
    metrics: dict[str, Any]
    """The trainer's metrics (``metrics.json``: version, seconds, ...)."""
    final: dict[str, dict[str, float]]
    """Validation table, policy label -> metric -> value (the baselines included); empty without validation."""
    validated_on: list[str]
    """The validation conversation ids."""


def follow_config(config: TrainPolicyConfig) -> tuple[str, str, PPOConfig]:
    """What ``--follow`` runs (train as a workspace's log grows, publish each version): ``(the workspace whose log
    is followed, the directory published to, the PPO settings)``. The log is looked up now, so a wrong path is an
    error rather than a silent wait."""
    from reme.train.common import resolve_device
    from reme.train.logs import trajectory_dir

    if config.from_trajectories is None or config.out is None:
        raise BadInputError("--follow needs --from-trajectories and --out")
    trajectory_dir(config.from_trajectories)
    ppo = PPOConfig(steps=config.steps or FOLLOW_STEPS, seed=config.seed, device=resolve_device(config.device))
    return config.from_trajectories, config.out, ppo


def _ids(ids: frozenset[str] | None) -> set[str] | None:
    return set(ids) if ids else None


def train_policy(config: TrainPolicyConfig, show_progress: bool = True) -> TrainSummary:
    """Load and split the conversations, train, write ``config.out`` and score it on the validation ones."""
    from reme.train.episodes import load_episode_files, load_episodes, split_episodes

    if not config.datasets and config.from_trajectories is None:
        raise BadInputError("give at least one --dataset (or --from-trajectories)")
    out = config.out
    if out is None:
        raise BadInputError("give --out DIR for the checkpoint")
    if config.text_format not in ("dated", "plain"):
        raise BadInputError(f"unknown text format {config.text_format!r}: use 'dated' or 'plain'")
    if config.steps is not None and config.steps < 1:
        raise BadInputError("--steps must be at least 1")
    episodes = (
        load_episodes(config.datasets, _ids(config.conversations), _ids(config.exclude_conversations))
        if config.datasets
        else []
    )
    train, held_out = split_episodes(episodes, config.val_fraction, config.seed) if episodes else ([], [])
    val = list(held_out)
    val_styles: dict[str, list[Episode]] = {"held-out": list(held_out)} if held_out else {}
    if config.val_datasets:  # each validation file is a style the kept checkpoint must not lose on
        files = load_episode_files(
            config.val_datasets, _ids(config.val_conversations), _ids(config.exclude_val_conversations)
        )
        for path, episodes_of_file in files.items():
            val += episodes_of_file
            val_styles[_style_name(path, val_styles)] = episodes_of_file
    elif config.val_conversations is not None or config.exclude_val_conversations is not None:
        raise BadInputError("--val-conversations and --exclude-val-conversations need --val-dataset")
    overlap = {e.episode_id for e in train} & {e.episode_id for e in val}
    if overlap:
        raise BadInputError(f"conversations both trained on and validated on: {', '.join(sorted(overlap))}")
    if config.decision == "write":
        return _train_write(config, out, train, val, show_progress)
    if config.decision == "compact":
        return _train_compact(config, out, train, val, show_progress)
    if config.decision == "writer":
        return _train_writer(config, out, train, val, show_progress, val_styles)
    return _train_rank(config, out, train, val, show_progress, val_styles)


def _style_name(path: str, taken: dict[str, list[Episode]]) -> str:
    """A validation file's style label: its stem (``-2``, ``-3`` ... when two files share one)."""
    from pathlib import Path

    stem, n = Path(path).stem, 1
    name = stem
    while name in taken:
        n += 1
        name = f"{stem}-{n}"
    return name


def _train_rank(
    config: TrainPolicyConfig,
    out: str,
    train: list[Episode],
    val: list[Episode],
    show_progress: bool,
    val_styles: dict[str, list[Episode]],
) -> TrainSummary:
    from reme.train.rank_run import train_rank_policy

    given: dict[str, Any] = {} if config.group_size is None else {"group_size": config.group_size}
    metrics = train_rank_policy(
        train, val, out, algo=config.rank_algo, steps=config.steps, device=config.device, seed=config.seed,
        text_format=config.text_format, show_progress=show_progress, from_trajectories=config.from_trajectories,
        reward=config.reward, k=config.k, val_styles=val_styles, residual_bound=config.residual_bound,
        **given,
    )  # fmt: skip
    return TrainSummary("rank", out, metrics, metrics["final"], list(metrics["val_conversations"]))


def _trainer_fields(config: TrainPolicyConfig) -> dict[str, Any]:
    """The options given for an environment's GRPO config (those not given keep the config's defaults)."""
    fields = {"seed": config.seed, "budget": config.budget, "group_size": config.group_size, "steps": config.steps}
    return {name: value for name, value in fields.items() if value is not None}


def _train_write(
    config: TrainPolicyConfig, out: str, train: list[Episode], val: list[Episode], show_progress: bool
) -> TrainSummary:
    """GRPO in the write environment; the learned policy against the heuristic and random baselines."""
    from reme.envs.write import WriteEnvConfig, evaluate_write, load_write_policy, prepare_write_episodes
    from reme.train.write_grpo import WriteGRPOConfig, train_write_policy

    write_config = WriteGRPOConfig(**_trainer_fields(config))

    def prepare(episodes: Sequence[Episode]) -> list[Any]:
        return prepare_write_episodes(
            episodes, candidates=config.candidates, text_format=config.text_format, show_progress=show_progress
        )

    val_write = prepare(val) if val else []
    metrics = train_write_policy(prepare(train), val_write, out, write_config, show_progress=show_progress)
    final: dict[str, dict[str, float]] = {}
    if val:
        labels = {"learned": load_write_policy(out), **{b: load_write_policy(b) for b in ("novelty-length", "random")}}
        final = evaluate_write(val_write, labels, WriteEnvConfig(budget=write_config.budget))["results"]
    return TrainSummary("write", out, metrics, final, sorted(e.episode_id for e in val))


def _train_compact(
    config: TrainPolicyConfig, out: str, train: list[Episode], val: list[Episode], show_progress: bool
) -> TrainSummary:
    """GRPO in the compaction environment; the learned policy against the heuristic."""
    from reme.envs.compaction import (
        CompactionEnvConfig,
        evaluate_compaction,
        load_compact_policy,
        prepare_compaction_episodes,
    )
    from reme.train.compact_grpo import CompactGRPOConfig, train_compact_policy

    compact_config = CompactGRPOConfig(text_format=config.text_format, **_trainer_fields(config))
    text_format = config.text_format
    train_eps = prepare_compaction_episodes(train, text_format=text_format, show_progress=show_progress)
    val_eps = prepare_compaction_episodes(val, text_format=text_format, show_progress=show_progress) if val else []
    metrics = train_compact_policy(train_eps, val_eps, out, compact_config, show_progress=show_progress)
    final: dict[str, dict[str, float]] = {}
    if val:
        labels = {"learned": load_compact_policy(out), "heuristic": load_compact_policy("heuristic")}
        env_config = CompactionEnvConfig(budget=compact_config.budget, text_format=text_format)
        final = evaluate_compaction(val_eps, labels, env_config)["results"]
    return TrainSummary("compact", out, metrics, final, sorted(e.episode_id for e in val))


def _train_writer(
    config: TrainPolicyConfig,
    out: str,
    train: list[Episode],
    val: list[Episode],
    show_progress: bool,
    val_styles: dict[str, list[Episode]],
) -> TrainSummary:
    """GRPO of the LLM writer on the local model (``reme.train.writer_grpo``); held out: the trained writer, the
    untrained one, the shipped MLP write gate and the novelty/length rule."""
    from reme.envs.hybrid import cached_encoder
    from reme.envs.write import prepare_write_episodes
    from reme.train.writer_grpo import WriterGRPOConfig, train_writer

    writer_config = WriterGRPOConfig(model=config.model or "smollm2", **_trainer_fields(config))
    encoder = cached_encoder(None, None, None)

    def prepare(episodes: Sequence[Episode]) -> list[Any]:
        return prepare_write_episodes(episodes, encoder=encoder, text_format=config.text_format,
                                      show_progress=show_progress)  # fmt: skip

    styles = {name: [e.episode_id for e in episodes] for name, episodes in val_styles.items()}
    metrics = train_writer(prepare(train), prepare(val) if val else [], out, encoder, writer_config, show_progress,
                           styles)  # fmt: skip
    return TrainSummary("writer", out, metrics, metrics["final"], sorted(e.episode_id for e in val))
