"""The ``reme`` command line. It only parses options and calls the library.

Conventions for every command: ``--workspace DIR`` is accepted before or after the subcommand (and from
``$REME_WORKSPACE``); ``--json OUT`` writes JSON to a path, ``-`` meaning stdout (and then nothing else goes to
stdout); exit code 0 on success, 1 when the operation failed, 2 for bad usage or bad input.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from reme import __project_version__, __version__
from reme.errors import BadInputError, NotFoundError, ReMeError

app = typer.Typer(
    name="reme",
    help="Long-term memory for LLM agents, with learned memory decisions. Drop-in for ReMe 0.3.1.x and 0.4.x "
    "(reme start; reme <job> key=value).",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)
eval_app = typer.Typer(help="Measure retrieval on benchmark files.", no_args_is_help=True)
datasets_app = typer.Typer(help="Generate and inspect datasets.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks (JSON, baselines in the same run).", no_args_is_help=True)
trajectories_app = typer.Typer(help="Audit the decision log.", no_args_is_help=True)
policy_app = typer.Typer(help="Manage which policy serves each decision kind.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
app.add_typer(trajectories_app, name="trajectories")
app.add_typer(policy_app, name="policy")
app.add_typer(datasets_app, name="datasets")
app.add_typer(bench_app, name="bench")

DEFAULT_WORKSPACE = ".reme"

WorkspaceOpt = Annotated[
    str | None, typer.Option("--workspace", "-w", help="Workspace directory (default $REME_WORKSPACE or .reme).")
]
JsonOpt = Annotated[str | None, typer.Option("--json", help="Write JSON to this path ('-' for stdout only).")]
TargetOpt = Annotated[
    str | None, typer.Option("--target", "-t", help="Memory target: default, user:NAME, task:NAME or tool:NAME.")
]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


@contextmanager
def _errors() -> Iterator[None]:
    """Library exceptions become a one-line message and an exit code; never a traceback."""
    try:
        yield
    except (BadInputError, NotFoundError) as exc:
        _stderr(f"error: {exc}")
        raise typer.Exit(2) from None
    except ReMeError as exc:
        _stderr(f"error: {exc}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        _stderr("interrupted")
        raise typer.Exit(130) from None


def _workspace(ctx: typer.Context, local: str | None) -> str:
    """The command's ``--workspace`` wins over the global one, which wins over ``$REME_WORKSPACE``."""
    chosen = local or (ctx.obj or {}).get("workspace") or os.environ.get("REME_WORKSPACE") or DEFAULT_WORKSPACE
    return str(chosen)


def _emit_json(payload: Any, out: str) -> None:
    text = json.dumps(payload, indent=2, ensure_ascii=False)
    if out == "-":
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        return
    try:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise ReMeError(f"cannot write {out}: {exc.strerror}") from None
    _stderr(f"wrote {out}")


def _open_memory(ctx: typer.Context, workspace: str | None) -> Any:
    from reme.memory import Memory

    return Memory(_workspace(ctx, workspace), show_progress=True)


def _version(value: bool) -> None:
    if value:
        print(f"reme {__project_version__} (ReMe API {__version__})")
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
    workspace: WorkspaceOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what the library does (stderr).")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Long-term memory for LLM agents, with learned memory decisions."""
    ctx.obj = {"workspace": workspace}
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


# ------------------------------------------------------------------------------------------------ memory
MAX_JSONL_LINE = 8 << 20
"""Longest line of an ``add --file`` JSONL file (bytes): a memory text is at most a million characters."""
MAX_JSONL_BYTES = 1 << 30
"""Largest ``add --file`` input (bytes); bigger imports are split, or go through the library's ``add_many``."""


def _read_jsonl(path: str) -> list[dict[str, Any]]:
    """Memories of an ``add --file`` JSONL file; any bad line is an error naming its number. Read line by line with
    bounds (a device such as /dev/zero, or a line without end, is refused instead of read without limit)."""
    from reme.schema import json_problem

    try:
        fh = open(path, "rb")  # noqa: SIM115 (closed below; the errors of open are the ones to name)
    except FileNotFoundError:
        raise BadInputError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise BadInputError(f"{path} is a directory, not a JSONL file") from None
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror}") from None
    items: list[dict[str, Any]] = []
    total = 0
    with fh:
        for number in range(1, 1 << 62):
            try:
                raw = fh.readline(MAX_JSONL_LINE + 1)
            except OSError as exc:
                raise BadInputError(f"cannot read {path}: {exc.strerror}") from None
            if not raw:
                break
            total += len(raw)
            if len(raw) > MAX_JSONL_LINE:
                raise BadInputError(f"{path}:{number}: a line longer than {MAX_JSONL_LINE:,} bytes")
            if total > MAX_JSONL_BYTES:
                raise BadInputError(f"{path}: more than {MAX_JSONL_BYTES:,} bytes; split the file")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BadInputError(f"{path}:{number}: not valid UTF-8 (byte {exc.start})") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInputError(f"{path}:{number}: invalid JSON ({exc.msg})") from None
            except RecursionError:
                raise BadInputError(f"{path}:{number}: the JSON is nested too deeply") from None
            problem = json_problem(obj)
            if problem is not None:
                raise BadInputError(f"{path}:{number}: the JSON {problem}")
            if not isinstance(obj, dict) or "text" not in obj:
                raise BadInputError(f"{path}:{number}: each line must be an object with a 'text' field")
            unknown = set(obj) - {"text", "target", "time", "metadata", "when_to_use", "memory_type"}
            if unknown:
                raise BadInputError(f"{path}:{number}: unknown field(s) {sorted(unknown)}")
            items.append(obj)
    if not items:
        raise BadInputError(f"{path} holds no memories")
    return items


