"""``reme trajectories``: audit, record and prune the decision log of a workspace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from reme.cli import Reply, json_command, stderr
from reme.cli.datasets import id_list
from reme.cli.options import JsonOpt, WorkspaceOpt, existing_workspace, workspace_path
from reme.errors import BadInputError

trajectories_app: typer.Typer = typer.Typer(help="Audit the decision log.", no_args_is_help=True)


@contextmanager
def log_of(root: Path) -> Iterator[Any]:
    """The workspace's log as ``read_records`` reads it (its folder, or the PostgreSQL table), closed after."""
    from reme.store.open import pull_registry, trajectory_source

    source = trajectory_source(root)
    try:
        if not isinstance(source, str | Path):  # the versions that took the decisions may be another host's
            pull_registry(root, source.store)
        yield source
    finally:
        if not isinstance(source, str | Path):
            source.close()


@trajectories_app.command("verify")
@json_command
def trajectories_verify(ctx: typer.Context, workspace: WorkspaceOpt = None) -> None:
    """Re-score every recorded decision under its recorded policy version; exit 1 on any mismatch."""
    from reme.policy.audit import verify

    root = existing_workspace(ctx, workspace)
    from reme.llm.replay import rescore

    with log_of(root) as log:
        report = verify(root, log, rescore_llm=rescore)
    for problem in report.problems:
        print(problem)
    stderr(
        f"{report.checked} decisions re-scored ({report.llm_rescored} by their language model), "
        f"{report.untrainable} untrainable, {report.rewards} rewards, "
        f"{len(report.problems)} problems"
    )
    if not report.ok:
        raise typer.Exit(1)


@trajectories_app.command("record")
@json_command
def trajectories_record(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option("--dataset", help="Conversations to replay (any supported format).")],
    conversations: Annotated[str | None, typer.Option("--conversations", help="Only these ids.")] = None,
    samples: Annotated[int, typer.Option("--samples", help="Sampled rankings per question.")] = 8,
    temperature: Annotated[float, typer.Option("--temperature", help="Of the sampling heuristic.")] = 0.2,
    k: Annotated[int, typer.Option("--k", help="Results per search; the reward is recall@k.")] = 10,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    text_format: Annotated[str, typer.Option("--text-format", help="dated or plain.")] = "dated",
    workspace: WorkspaceOpt = None,
) -> None:
    """Replay a dataset through the workspace: sampled heuristic rankings, each rewarded by its recall@k."""
    from reme.policy.rank import HeuristicRankPolicy
    from reme.train.episodes import load_episodes
    from reme.train.logs import record_rank_logs

    if samples < 1 or k < 1 or temperature <= 0:
        raise BadInputError("--samples and --k must be positive, --temperature above 0")
    episodes = load_episodes([dataset], id_list(conversations) or None)
    policy = HeuristicRankPolicy(temperature=temperature)
    counts = record_rank_logs(
        episodes, workspace_path(ctx, workspace), policy, samples=samples, k=k, text_format=text_format, seed=seed
    )
    print(", ".join(f"{v} {key}" for key, v in counts.items()))


@trajectories_app.command("prune")
@json_command
def trajectories_prune(
    ctx: typer.Context,
    days: Annotated[
        float | None, typer.Option("--days", help="Retention in days (default: trajectories.retention_days).")
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Delete whole trajectory segments last written more than DAYS ago (never the newest one); in PostgreSQL, the
    records written more than DAYS ago."""
    from reme.forget import prune_trajectories
    from reme.settings import load_settings

    root = existing_workspace(ctx, workspace)
    retention = days if days is not None else load_settings(root).trajectories.retention_days
    if retention is None:
        raise BadInputError("give --days, or set trajectories.retention_days in reme.yaml")
    with log_of(root) as log:
        if not isinstance(log, str | Path):  # the PostgreSQL log: rows, not segments
            print(f"pruned {log.prune(retention)} records")
            return
    gone = prune_trajectories(root / "trajectories", retention)
    print(f"pruned {len(gone)} segments" + (f": {', '.join(gone)}" if gone else ""))


@trajectories_app.command("stats")
@json_command
def trajectories_stats(ctx: typer.Context, workspace: WorkspaceOpt = None, json_out: JsonOpt = None) -> Reply:
    """Counts of decisions, policies, modes, rewards; mean log-probability per decision kind."""
    from reme.policy.audit import stats

    root = existing_workspace(ctx, workspace)
    with log_of(root) as log:
        payload = stats(root, log)
    return Reply(payload, lambda: print(json.dumps(payload, indent=2)))
