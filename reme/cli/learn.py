"""``reme learn``: one learning pass of every decision over the workspace's own log (``reme.train.learn``), or
``--report``: the table of past passes and a PNG of reward over time per version."""

from __future__ import annotations

from typing import Annotated

import typer

from reme.cli import Reply, json_command
from reme.cli.options import JsonOpt, WorkspaceOpt, existing_workspace
from reme.errors import BadInputError

commands: typer.Typer = typer.Typer()


def _table(rows: list[object], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("time", "kind", "outcome", "serving", "candidate", "train / held", "estimates"):
        table.add_column(column, overflow="fold")
    table.add_column("why", overflow="fold", min_width=24)
    for row in rows:
        serv, cand = getattr(row, "serving_estimate", None), getattr(row, "candidate_estimate", None)
        estimates = ""
        if serv is not None and cand is not None:
            estimates = (
                f"serving {serv.value:.4f} [{serv.low:.4f}, {serv.high:.4f}]\n"
                f"candidate {cand.value:.4f} [{cand.low:.4f}, {cand.high:.4f}] ({cand.method})"
            )
            diff = getattr(row, "difference", None)
            if diff is not None:
                estimates += f"\ncandidate - serving {diff.value:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}] (paired)"
        samples = f"{getattr(row, 'train_samples', 0)} / {getattr(row, 'holdout_samples', 0)}"
        when = str(getattr(row, "time", ""))[5:16].replace("T", " ")
        table.add_row(
            when, str(getattr(row, "kind", "")), str(getattr(row, "outcome", "")), str(getattr(row, "serving", "")),
            str(getattr(row, "candidate", "") or ""), samples, estimates, str(getattr(row, "why", "")),
        )  # fmt: skip
    Console().print(table)


@commands.command(
    "learn",
    epilog="Examples: reme learn -w ws  |  reme learn -w ws --decision rank  |  reme learn -w ws --report --plot r.png",
)
@json_command
def learn_command(
    ctx: typer.Context,
    decision: Annotated[
        list[str] | None, typer.Option("--decision", "-d", help="rank, write or compact (repeatable; default all).")
    ] = None,
    steps: Annotated[int, typer.Option("--steps", help="Optimiser steps per candidate.")] = 200,
    holdout: Annotated[float, typer.Option("--holdout", help="Most recent share of the log held back.")] = 0.3,
    min_samples: Annotated[int, typer.Option("--min-samples", help="Skip a decision with fewer usable ones.")] = 40,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    write_maturity_days: Annotated[
        float, typer.Option("--write-maturity-days", help="Leave out writes younger than this many days.")
    ] = 7.0,
    report: Annotated[bool, typer.Option("--report", help="Print the past passes instead of learning.")] = False,
    plot: Annotated[
        str | None, typer.Option("--plot", help="With --report: write reward over time per version to this PNG.")
    ] = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = None,
) -> Reply:
    """Learn every decision from the workspace's own log: join rewards to decisions, train a candidate off-policy
    from the serving version, estimate both on the most recent slice of the log (doubly robust or pseudoinverse,
    with bootstrap intervals), and promote the candidate only when its lower bound beats the serving version and no
    target's slice loses; roll back a promoted version whose live reward falls behind. Resumable: a decision whose
    log has not changed is skipped."""
    from reme.train.learn import KINDS, LearnConfig, learn, plot_rewards, read_runs

    root = existing_workspace(ctx, workspace)
    if plot and not report:
        raise BadInputError("--plot goes with --report")
    if report:
        rows = read_runs(root)
        if plot:
            plot_rewards(root, plot)

        def show() -> None:
            _table(list(rows), f"reme learn: {len(rows)} rows in {root / 'learn' / 'runs.jsonl'}")
            if plot:
                print(f"wrote {plot}")

        return Reply([r.model_dump() for r in rows], show)
    kinds = decision or list(KINDS)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise BadInputError(f"unknown decision {', '.join(unknown)}: use {', '.join(KINDS)}")
    config = LearnConfig.model_validate(
        {
            "kinds": kinds,
            "steps": steps,
            "holdout": holdout,
            "min_samples": min_samples,
            "seed": seed,
            "write_maturity_days": write_maturity_days,
        }
    )
    rows = learn(root, config)
    return Reply([r.model_dump() for r in rows], lambda: _table(list(rows), "reme learn"))
