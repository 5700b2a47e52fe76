"""``reme doctor``: what this installation runs on, and the indexes of a workspace."""

from __future__ import annotations

import typer

from reme.cli import Reply, json_command
from reme.cli.options import JsonOpt, WorkspaceOpt, workspace_path

commands: typer.Typer = typer.Typer()


@commands.command()
@json_command
def doctor(ctx: typer.Context, workspace: WorkspaceOpt = None, json_out: JsonOpt = None) -> Reply:
    """What this installation runs on: versions, devices, the embedding model, the dense backend and its reason,
    and the index of each target of a workspace when one exists."""
    from reme.doctor import diagnose

    report = diagnose(workspace_path(ctx, workspace))

    def show() -> None:
        for key, value in report.items():
            print(f"{key}: {value}")

    return Reply(report, show)
