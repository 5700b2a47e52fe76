"""``reme eval``: measure policies on benchmark files (retrieval, write, compaction, question answering)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from reme.cli import Reply, json_command
from reme.cli.datasets import select_episodes
from reme.cli.options import JsonOpt, WorkspaceOpt
from reme.errors import BadInputError

eval_app: typer.Typer = typer.Typer(help="Measure retrieval on benchmark files.", no_args_is_help=True)

BudgetOpt = Annotated[float, typer.Option("--budget", help="Budget B: a fraction in (0, 1].")]
DatasetOpt = Annotated[str, typer.Option("--dataset", help="A LoCoMo or LongMemEval JSON file.")]
FormatOpt = Annotated[str, typer.Option("--format", help="auto, locomo or longmemeval.")]
ConversationsOpt = Annotated[
    str | None, typer.Option("--conversations", help="Only these episode ids (comma-separated).")
]
ExcludeOpt = Annotated[str | None, typer.Option("--exclude-conversations", help="Leave these episode ids out.")]
TextFormatOpt = Annotated[str, typer.Option("--text-format", help="dated (default) or plain.")]


def results_table(payload: dict[str, Any], text_format: str) -> Any:
    """The table of an evaluation payload: a row per metric and a column per policy, so that a metric's name
    (``kept_token_fraction``) is never cut at 80 columns, whatever the number of metrics."""
    from rich.table import Table

    metrics = list(next(iter(payload["results"].values())))
    title = f"{payload['format']}: {payload['queries']} queries ({text_format})"
    if "budget" in payload:
        title += f", budget {payload['budget']}"
    table = Table(title=title)
    table.add_column("metric", no_wrap=True)
    for label in payload["results"]:
        table.add_column(label, justify="right", overflow="fold")
    for metric in metrics:
        table.add_row(metric, *(f"{values[metric]:.3f}" for values in payload["results"].values()))
    return table


def _results_reply(payload: dict[str, Any], text_format: str) -> Reply:
    """An evaluation payload (``results[label][metric]``): the JSON itself, or ``results_table``."""

    def show() -> None:
        from rich.console import Console

        Console().print(results_table(payload, text_format))

    return Reply(payload, show)


def _labelled(specs: list[str], load: Any, kind: str, heuristic_label: str = "heuristic") -> dict[str, Any]:
    """``{label: policy}``: a baseline name is its own label, a directory its folder name, ``default`` (the shipped
    default of ``kind``) ``default(<version>)`` or ``default(<heuristic_label>)``."""
    from reme.policy.registry import DEFAULT, shipped_policy

    policies: dict[str, Any] = {}
    for spec in specs:
        if spec == DEFAULT:
            label, loaded = shipped_policy(kind)
            label = label.replace("(heuristic)", f"({heuristic_label})")
        else:
            label, loaded = (spec if not Path(spec).is_dir() else Path(spec).name or spec), None
        if label in policies:
            raise BadInputError(f"two policies share the label {label!r}")
        policies[label] = loaded if loaded is not None else load(spec)
    return policies


@eval_app.command("retrieval")
@json_command
def eval_retrieval(
    dataset: DatasetOpt,
    fmt: FormatOpt = "auto",
    conversations: ConversationsOpt = None,
    exclude_conversations: ExcludeOpt = None,
    text_format: TextFormatOpt = "dated",
    policy: Annotated[
        list[str] | None,
        typer.Option(
            "--policy",
            help="'heuristic' (ReMe 0.3 fusion), 'rrf' (ReMe 0.4 fusion), 'default' (this reme's shipped default) "
            "or a checkpoint directory; repeatable.",
        ),
    ] = None,
    k: Annotated[str, typer.Option("--k", help="Cut-offs for recall@k.")] = "1,5,10,20",
    json_out: JsonOpt = None,
    workspace: WorkspaceOpt = None,
) -> Reply:
    """Recall@k, NDCG@10 (and session recall for LongMemEval) of each policy on a dataset."""
    from reme.eval.metrics import parse_ks
    from reme.eval.retrieval import evaluate_retrieval
    from reme.policy.registry import load_rank_policy

    ks = parse_ks(k)
    policies: dict[str, Any] = {}
    for spec in policy or ["heuristic"]:
        label, loaded = load_rank_policy(spec)
        if label in policies:
            raise BadInputError(f"two policies share the label {label!r}")
        policies[label] = loaded
    episodes = select_episodes(dataset, fmt, conversations, exclude_conversations)
    result = evaluate_retrieval(episodes, policies, ks=ks, text_format=text_format, show_progress=True)
    return _results_reply({"dataset": str(dataset), **result}, text_format)


@eval_app.command("write")
@json_command
def eval_write(
    dataset: DatasetOpt,
    budget: BudgetOpt = 0.3,
    policy: Annotated[
        list[str] | None,
        typer.Option(
            "--policy",
            help="novelty-length, store-all, random, default (the shipped default) or a checkpoint directory; "
            "repeatable.",
        ),
    ] = None,
    candidates: Annotated[str, typer.Option("--candidates", help="turns (default) or observations.")] = "turns",
    fmt: FormatOpt = "auto",
    conversations: ConversationsOpt = None,
    exclude_conversations: ExcludeOpt = None,
    text_format: TextFormatOpt = "dated",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random baseline's draws.")] = 0,
    json_out: JsonOpt = None,
    workspace: WorkspaceOpt = None,
) -> Reply:
    """Recall@5/10 over what each write policy stored at a storage budget (see docs/evaluation.md)."""
    from reme.envs.write import (
        WRITE_BASELINES,
        WriteEnvConfig,
        evaluate_write,
        load_write_policy,
        prepare_write_episodes,
    )

    config = WriteEnvConfig(budget=budget)
    policies = _labelled(policy or list(WRITE_BASELINES), load_write_policy, "write", "store-all")
    episodes = select_episodes(dataset, fmt, conversations, exclude_conversations)
    prepared = prepare_write_episodes(episodes, candidates=candidates, text_format=text_format, show_progress=True)
    result = evaluate_write(prepared, policies, config, seed=seed, show_progress=True)
    return _results_reply({"dataset": str(dataset), "candidates": candidates, **result}, text_format)


@eval_app.command("compaction")
@json_command
def eval_compaction(
    dataset: DatasetOpt,
    budget: BudgetOpt = 0.2,
    policy: Annotated[
        list[str] | None,
        typer.Option(
            "--policy", help="heuristic, default (the shipped default) or a checkpoint directory; repeatable."
        ),
    ] = None,
    fmt: FormatOpt = "auto",
    conversations: ConversationsOpt = None,
    exclude_conversations: ExcludeOpt = None,
    text_format: TextFormatOpt = "dated",
    json_out: JsonOpt = None,
    workspace: WorkspaceOpt = None,
) -> Reply:
    """Evidence reachable after compaction at a context budget (see docs/evaluation.md)."""
    from reme.envs.compaction import (
        CompactionEnvConfig,
        evaluate_compaction,
        load_compact_policy,
        prepare_compaction_episodes,
    )

    config = CompactionEnvConfig(budget=budget, text_format=text_format)
    policies = _labelled(policy or ["heuristic"], load_compact_policy, "compact")
    episodes = select_episodes(dataset, fmt, conversations, exclude_conversations)
    prepared = prepare_compaction_episodes(episodes, text_format=text_format, show_progress=True)
    result = evaluate_compaction(prepared, policies, config, show_progress=True)
    return _results_reply({"dataset": str(dataset), **result}, text_format)


@eval_app.command("qa")
@json_command
def eval_qa(
    dataset: DatasetOpt,
    llm_base_url: Annotated[
        str | None, typer.Option("--llm-base-url", help="OpenAI-compatible endpoint of the answering model.")
    ] = None,
    llm_model: Annotated[
        str | None, typer.Option("--llm-model", help="Answering model name, hf:<dir>, or local (SmolLM2 offline).")
    ] = None,
    judge_base_url: Annotated[
        str | None, typer.Option("--judge-base-url", help="Endpoint of the judge (default: the answering one).")
    ] = None,
    judge_model: Annotated[str | None, typer.Option("--judge-model", help="Judge model name.")] = None,
    fmt: FormatOpt = "auto",
    conversations: ConversationsOpt = None,
    exclude_conversations: ExcludeOpt = None,
    text_format: TextFormatOpt = "dated",
    policy: Annotated[
        str, typer.Option("--policy", help="Rank policy: 'heuristic', 'default' (the shipped one) or a checkpoint dir.")
    ] = "heuristic",
    k: Annotated[int, typer.Option("--k", help="Memories given to the answering model.")] = 10,
    limit: Annotated[int | None, typer.Option("--limit", help="Answer at most this many questions.")] = None,
    keep_workspace: Annotated[
        str | None, typer.Option("--keep-workspace", help="Keep the workspaces (and their reward logs) here.")
    ] = None,
    json_out: JsonOpt = None,
) -> Reply:
    """Answer each question from retrieved memories and grade it with an LLM judge (LoCoMo's "J"), with token F1,
    per category. Keys come from $LLM_API_KEY (and $JUDGE_API_KEY for a separate judge)."""
    from reme.eval.qa import evaluate_qa
    from reme.llm.factory import build_llm_from_config
    from reme.policy.registry import load_rank_policy

    # hf:<dir>, local / hf:smollm2 (or neither model nor endpoint with LLM_BACKEND=local): in process; else an endpoint
    answer = build_llm_from_config({"model": llm_model}, base_url=llm_base_url)
    judge = None
    if judge_base_url or judge_model:
        key = os.environ.get("JUDGE_API_KEY")
        judge = build_llm_from_config({"model": judge_model}, base_url=judge_base_url, api_key=key)
    _, rank_policy = load_rank_policy(policy)
    episodes = select_episodes(dataset, fmt, conversations, exclude_conversations)
    result = evaluate_qa(
        episodes, answer, judge, rank_policy=rank_policy, k=k, text_format=text_format, max_questions=limit,
        keep_dir=keep_workspace, show_progress=True,
    )  # fmt: skip
    return _results_reply({"dataset": str(dataset), **result}, text_format)


@eval_app.command("styles")
@json_command
def eval_styles(
    policy: Annotated[
        list[str] | None,
        typer.Option("--policy", help="'heuristic', 'rrf' or a rank checkpoint directory; repeatable."),
    ] = None,
    baseline: Annotated[
        str, typer.Option("--baseline", help="The policy every other one is compared with.")
    ] = "heuristic",
    scale: Annotated[str, typer.Option("--scale", help="small (seconds once cached) or full.")] = "small",
    style_file: Annotated[
        list[str] | None,
        typer.Option("--style-file", help="A LoCoMo or LongMemEval file as an extra style (named by its stem)."),
    ] = None,
    margin: Annotated[
        float, typer.Option("--margin", help="A policy loses a style below the baseline's recall@10 minus this.")
    ] = 0.01,
    cache_dir: Annotated[
        str | None, typer.Option("--cache-dir", help="Where the styles' candidates are cached.")
    ] = None,
    gate: Annotated[
        bool, typer.Option("--gate", help="Exit 1 when a policy loses on some style (the report is still given).")
    ] = False,
    json_out: JsonOpt = None,
    workspace: WorkspaceOpt = None,
) -> Reply:
    """Each rank policy on every evaluation style (synthetic chat, assistant, agent traces, LongMemEval-shaped
    haystacks; held-out seeds) against the baseline: turn recall@1/5/10, NDCG@10, session recall for LongMemEval,
    the recall@10 difference and whether it loses by more than --margin (the style gate of reme policy activate)."""
    from reme.cli import emit_json, stderr
    from reme.errors import ReMeError
    from reme.eval.styles import evaluate_styles
    from reme.policy.registry import load_rank_policy

    if margin < 0:
        raise BadInputError(f"--margin must be >= 0, got {margin}")
    base_label, base_policy = load_rank_policy(baseline)
    policies: dict[str, Any] = {base_label: base_policy}
    for spec in policy or ["heuristic"]:
        label, loaded = load_rank_policy(spec)
        if label in policies and label != base_label:
            raise BadInputError(f"two policies share the label {label!r}")
        policies[label] = loaded
    result = evaluate_styles(
        policies, scale, style_file or (), cache_dir, progress=lambda name: stderr(f"style {name} ...")
    )
    losing: dict[str, list[str]] = {}
    for name, entry in result["styles"].items():
        base = entry["results"][base_label]["recall@10"]
        entry["difference"] = {
            label: round(values["recall@10"] - base, 4) for label, values in entry["results"].items()
        }
        entry["loses"] = {label: diff < -margin for label, diff in entry["difference"].items()}
        for label, loses in entry["loses"].items():
            if loses:
                losing.setdefault(label, []).append(name)
    payload = {"baseline": base_label, "margin": margin, **result, "losing": losing}

    def show() -> None:
        from rich.console import Console
        from rich.table import Table

        console = Console()
        for name, entry in payload["styles"].items():
            metrics = list(next(iter(entry["results"].values())))
            short = [m.replace("session_recall@", "sess R@").replace("recall@", "R@") for m in metrics]
            table = Table(
                "policy", *short, "ΔR@10", "verdict", title=f"{name}: {entry['queries']} queries ({entry['source']})"
            )
            for label, values in entry["results"].items():
                verdict = "baseline" if label == base_label else ("LOSES" if entry["loses"][label] else "ok")
                table.add_row(
                    label, *(f"{values[m]:.3f}" for m in metrics), f"{entry['difference'][label]:+.3f}", verdict
                )
            console.print(table)

    reply = Reply(payload, show)
    if gate and losing:
        if json_out:
            emit_json(payload, json_out)
        else:
            show()
        lines = "; ".join(f"{label} on {', '.join(names)}" for label, names in losing.items())
        raise ReMeError(f"losing more than {margin} recall@10 to {base_label}: {lines}")
    return reply