@app.command()
def add(
    ctx: typer.Context,
    text: Annotated[str | None, typer.Argument(help="The memory text.")] = None,
    target: TargetOpt = None,
    time: Annotated[str | None, typer.Option("--time", help="When it happened (ISO 8601).")] = None,
    file: Annotated[
        str | None, typer.Option("--file", "-f", help="JSONL: one {text, target?, time?, metadata?} per line.")
    ] = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = None,
) -> None:
    """Add a memory, or every memory of a JSONL file (validated whole before anything is written)."""
    with _errors():
        if (text is None) == (file is None):
            raise BadInputError("give either TEXT or --file")
        items: list[dict[str, Any]]
        if file is not None:
            items = []
            for obj in _read_jsonl(file):
                item = dict(obj)
                item.setdefault("target", target)
                items.append(item)
        else:
            items = [{"text": text, "target": target, "time": time}]
        from reme.memory import build_node

        for item in items:  # validate everything before the workspace is touched
            build_node(item)
        with _open_memory(ctx, workspace) as mem:
            nodes = mem.add_many(items, show_progress=file is not None)
        if json_out:
            _emit_json([n.model_dump() for n in nodes], json_out)
        elif file is not None:
            print(f"added {len(nodes)} memories ({len(items) - len(nodes)} discarded by the write policy)")
        elif nodes:
            print(nodes[0].memory_id)
        else:
            print("discarded by the write policy")


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for.")],
    limit: Annotated[int, typer.Option("--limit", "-k", help="How many results.")] = 5,
    target: TargetOpt = None,
    min_score: Annotated[float | None, typer.Option("--min-score", help="Drop results below (default 0.1).")] = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = None,
) -> None:
    """Hybrid search (FAISS + BM25, ranked by the current ranking policy) in one target."""
    with _errors():
        from reme.schema import check_text, normalize_target

        check_text(query, "query")  # bad input is refused before the workspace is opened (or created)
        normalize_target(target)
        if not 1 <= limit <= 1000:
            raise BadInputError(f"--limit must be in [1, 1000], got {limit}")
        with _open_memory(ctx, workspace) as mem:
            decision, hits = mem.search_with_decision(query, limit=limit, target=target, min_score=min_score)
        rows = [
            {
                "memory_id": h.memory.memory_id,
                "content": h.memory.content,
                "score": round(h.score, 6),
                "vector_score": h.vector_score,
                "keyword_score": h.keyword_score,
                "target": h.memory.memory_target,
                "message_time": h.memory.message_time,
                "metadata": h.memory.metadata,
            }
            for h in hits
        ]
        decision_id = decision.decision_id
        if json_out:
            _emit_json({"decision_id": decision_id, "results": rows}, json_out)
            return
        if not rows:
            print("no results")
            return
        from rich.console import Console
        from rich.table import Table

        table = Table("score", "id", "content", caption=f"decision {decision_id}")
        for row in rows:
            table.add_row(f"{row['score']:.3f}", row["memory_id"], row["content"])
        Console().print(table)


@app.command("list")
def list_memories(
    ctx: typer.Context,
    target: TargetOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many.")] = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = None,
) -> None:
    """List memories (of one target, or all)."""
    with _errors():
        with _open_memory(ctx, workspace) as mem:
            nodes = mem.list(target=target, limit=limit)
        if json_out:
            _emit_json([n.model_dump() for n in nodes], json_out)
            return
        from rich.console import Console
        from rich.table import Table

        table = Table("id", "target", "time", "content")
        for n in nodes:
            table.add_row(n.memory_id, n.memory_target, n.message_time, n.content)
        Console().print(table)
        print(f"{len(nodes)} memories")


@app.command()
def delete(
    ctx: typer.Context,
    memory_id: Annotated[str, typer.Argument(help="The id to delete.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Delete one memory by id."""
    with _errors():
        with _open_memory(ctx, workspace) as mem:
            mem.delete(memory_id)
        print(f"deleted {memory_id}")


@app.command()
def forget(
    ctx: typer.Context,
    memory_ids: Annotated[
        list[str] | None, typer.Option("--memory", help="A memory id to forget (repeatable).")
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="Forget every memory of this target.")] = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = None,
) -> None:
    """Remove memories from the records, the indexes, the embedding cache and the content fields of trajectory
    records (decisions keep their ids and log-probabilities); print how many of each went."""
    with _errors():
        from reme.forget import forget as forget_memories

        if bool(memory_ids) == (target is not None):
            raise BadInputError("give --memory ID (one or more) or --target T")
        _existing_workspace(ctx, workspace)
        with _open_memory(ctx, workspace) as mem:
            report = forget_memories(mem, memory_ids=memory_ids or (), target=target)
        if json_out:
            _emit_json(report.model_dump(), json_out)
        else:
            print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in report.model_dump().items()))


@app.command()
def sync(ctx: typer.Context, workspace: WorkspaceOpt = None) -> None:
    """Index MEMORY.md and memory/*.md of the workspace (400-token chunks, 80 overlap)."""
    with _errors():
        with _open_memory(ctx, workspace) as mem:
            stats = mem.sync_markdown()
        print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in stats.items()))


@app.command()
def feedback(
    ctx: typer.Context,
    value: Annotated[float, typer.Option("--value", help="The reward (a finite number).")],
    decision: Annotated[str | None, typer.Option("--decision", help="A decision id (e.g. from search --json).")] = None,
    memory: Annotated[
        str | None, typer.Option("--memory", help="A memory id (credited to the write that stored it).")
    ] = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = None,
) -> None:
    """Record a reward for a decision or a memory; trainers join it to the decisions that caused it."""
    with _errors():
        import math

        if (decision is None) == (memory is None):
            raise BadInputError("give exactly one of --decision, --memory")
        if not math.isfinite(value):
            raise BadInputError(f"--value must be a finite number, got {value}")
        with _open_memory(ctx, workspace) as mem:
            event = mem.feedback(value, decision_id=decision, memory_id=memory)
        if json_out:
            _emit_json(event.model_dump(), json_out)
        else:
            print(event.reward_id)


