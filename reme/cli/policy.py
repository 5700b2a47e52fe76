"""``reme policy``: which policy version serves each decision kind of a workspace (activate behind the gate, list,
evaluate off-policy, roll back)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from reme.cli import Reply, json_command, stderr
from reme.cli.options import JsonOpt, WorkspaceOpt, existing_workspace
from reme.errors import BadInputError

policy_app: typer.Typer = typer.Typer(help="Manage which policy serves each decision kind.", no_args_is_help=True)


@policy_app.command("activate")
@json_command
def policy_activate(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Argument(
            help="A checkpoint directory, a registry version, KIND:heuristic, or KIND:default (this reme's shipped "
            "default)."
        ),
    ],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Serve a rank head even if it loses on some target's slice of the log or on some style."
        ),
    ] = False,
    style_file: Annotated[
        list[str] | None,
        typer.Option("--style-file", help="A LoCoMo or LongMemEval file to gate on too (a style named by its stem)."),
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Serve a policy: copy a checkpoint into the workspace registry and make it active for its kind. A rank head is
    first scored on each target's slice of the log against the serving policy (off-policy) and refused when it loses
    on any by more than policies.target_margin, and scored on every evaluation style (reme eval styles) and refused
    when it loses more than policies.style_margin recall@10 to the heuristic on any."""
    from reme.store.open import publish_registry
    from reme.train.gate import gated_activate

    root = existing_workspace(ctx, workspace)
    kind, version, report, styles = gated_activate(root, source, force=force, style_files=style_file or ())
    if publish_registry(root):
        stderr("published to the database's registry: every replica serves it at its next check")
    forced = (report is not None and not report.passed) or (styles is not None and not styles.passed)
    if report is not None and report.targets:
        stderr(("forced past the gate:\n" if not report.passed else "per-target gate:\n") + report.summary())
    if styles is not None:
        head = "forced past the style gate" if not styles.passed else "style gate"
        stderr(f"{head} ({styles.scale} scale, margin {styles.margin}, against the heuristic):\n{styles.summary()}")
    if forced:
        stderr("forced: the registry's history records it")
    print(f"{kind}: default ({version})" if source.endswith(":default") else f"{kind}: {version}")


@policy_app.command("list")
@json_command
def policy_list(ctx: typer.Context, workspace: WorkspaceOpt = None, json_out: JsonOpt = None) -> Reply:
    """Every policy version in the workspace registry, where it came from, and which one serves each decision kind
    (marked *): a shipped default, one activated from a directory, or the heuristic."""
    from reme.policy.registry import list_policies

    rows = list_policies(existing_workspace(ctx, workspace))
    words = {"shipped": "shipped default", "directory": "activated from", "code": "registered from code"}

    def show() -> None:
        for row in rows:
            source = words.get(row["source"], row["source"])
            if row["detail"]:
                source += f" {row['detail']}" if row["source"] == "directory" else f" ({row['detail']})"
            mark = "*" if row["active"] else " "
            print(f"{mark} {row['kind']:8} {row['version']:18} {row['policy']!s:24} {source}".rstrip())

    return Reply(rows, show)


@policy_app.command("evaluate")
@json_command
def policy_evaluate(
    ctx: typer.Context,
    candidate: Annotated[str, typer.Option("--candidate", help="A rank checkpoint directory.")],
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = None,
) -> Reply:
    """Estimate a candidate head's return on the workspace's logged sampled decisions (pseudoinverse estimator,
    95% CI, effective sample size; whole-ordering SNIS as a diagnostic)."""
    from reme.policy.registry import load_checkpoint_dir
    from reme.train.logs import logged_rank_samples
    from reme.train.ope import evaluate_offpolicy

    root = existing_workspace(ctx, workspace)
    policy = load_checkpoint_dir(candidate)
    if policy.kind != "rank":
        raise BadInputError(f"{candidate} is a {policy.kind} policy; off-policy evaluation covers rank heads")
    result = evaluate_offpolicy(logged_rank_samples(root), policy, workspace=root)
    return Reply(result, lambda: print(json.dumps(result, indent=2)))


@policy_app.command("rollback")
@json_command
def policy_rollback(
    ctx: typer.Context,
    kind: Annotated[str, typer.Option("--kind", help="rank, write or compact.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Serve again the version that was active before the latest activation of a decision kind."""
    from reme.policy.registry import rollback
    from reme.store.open import publish_registry

    root = existing_workspace(ctx, workspace)
    version = rollback(root, kind)
    if publish_registry(root):
        stderr("published to the database's registry: every replica serves it at its next check")
    print(f"{kind}: {version}")
