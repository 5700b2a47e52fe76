"""``reme datasets``: generate synthetic conversations; and how every command picks the episodes of a dataset
(``--conversations`` / ``--exclude-conversations``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from reme.cli import json_command, stderr
from reme.errors import BadInputError, ReMeError

datasets_app: typer.Typer = typer.Typer(help="Generate and inspect datasets.", no_args_is_help=True)


def id_list(text: str | None) -> set[str]:
    """The ids of a comma-separated option (blank parts dropped)."""
    return {part.strip() for part in (text or "").split(",") if part.strip()}


def select_episodes(dataset: str, fmt: str, conversations: str | None, exclude: str | None) -> list[Any]:
    """Load a dataset (warnings to stderr) and keep the wanted episodes; unknown ids are an error."""
    from reme.datasets import load_dataset

    episodes, report = load_dataset(dataset, format=fmt)
    wanted = id_list(conversations)
    unwanted = id_list(exclude)
    every = {e.episode_id for e in episodes}
    missing = (wanted | unwanted) - every
    if missing:
        raise BadInputError(f"unknown conversation id(s): {', '.join(sorted(missing))}")
    episodes = [e for e in episodes if (not wanted or e.episode_id in wanted) and e.episode_id not in unwanted]
    kept = {e.episode_id for e in episodes}
    # a warning about a conversation left out is not this command's (the loader's warnings start with its id)
    warnings = [w for w in report.warnings if w.split(" ", 1)[0].rstrip(":") not in every - kept]
    for warning in warnings[:20]:
        stderr(f"warning: {warning}")
    if len(warnings) > 20:
        stderr(f"warning: ... and {len(warnings) - 20} more")
    if not episodes:
        raise BadInputError("no conversations left to evaluate")
    return episodes


@datasets_app.command("synth")
@json_command
def datasets_synth(
    out: Annotated[str, typer.Option("--out", help="Where to write the JSON.")],
    conversations: Annotated[
        int, typer.Option("--conversations", help="How many conversations (longmemeval: questions).")
    ] = 4,
    sessions: Annotated[int, typer.Option("--sessions", help="Sessions per conversation (haystack).")] = 8,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    style: Annotated[
        str,
        typer.Option(
            "--style",
            help="chat (LoCoMo-like), assistant (LongMemEval-like), agent (agent traces with tool results) or "
            "chat-zh (two friends chatting in Chinese).",
        ),
    ] = "chat",
    fmt: Annotated[
        str, typer.Option("--format", help="locomo (default) or longmemeval (official LongMemEval JSON).")
    ] = "locomo",
    workspace: Annotated[str | None, typer.Option("--workspace", "-w", hidden=True)] = None,
) -> None:
    """Write synthetic conversations with questions and evidence ids (LoCoMo format, or LongMemEval's)."""
    from reme.datasets import generate_longmemeval_synthetic, load_dataset
    from reme.datasets.synthetic import STYLES, write_synthetic

    if workspace is not None:
        raise BadInputError("datasets synth uses no workspace: it writes --out only (drop --workspace)")
    if conversations < 1 or sessions < 1:
        raise BadInputError("--conversations and --sessions must be at least 1")
    if style not in STYLES:
        raise BadInputError(f"unknown style {style!r}: use {', '.join(STYLES[:-1])} or {STYLES[-1]}")
    if fmt not in ("locomo", "longmemeval"):
        raise BadInputError(f"unknown format {fmt!r}: use locomo or longmemeval")
    try:
        if fmt == "longmemeval":
            items = generate_longmemeval_synthetic(conversations, seed=seed, haystack_sessions=sessions)
            Path(out).write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
        else:
            write_synthetic(out, n_conversations=conversations, sessions=sessions, seed=seed, style=style)
    except OSError as exc:
        raise ReMeError(f"cannot write {out}: {exc.strerror}") from None
    episodes, _ = load_dataset(out)
    turns = sum(len(e.turns) for e in episodes)
    questions = sum(len(e.questions) for e in episodes)
    print(f"wrote {out}: {len(episodes)} conversations, {turns} turns, {questions} questions")