@app.command("import")
def import_data(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="A ReMeLight working directory, or a vector-store dump (JSON / JSONL).")],
    source: Annotated[str, typer.Option("--from", help="What the data comes from: reme (ReMe 0.3.x).")] = "reme",
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = None,
) -> None:
    """Move ReMe 0.3.x data into a workspace: memory files, dialogs and tool results of a ReMeLight working
    directory, or the memories of a vector-store dump. Everything is validated before anything is written."""
    with _errors():
        if source != "reme":
            raise BadInputError(f"--from {source!r}: only 'reme' (ReMe 0.3.x) is supported")
        from reme.importers import import_reme

        root = _workspace(ctx, workspace)
        counts = import_reme(path, root)
        if json_out:
            _emit_json(counts, json_out)
        else:
            print(", ".join(f"{k}: {v}" for k, v in counts.items()))


# ------------------------------------------------------------------------------------------ trajectories
@trajectories_app.command("verify")
def trajectories_verify(ctx: typer.Context, workspace: WorkspaceOpt = None) -> None:
    """Re-score every recorded decision under its recorded policy version; exit 1 on any mismatch."""
    with _errors():
        from reme.policy.audit import verify

        root = _existing_workspace(ctx, workspace)
        report = verify(root)
        for problem in report.problems:
            print(problem)
        _stderr(
            f"{report.checked} decisions re-scored, {report.untrainable} untrainable, {report.rewards} rewards, "
            f"{len(report.problems)} problems"
        )
        if not report.ok:
            raise typer.Exit(1)


@trajectories_app.command("record")
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
    with _errors():
        from reme.policy.rank import HeuristicRankPolicy
        from reme.train.logs import record_rank_logs
        from reme.train.run import load_episodes

        if samples < 1 or k < 1 or temperature <= 0:
            raise BadInputError("--samples and --k must be positive, --temperature above 0")
        episodes = load_episodes([dataset], _id_list(conversations) or None)
        policy = HeuristicRankPolicy(temperature=temperature)
        counts = record_rank_logs(
            episodes, _workspace(ctx, workspace), policy, samples=samples, k=k, text_format=text_format, seed=seed
        )
        print(", ".join(f"{v} {key}" for key, v in counts.items()))


