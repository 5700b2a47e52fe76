"""The options many commands share (``--workspace``, ``--json``, ``--target``) and the workspace they resolve to."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from reme.errors import BadInputError
from reme.settings import is_store_url

DEFAULT_WORKSPACE = ".reme"

WorkspaceOpt = Annotated[
    str | None,
    typer.Option("--workspace", "-w", metavar="DIR", help="Workspace directory (default $REME_WORKSPACE or .reme)."),
]
JsonOpt = Annotated[
    str | None, typer.Option("--json", metavar="PATH", help="Write JSON to this path ('-' for stdout only).")
]
TargetOpt = Annotated[
    str | None,
    typer.Option(
        "--target",
        "-t",
        metavar="TARGET",
        help="Memory target: default, user:NAME, agent:NAME, task:NAME, tool:NAME or file:NAME.",
    ),
]


def workspace_path(ctx: typer.Context, local: str | None) -> str:
    """The command's ``--workspace`` wins over the global one, which wins over ``$REME_WORKSPACE``."""
    chosen = local or (ctx.obj or {}).get("workspace") or os.environ.get("REME_WORKSPACE") or DEFAULT_WORKSPACE
    return str(chosen)


def existing_workspace(ctx: typer.Context, workspace: str | None) -> Path:
    """The chosen workspace, which must exist already (commands that only read it never create one). A
    ``postgresql://`` URL names a PostgreSQL workspace from a machine with no folder for it (a learner on a GPU box):
    its local folder is ``reme.store.open.learner_folder``'s."""
    chosen = workspace_path(ctx, workspace)
    if is_store_url(chosen):
        from reme.store.open import learner_folder

        return learner_folder(chosen)
    root = Path(chosen)
    if not (root / "reme.db").is_file() and not _names_a_database(root):
        raise BadInputError(
            f"{root} is not a reme workspace (no reme.db): check --workspace or $REME_WORKSPACE "
            "(`reme add` creates a workspace)"
        )
    return root


def _names_a_database(root: Path) -> bool:
    """Whether the workspace's records live in PostgreSQL (its ``reme.yaml``'s ``store.url``, or
    ``$REME_STORE_URL``): such a workspace has no ``reme.db``."""
    if not root.is_dir():
        return False
    from reme.settings import load_settings
    from reme.store.open import store_url

    return store_url(load_settings(root).store) is not None


def open_memory(ctx: typer.Context, workspace: str | None, create: bool = True) -> Any:
    """The chosen workspace as a ``Memory``, progress bars on: created when missing for a command that writes
    (``create``), else it must exist (a mistyped ``-w`` on a read is an error, not a new empty workspace)."""
    from reme.memory import Memory

    root = workspace_path(ctx, workspace) if create else str(existing_workspace(ctx, workspace))
    return Memory(root, show_progress=True)