@trajectories_app.command("prune")
def trajectories_prune(
    ctx: typer.Context,
    days: Annotated[
        float | None, typer.Option("--days", help="Retention in days (default: trajectories.retention_days).")
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Delete whole trajectory segments last written more than DAYS ago (never the newest one)."""
    with _errors():
        from reme.forget import prune_trajectories
        from reme.settings import load_settings

        root = _existing_workspace(ctx, workspace)
        retention = days if days is not None else load_settings(root).trajectories.retention_days
        if retention is None:
            raise BadInputError("give --days, or set trajectories.retention_days in reme.yaml")
        gone = prune_trajectories(root / "trajectories", retention)
        print(f"pruned {len(gone)} segments" + (f": {', '.join(gone)}" if gone else ""))


@trajectories_app.command("stats")
def trajectories_stats(ctx: typer.Context, workspace: WorkspaceOpt = None, json_out: JsonOpt = None) -> None:
    """Counts of decisions, policies, modes, rewards; mean log-probability per decision kind."""
    with _errors():
        from reme.policy.audit import stats

        payload = stats(_existing_workspace(ctx, workspace))
        if json_out:
            _emit_json(payload, json_out)
        else:
            print(json.dumps(payload, indent=2))


def _existing_workspace(ctx: typer.Context, workspace: str | None) -> Path:
    root = Path(_workspace(ctx, workspace))
    if not (root / "reme.db").is_file():
        raise BadInputError(f"{root} is not a reme workspace (no reme.db)")
    return root


# ------------------------------------------------------------------------------------------------ policy
@policy_app.command("activate")
def policy_activate(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="A checkpoint directory, a registry version, or KIND:heuristic.")],
    force: Annotated[
        bool, typer.Option("--force", help="Serve a rank head even if it loses on some target's slice of the log.")
    ] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Serve a policy: copy a checkpoint into the workspace registry and make it active for its kind. A rank head is
    first scored on each target's slice of the log against the serving policy (off-policy) and refused when it loses
    on any by more than policies.target_margin."""
    with _errors():
        from reme.train.gate import gated_activate

        kind, version, report = gated_activate(_existing_workspace(ctx, workspace), source, force=force)
        if report is not None and report.targets:
            _stderr(("forced past the gate:\n" if not report.passed else "per-target gate:\n") + report.summary())
        print(f"{kind}: {version}")


@policy_app.command("list")
def policy_list(ctx: typer.Context, workspace: WorkspaceOpt = None, json_out: JsonOpt = None) -> None:
    """Every policy version in the workspace registry, and which one serves each decision kind."""
    with _errors():
        from reme.policy.registry import list_policies

        rows = list_policies(_existing_workspace(ctx, workspace))
        if json_out:
            _emit_json(rows, json_out)
            return
        for row in rows:
            print(f"{'*' if row['active'] else ' '} {row['kind']:8} {row['version']:18} {row['policy']}")


@policy_app.command("evaluate")
def policy_evaluate(
    ctx: typer.Context,
    candidate: Annotated[str, typer.Option("--candidate", help="A rank checkpoint directory.")],
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = None,
) -> None:
    """Estimate a candidate head's return on the workspace's logged sampled decisions (pseudoinverse estimator,
    95% CI, effective sample size; whole-ordering SNIS as a diagnostic)."""
    with _errors():
        from reme.policy.registry import load_checkpoint_dir
        from reme.train.logs import logged_rank_samples
        from reme.train.ope import evaluate_offpolicy

        root = _existing_workspace(ctx, workspace)
        policy = load_checkpoint_dir(candidate)
        if policy.kind != "rank":
            raise BadInputError(f"{candidate} is a {policy.kind} policy; off-policy evaluation covers rank heads")
        result = evaluate_offpolicy(logged_rank_samples(root), policy, workspace=root)
        if json_out:
            _emit_json(result, json_out)
        else:
            print(json.dumps(result, indent=2))


@policy_app.command("rollback")
def policy_rollback(
    ctx: typer.Context,
    kind: Annotated[str, typer.Option("--kind", help="rank, write or compact.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Serve again the version that was active before the latest activation of a decision kind."""
    with _errors():
        from reme.policy.registry import rollback

        version = rollback(_existing_workspace(ctx, workspace), kind)
        print(f"{kind}: {version}")


# ------------------------------------------------------------------------------------------------- eval
@eval_app.command("retrieval")
def eval_retrieval(
    dataset: Annotated[str, typer.Option("--dataset", help="A LoCoMo or LongMemEval JSON file.")],
    fmt: Annotated[str, typer.Option("--format", help="auto, locomo or longmemeval.")] = "auto",
    conversations: Annotated[
        str | None, typer.Option("--conversations", help="Only these episode ids (comma-separated).")
    ] = None,
    exclude_conversations: Annotated[
        str | None, typer.Option("--exclude-conversations", help="Leave these episode ids out.")
    ] = None,
    text_format: Annotated[str, typer.Option("--text-format", help="dated (default) or plain.")] = "dated",
    policy: Annotated[
        list[str] | None,
        typer.Option(
            "--policy",
            help="'heuristic' (ReMe 0.3 fusion), 'rrf' (ReMe 0.4 fusion) or a checkpoint directory; repeatable.",
        ),
    ] = None,
    k: Annotated[str, typer.Option("--k", help="Cut-offs for recall@k.")] = "1,5,10,20",
    json_out: JsonOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Recall@k, NDCG@10 (and session recall for LongMemEval) of each policy on a dataset."""
    with _errors():
        from reme.eval import evaluate_retrieval, parse_ks
        from reme.policy.registry import load_rank_policy

        ks = parse_ks(k)
        policies: dict[str, Any] = {}
        for spec in policy or ["heuristic"]:
            label, loaded = load_rank_policy(spec)
            if label in policies:
                raise BadInputError(f"two policies share the label {label!r}")
            policies[label] = loaded
        episodes = _select_episodes(dataset, fmt, conversations, exclude_conversations)
        result = evaluate_retrieval(episodes, policies, ks=ks, text_format=text_format, show_progress=True)
        _show_results({"dataset": str(dataset), **result}, json_out, text_format)


def _select_episodes(dataset: str, fmt: str, conversations: str | None, exclude: str | None) -> list[Any]:
    """Load a dataset (warnings to stderr) and keep the wanted episodes; unknown ids are an error."""
    from reme.datasets import load_dataset

    episodes, report = load_dataset(dataset, format=fmt)
    for warning in report.warnings[:20]:
        _stderr(f"warning: {warning}")
    if len(report.warnings) > 20:
        _stderr(f"warning: ... and {len(report.warnings) - 20} more")
    wanted = _id_list(conversations)
    unwanted = _id_list(exclude)
    missing = (wanted | unwanted) - {e.episode_id for e in episodes}
    if missing:
        raise BadInputError(f"unknown conversation id(s): {', '.join(sorted(missing))}")
    episodes = [e for e in episodes if (not wanted or e.episode_id in wanted) and e.episode_id not in unwanted]
    if not episodes:
        raise BadInputError("no conversations left to evaluate")
    return episodes


def _show_results(payload: dict[str, Any], json_out: str | None, text_format: str) -> None:
    """An evaluation payload (``results[label][metric]``) as JSON or a table."""
    if json_out:
        _emit_json(payload, json_out)
        return
    from rich.console import Console
    from rich.table import Table

    metrics = list(next(iter(payload["results"].values())))
    title = f"{payload['format']}: {payload['queries']} queries ({text_format})"
    if "budget" in payload:
        title += f", budget {payload['budget']}"
    table = Table("policy", *metrics, title=title)
    for label, values in payload["results"].items():
        table.add_row(label, *(f"{values[m]:.3f}" for m in metrics))
    Console().print(table)


def _labelled(specs: list[str], load: Any) -> dict[str, Any]:
    """``{label: policy}``: a baseline name is its own label, a directory its folder name."""
    policies: dict[str, Any] = {}
    for spec in specs:
        label = spec if not Path(spec).is_dir() else Path(spec).name or spec
        if label in policies:
            raise BadInputError(f"two policies share the label {label!r}")
        policies[label] = load(spec)
    return policies


BudgetOpt = Annotated[float, typer.Option("--budget", help="Budget B: a fraction in (0, 1].")]
DatasetOpt = Annotated[str, typer.Option("--dataset", help="A LoCoMo or LongMemEval JSON file.")]
FormatOpt = Annotated[str, typer.Option("--format", help="auto, locomo or longmemeval.")]
ConversationsOpt = Annotated[
    str | None, typer.Option("--conversations", help="Only these episode ids (comma-separated).")
]
ExcludeOpt = Annotated[str | None, typer.Option("--exclude-conversations", help="Leave these episode ids out.")]
TextFormatOpt = Annotated[str, typer.Option("--text-format", help="dated (default) or plain.")]


@eval_app.command("write")
def eval_write(
    dataset: DatasetOpt,
    budget: BudgetOpt = 0.3,
    policy: Annotated[
        list[str] | None,
        typer.Option("--policy", help="heuristic, store-all, random or a checkpoint directory; repeatable."),
    ] = None,
    candidates: Annotated[str, typer.Option("--candidates", help="turns (default) or observations.")] = "turns",
    fmt: FormatOpt = "auto",
    conversations: ConversationsOpt = None,
    exclude_conversations: ExcludeOpt = None,
    text_format: TextFormatOpt = "dated",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random baseline's draws.")] = 0,
    json_out: JsonOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Recall@5/10 over what each write policy stored at a storage budget (see docs/evaluation.md)."""
    with _errors():
        from reme.envs.write import (
            WRITE_BASELINES,
            WriteEnvConfig,
            evaluate_write,
            load_write_policy,
            prepare_write_episodes,
        )

        config = WriteEnvConfig(budget=budget)
        policies = _labelled(policy or list(WRITE_BASELINES), load_write_policy)
        episodes = _select_episodes(dataset, fmt, conversations, exclude_conversations)
        prepared = prepare_write_episodes(episodes, candidates=candidates, text_format=text_format, show_progress=True)
        result = evaluate_write(prepared, policies, config, seed=seed, show_progress=True)
        _show_results({"dataset": str(dataset), "candidates": candidates, **result}, json_out, text_format)


@eval_app.command("compaction")
def eval_compaction(
    dataset: DatasetOpt,
    budget: BudgetOpt = 0.2,
    policy: Annotated[
        list[str] | None, typer.Option("--policy", help="heuristic or a checkpoint directory; repeatable.")
    ] = None,
    fmt: FormatOpt = "auto",
    conversations: ConversationsOpt = None,
    exclude_conversations: ExcludeOpt = None,
    text_format: TextFormatOpt = "dated",
    json_out: JsonOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Evidence reachable after compaction at a context budget (see docs/evaluation.md)."""
    with _errors():
        from reme.envs.compaction import (
            CompactionEnvConfig,
            evaluate_compaction,
            load_compact_policy,
            prepare_compaction_episodes,
        )

        config = CompactionEnvConfig(budget=budget, text_format=text_format)
        policies = _labelled(policy or ["heuristic"], load_compact_policy)
        episodes = _select_episodes(dataset, fmt, conversations, exclude_conversations)
        prepared = prepare_compaction_episodes(episodes, text_format=text_format, show_progress=True)
        result = evaluate_compaction(prepared, policies, config, show_progress=True)
        _show_results({"dataset": str(dataset), **result}, json_out, text_format)


def _id_list(text: str | None) -> set[str]:
    return {part.strip() for part in (text or "").split(",") if part.strip()}


# ------------------------------------------------------------------------------------------------ train
@eval_app.command("qa")
def eval_qa(
    dataset: Annotated[str, typer.Option("--dataset", help="A LoCoMo or LongMemEval JSON file.")],
    llm_base_url: Annotated[
        str | None, typer.Option("--llm-base-url", help="OpenAI-compatible endpoint of the answering model.")
    ] = None,
    llm_model: Annotated[str | None, typer.Option("--llm-model", help="Answering model name (or hf:<dir>).")] = None,
    judge_base_url: Annotated[
        str | None, typer.Option("--judge-base-url", help="Endpoint of the judge (default: the answering one).")
    ] = None,
    judge_model: Annotated[str | None, typer.Option("--judge-model", help="Judge model name.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="auto, locomo or longmemeval.")] = "auto",
    conversations: Annotated[
        str | None, typer.Option("--conversations", help="Only these episode ids (comma-separated).")
    ] = None,
    exclude_conversations: Annotated[
        str | None, typer.Option("--exclude-conversations", help="Leave these episode ids out.")
    ] = None,
    text_format: Annotated[str, typer.Option("--text-format", help="dated (default) or plain.")] = "dated",
    policy: Annotated[
        str, typer.Option("--policy", help="Rank policy: 'heuristic' or a checkpoint dir.")
    ] = "heuristic",
    k: Annotated[int, typer.Option("--k", help="Memories given to the answering model.")] = 10,
    limit: Annotated[int | None, typer.Option("--limit", help="Answer at most this many questions.")] = None,
    keep_workspace: Annotated[
        str | None, typer.Option("--keep-workspace", help="Keep the workspaces (and their reward logs) here.")
    ] = None,
    json_out: JsonOpt = None,
) -> None:
    """Answer each question from retrieved memories and grade it with an LLM judge (LoCoMo's "J"), with token F1,
    per category. Keys come from $LLM_API_KEY (and $JUDGE_API_KEY for a separate judge)."""
    with _errors():
        from reme.eval_qa import evaluate_qa
        from reme.llm import LLMConfig, build_llm
        from reme.policy.registry import load_rank_policy

        if llm_model and llm_model.startswith("hf:"):
            answer = build_llm(llm_model)
        else:
            answer = build_llm(LLMConfig.from_env(base_url=llm_base_url, model=llm_model))
        judge = None
        if judge_base_url or judge_model:
            if judge_model and judge_model.startswith("hf:"):
                judge = build_llm(judge_model)
            else:
                key = os.environ.get("JUDGE_API_KEY")
                judge = build_llm(LLMConfig.from_env(base_url=judge_base_url, model=judge_model, api_key=key))
        _, rank_policy = load_rank_policy(policy)
        episodes = _select_episodes(dataset, fmt, conversations, exclude_conversations)
        result = evaluate_qa(
            episodes, answer, judge, rank_policy=rank_policy, k=k, text_format=text_format, max_questions=limit,
            keep_dir=keep_workspace, show_progress=True,
        )  # fmt: skip
        payload = {"dataset": str(dataset), **result}
        if json_out:
            _emit_json(payload, json_out)
        else:
            _show_results(payload, None, text_format)


@app.command("train-policy")
def train_policy(
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
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    text_format: Annotated[str, typer.Option("--text-format", help="dated (default) or plain.")] = "dated",
    from_trajectories: Annotated[
        str | None, typer.Option("--from-trajectories", help="Train with PPO from a workspace's logged decisions.")
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
        str | None, typer.Option("--model", help="--backend areal: the writer model AReaL trains.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="--backend areal: write the experiment, do not launch it.")
    ] = False,
    json_out: JsonOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Train a policy with GRPO on conversations (rank: also supervised, or PPO from logged decisions); the
    held-out conversations pick the checkpoint and are reported. With --backend areal, write (and launch) an AReaL
    experiment that trains the LLM memory writer."""
    if backend == "areal":
        with _errors():
            _train_areal(decision, dataset, conversations, exclude_conversations, out, model, dry_run, json_out)
        return
    with _errors():
        if backend != "local":
            raise BadInputError(f"--backend {backend!r}: use local or areal")
        from reme.train.data import split_episodes
        from reme.train.run import load_episodes, train_rank_policy

        if decision not in ("rank", "write", "compact"):
            raise BadInputError(f"--decision {decision!r}: use rank, write or compact")
        if decision != "rank" and (from_trajectories is not None or algo != "grpo"):
            raise BadInputError(f"--decision {decision} trains with GRPO in its environment only (--algo grpo)")
        if decision == "rank" and budget is not None:
            raise BadInputError("--budget is for --decision write or compact")
        if from_trajectories is not None and algo == "grpo":
            algo = "ppo"  # logged decisions are trained on with decoupled PPO
        if follow:
            if from_trajectories is None or out is None:
                raise BadInputError("--follow needs --from-trajectories and --out")
            from reme.train.follow import follow as follow_log
            from reme.train.logs import trajectory_dir
            from reme.train.ppo import PPOConfig
            from reme.train.run import resolve_device

            trajectory_dir(from_trajectories)  # a clear error now rather than a silent wait
            config = PPOConfig(steps=steps or 200, seed=seed, device=resolve_device(device))
            _stderr(f"following {from_trajectories}; publishing to {out} (Ctrl-C stops)")
            try:
                follow_log(
                    from_trajectories, out, config, poll_seconds=poll_seconds, max_rounds=max_rounds,
                    on_round=lambda e: print(f"round {e['round']}: version {e['version']} ({e['samples']} samples)"),
                )  # fmt: skip
            except KeyboardInterrupt:
                _stderr("stopped")
            return
        if not dataset and from_trajectories is None:
            raise BadInputError("give at least one --dataset (or --from-trajectories)")
        if out is None:
            raise BadInputError("give --out DIR for the checkpoint")
        if text_format not in ("dated", "plain"):
            raise BadInputError(f"unknown text format {text_format!r}: use 'dated' or 'plain'")
        if steps is not None and steps < 1:
            raise BadInputError("--steps must be at least 1")
        episodes = (
            load_episodes(dataset, _id_list(conversations) or None, _id_list(exclude_conversations) or None)
            if dataset
            else []
        )
        train, held_out = split_episodes(episodes, val_fraction, seed) if episodes else ([], [])
        val = list(held_out)
        if val_dataset:
            val += load_episodes(
                val_dataset, _id_list(val_conversations) or None, _id_list(exclude_val_conversations) or None
            )
        elif val_conversations or exclude_val_conversations:
            raise BadInputError("--val-conversations and --exclude-val-conversations need --val-dataset")
        overlap = {e.episode_id for e in train} & {e.episode_id for e in val}
        if overlap:
            raise BadInputError(f"conversations both trained on and validated on: {', '.join(sorted(overlap))}")
        if decision != "rank":
            _train_env_policy(decision, train, val, out, budget, steps, group_size, seed, text_format, candidates)
            return
        metrics = train_rank_policy(
            train, val, out, algo=algo, steps=steps, group_size=group_size, device=device, seed=seed,
            text_format=text_format, from_trajectories=from_trajectories, reward=reward, k=k,
        )  # fmt: skip
        summary = {"out": out, "version": metrics["version"], "seconds": metrics["seconds"], "final": metrics["final"]}
        if json_out:
            _emit_json(summary, json_out)
            return
        from rich.console import Console
        from rich.table import Table

        print(f"wrote {out} (version {metrics['version']}, {metrics['seconds']} s on {metrics['device']})")
        if metrics["final"]:
            keys = list(next(iter(metrics["final"].values())))
            table = Table("policy", *keys, title=f"held out: {', '.join(metrics['val_conversations'])}")
            for label, values in metrics["final"].items():
                table.add_row(label, *(f"{values[k]:.3f}" for k in keys))
            Console().print(table)


def _train_env_policy(
    decision: str,
    train: list[Any],
    val: list[Any],
    out: str,
    budget: float | None,
    steps: int | None,
    group_size: int,
    seed: int,
    text_format: str,
    candidates: str,
) -> None:
    """``train-policy --decision write|compact``: GRPO in the decision's environment, a held-out table."""
    from rich.console import Console
    from rich.table import Table

    group = group_size if group_size != 32 else 8  # 32 is the rank default; environments fork 8 rollouts
    if decision == "write":
        from reme.envs.write import WriteEnvConfig, evaluate_write, load_write_policy, prepare_write_episodes
        from reme.train.write_grpo import WriteGRPOConfig, train_write_policy

        write_config = WriteGRPOConfig(budget=0.3 if budget is None else budget, seed=seed, group_size=group)
        if steps is not None:
            write_config.steps = steps

        def prepare(episodes: list[Any]) -> list[Any]:
            return prepare_write_episodes(episodes, candidates=candidates, text_format=text_format, show_progress=True)

        val_write = prepare(val) if val else []
        metrics = train_write_policy(prepare(train), val_write, out, write_config, show_progress=True)
        final = {}
        if val:
            labels = {"learned": load_write_policy(out), **{b: load_write_policy(b) for b in ("heuristic", "random")}}
            final = evaluate_write(val_write, labels, WriteEnvConfig(budget=write_config.budget))["results"]
    else:
        from reme.envs.compaction import (
            CompactionEnvConfig,
            evaluate_compaction,
            load_compact_policy,
            prepare_compaction_episodes,
        )
        from reme.train.compact_grpo import CompactGRPOConfig, train_compact_policy

        compact_config = CompactGRPOConfig(
            budget=0.2 if budget is None else budget, seed=seed, group_size=group, text_format=text_format
        )
        if steps is not None:
            compact_config.steps = steps
        train_eps = prepare_compaction_episodes(train, text_format=text_format, show_progress=True)
        val_eps = prepare_compaction_episodes(val, text_format=text_format, show_progress=True) if val else []
        metrics = train_compact_policy(train_eps, val_eps, out, compact_config, show_progress=True)
        final = {}
        if val:
            labels = {"learned": load_compact_policy(out), "heuristic": load_compact_policy("heuristic")}
            env_config = CompactionEnvConfig(budget=compact_config.budget, text_format=text_format)
            final = evaluate_compaction(val_eps, labels, env_config)["results"]
    print(f"wrote {out} (version {metrics.get('version', '?')}, {metrics.get('seconds', '?')} s)")
    if final:
        keys = list(next(iter(final.values())))
        from reme.train.run import describe_ids

        ids = describe_ids(sorted(e.episode_id for e in val))
        table = Table("policy", *keys, title=f"validation (not trained on; picked the checkpoint): {ids}")
        for label, values in final.items():
            table.add_row(label, *(f"{values[k]:.3f}" for k in keys))
        Console().print(table)
        print("report held-out results with `reme eval write|compaction` on conversations used for neither")


# --------------------------------------------------------------------------------------------- datasets
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
    """``train-policy --backend areal``: write the AReaL experiment for the LLM writer, launch it unless dry-run."""
    from reme.integrations.areal.launch import AReaLExperiment, launch, write_experiment

    if decision != "write":
        raise BadInputError("--backend areal trains the LLM memory writer: use --decision write")
    if not dataset or not out:
        raise BadInputError("--backend areal needs --dataset and --out")
    episodes = []
    for path in dataset:
        episodes.extend(_select_episodes(path, "auto", conversations, exclude))
    experiment = AReaLExperiment(model=model) if model else AReaLExperiment()
    paths = write_experiment(episodes, out, experiment)
    if json_out:
        _emit_json({"dry_run": dry_run, "episodes": len(episodes), **paths}, json_out)
    else:
        for name, path in paths.items():
            print(f"{name}: {path}")
    if not dry_run:
        code = launch(out)
        if code != 0:
            raise ReMeError(f"the AReaL run exited with status {code}")


@bench_app.command("search")
def bench_search_cmd(
    n: Annotated[int, typer.Option("--n", help="Memories in the workspace.")] = 10_000,
    dim: Annotated[int, typer.Option("--dim", help="Vector dimension.")] = 384,
    batch: Annotated[int, typer.Option("--batch", help="Queries per timed batch.")] = 1,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or auto.")] = "cpu",
    queries: Annotated[int, typer.Option("--queries", help="Timed batches per path.")] = 200,
    real_embeddings: Annotated[
        bool, typer.Option("--real-embeddings", help="Encode the texts instead of random unit vectors.")
    ] = False,
    head: Annotated[str | None, typer.Option("--head", help="A rank-head checkpoint for the learned path.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    json_out: JsonOpt = None,
) -> None:
    """Search latency over N memories: FAISS alone, the heuristic and learned search paths, and a bare
    matmul + torch.topk over the same vectors; p50 / p95 / queries per second (see reme/bench.py)."""
    with _errors():
        from reme.bench import bench_search

        result = bench_search(
            n, dim=dim, batch=batch, device=device, queries=queries, real_embeddings=real_embeddings, head=head,
            seed=seed, show_progress=True,
        )  # fmt: skip
        _emit_json(result, json_out or "-")


LLMBaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--llm-base-url",
        help="OpenAI-compatible endpoint that summarises for compaction and summary_task_memory "
        "(default $LLM_BASE_URL; the key is read from $LLM_API_KEY only). 'hf:<dir>' runs a local model.",
    ),
]
LLMModelOpt = Annotated[str | None, typer.Option("--llm-model", help="Model name (default $LLM_MODEL).")]
DumpDirOpt = Annotated[
    str | None,
    typer.Option("--dump-dir", help="The only directory load_memory and dump_memory use (default WS/dumps)."),
]


RequestTimeoutOpt = Annotated[
    float, typer.Option("--request-timeout", help="Seconds a client has to send a whole request (HTTP).")
]
MaxConnectionsOpt = Annotated[int, typer.Option("--max-connections", help="Open connections served at once (HTTP).")]
MaxPerClientOpt = Annotated[
    int,
    typer.Option(
        "--max-connections-per-client", help="Open connections from one address (HTTP; raise behind a proxy)."
    ),
]


def _check_limits(request_timeout: float, max_connections: int, max_per_client: int, rate_limit: float = 0.0) -> None:
    if rate_limit < 0 or request_timeout <= 0 or max_connections < 1 or max_per_client < 1:
        raise BadInputError(
            "--rate-limit must be >= 0, --request-timeout > 0, --max-connections and --max-connections-per-client >= 1"
        )


def _service_llm(base_url: str | None, model: str | None) -> Any:
    """The servers' LLM client: ``hf:<dir>``, an endpoint (option or ``$LLM_BASE_URL``), or ``None``."""
    from reme.llm import LLMConfig, build_llm

    if base_url and base_url.startswith("hf:"):
        return build_llm(base_url)
    if base_url or os.environ.get("LLM_BASE_URL", "").strip():
        return build_llm(LLMConfig.from_env(base_url=base_url, model=model))
    return None


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback unless a token file is given).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", help="Port.")] = 8002,
    token_file: Annotated[
        str | None, typer.Option("--token-file", help="YAML: each bearer token -> the targets it may use.")
    ] = None,
    llm_base_url: LLMBaseUrlOpt = None,
    llm_model: LLMModelOpt = None,
    dump_dir: DumpDirOpt = None,
    rate_limit: Annotated[
        float,
        typer.Option("--rate-limit", help="Requests a second per token (0: unlimited; none without --token-file)."),
    ] = 20.0,
    request_timeout: RequestTimeoutOpt = 30.0,
    max_connections: MaxConnectionsOpt = 512,
    max_per_client: MaxPerClientOpt = 64,
    workspace: WorkspaceOpt = None,
) -> None:
    """Serve the workspace over HTTP (FastAPI; OpenAPI schema at /docs). Without --token-file it binds only to a
    loopback address."""
    with _errors():
        import ipaddress

        from reme.service import create_app, load_tokens
        from reme.service.server import run_server

        _check_limits(request_timeout, max_connections, max_per_client, rate_limit)

        tokens = load_tokens(token_file) if token_file else None
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if tokens is None and not loopback:
            raise BadInputError(f"refusing to serve on {host} without --token-file: only loopback runs without auth")
        llm = _service_llm(llm_base_url, llm_model)
        app_ = create_app(_workspace(ctx, workspace), tokens, llm=llm, dump_dir=dump_dir, rate_limit=rate_limit)
        run_server(
            app_,
            host,
            port,
            request_timeout=request_timeout,
            max_connections=max_connections,
            max_per_client=max_per_client,
        )


@app.command("mcp")
def mcp_cmd(
    ctx: typer.Context,
    transport: Annotated[
        str,
        typer.Option(
            "--transport",
            help="stdio (spawned by the client), http (streamable HTTP at /mcp) or sse (ReMe 0.3.x's, at /sse).",
        ),
    ] = "stdio",
    host: Annotated[
        str, typer.Option("--host", help="Address to bind with --transport http or sse (loopback only).")
    ] = ("127.0.0.1"),
    port: Annotated[int, typer.Option("--port", help="Port for --transport http or sse.")] = 8001,
    llm_base_url: LLMBaseUrlOpt = None,
    llm_model: LLMModelOpt = None,
    dump_dir: DumpDirOpt = None,
    request_timeout: RequestTimeoutOpt = 30.0,
    max_connections: MaxConnectionsOpt = 512,
    max_per_client: MaxPerClientOpt = 64,
    workspace: WorkspaceOpt = None,
) -> None:
    """Serve the workspace as MCP tools (add, search, get, list, update, delete, feedback, export trajectories)
    with the MCP Python SDK. Over http there is no auth, so it binds only to a loopback address (see docs/mcp.md)."""
    with _errors():
        _check_limits(request_timeout, max_connections, max_per_client)
        try:
            from reme.service.mcp_server import run_mcp
        except ModuleNotFoundError as exc:
            raise ReMeError(
                f"`reme mcp` needs the MCP SDK ({exc.name} is not installed): pip install 'reme-rl[service]'"
            ) from None
        run_mcp(
            _workspace(ctx, workspace),
            transport,
            host,
            port,
            llm=_service_llm(llm_base_url, llm_model),
            dump_dir=dump_dir,
            request_timeout=request_timeout,
            max_connections=max_connections,
            max_per_client=max_per_client,
        )


@app.command()
def doctor(ctx: typer.Context, workspace: WorkspaceOpt = None, json_out: JsonOpt = None) -> None:
    """What this installation runs on: versions, devices, the embedding model, the dense backend and its reason,
    and the index of each target of a workspace when one exists."""
    with _errors():
        from reme.doctor import diagnose

        report = diagnose(_workspace(ctx, workspace))
        if json_out:
            _emit_json(report, json_out)
        else:
            for key, value in report.items():
                print(f"{key}: {value}")


@datasets_app.command("synth")
def datasets_synth(
    out: Annotated[str, typer.Option("--out", help="Where to write the JSON.")],
    conversations: Annotated[
        int, typer.Option("--conversations", help="How many conversations (longmemeval: questions).")
    ] = 4,
    sessions: Annotated[int, typer.Option("--sessions", help="Sessions per conversation (haystack).")] = 8,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    style: Annotated[str, typer.Option("--style", help="chat (LoCoMo-like) or assistant (LongMemEval-like).")] = "chat",
    fmt: Annotated[
        str, typer.Option("--format", help="locomo (default) or longmemeval (official LongMemEval JSON).")
    ] = "locomo",
    workspace: WorkspaceOpt = None,
) -> None:
    """Write synthetic conversations with questions and evidence ids (LoCoMo format, or LongMemEval's)."""
    with _errors():
        import json as json_module

        from reme.datasets import generate_longmemeval_synthetic, load_dataset
        from reme.datasets.synthetic import write_synthetic

        if conversations < 1 or sessions < 1:
            raise BadInputError("--conversations and --sessions must be at least 1")
        if style not in ("chat", "assistant"):
            raise BadInputError(f"unknown style {style!r}: use chat or assistant")
        if fmt not in ("locomo", "longmemeval"):
            raise BadInputError(f"unknown format {fmt!r}: use locomo or longmemeval")
        try:
            if fmt == "longmemeval":
                items = generate_longmemeval_synthetic(conversations, seed=seed, haystack_sessions=sessions)
                Path(out).write_text(json_module.dumps(items, ensure_ascii=False), encoding="utf-8")
            else:
                write_synthetic(out, n_conversations=conversations, sessions=sessions, seed=seed, style=style)
        except OSError as exc:
            raise ReMeError(f"cannot write {out}: {exc.strerror}") from None
        episodes, _ = load_dataset(out)
        turns = sum(len(e.turns) for e in episodes)
        questions = sum(len(e.questions) for e in episodes)
        print(f"wrote {out}: {len(episodes)} conversations, {turns} turns, {questions} questions")


def main() -> None:
    """Entry point of the ``reme`` script: ReMe 0.4's ``reme start`` / ``reme <job> key=value`` form goes to
    ``reme.job_cli``, everything else to this project's commands."""
    from reme.job_cli import is_job_command, run

    if is_job_command(sys.argv[1:]):
        raise SystemExit(run(sys.argv[1:]))
    app()


if __name__ == "__main__":
    main()
