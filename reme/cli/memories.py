"""The commands on a workspace's memories: add, search, list, delete, forget, sync, feedback and import."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from reme.cli import Reply, json_command
from reme.cli.options import JsonOpt, TargetOpt, WorkspaceOpt, existing_workspace, open_memory, workspace_path
from reme.errors import BadInputError

commands: typer.Typer = typer.Typer()

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


def _pairs(option: str, pairs: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` options as a dict; a value that reads as a JSON number or boolean is one (``year=2024``,
    ``done=true``), any other is a string. A key given twice collects its values in a list."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise BadInputError(f"{option} takes KEY=VALUE, got {pair!r}")
        try:
            value: Any = json.loads(raw)
            if not isinstance(value, int | float | bool):
                value = raw
        except ValueError:
            value = raw
        key = key.strip()
        if key in out:
            out[key] = [*(out[key] if isinstance(out[key], list) else [out[key]]), value]
        else:
            out[key] = value
    return out


@commands.command(
    epilog="Examples: reme add 'Alice moved to Lisbon.' -t user:alice --time 2024-05-08 --meta session_id=s1  |  "
    "reme add --file memories.jsonl"
)
@json_command
def add(
    ctx: typer.Context,
    text: Annotated[str | None, typer.Argument(metavar="TEXT", help="The memory text.")] = None,
    target: TargetOpt = None,
    time: Annotated[str | None, typer.Option("--time", metavar="ISO8601", help="When it happened (ISO 8601).")] = None,
    meta: Annotated[
        list[str] | None,
        typer.Option("--meta", metavar="KEY=VALUE", help="Metadata of the memory (repeatable): --meta session=s1."),
    ] = None,
    file: Annotated[
        str | None,
        typer.Option("--file", "-f", metavar="JSONL", help="JSONL: one {text, target?, time?, metadata?} per line."),
    ] = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = None,
) -> Reply:
    """Add a memory, or every memory of a JSONL file (validated whole before anything is written)."""
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
        items = [{"text": text, "target": target, "time": time, "metadata": _pairs("--meta", meta)}]
    from reme.memory import build_node

    for item in items:  # validate everything before the workspace is touched
        build_node(item)
    with open_memory(ctx, workspace) as mem:
        nodes = mem.add_many(items, show_progress=file is not None)

    def show() -> None:
        if file is not None:
            print(f"added {len(nodes)} memories ({len(items) - len(nodes)} discarded by the write policy)")
        elif nodes:
            print(nodes[0].memory_id)
        else:
            print("discarded by the write policy")

    return Reply([n.model_dump() for n in nodes], show)


@commands.command(
    epilog="Examples: reme search 'Where does Alice live?' -t user:alice  |  reme search lamps -k 10 --json - "
    "--filter session_id=s1"
)
@json_command
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(metavar="QUERY", help="What to look for.")],
    limit: Annotated[int, typer.Option("--limit", "-k", metavar="K", help="How many results.")] = 5,
    target: TargetOpt = None,
    min_score: Annotated[
        float | None, typer.Option("--min-score", metavar="SCORE", help="Drop results below (default 0.1).")
    ] = None,
    filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            metavar="KEY=VALUE",
            help="Only memories whose metadata KEY is VALUE (repeatable; the same KEY twice: either value).",
        ),
    ] = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = None,
) -> Reply:
    """Hybrid search (FAISS + BM25, ranked by the current ranking policy) in one target."""
    from reme.memory.checks import check_filters
    from reme.schema import check_text, normalize_target

    check_text(query, "query")  # bad input is refused before the workspace is opened (or created)
    normalize_target(target)
    wanted = check_filters(_pairs("--filter", filters))
    if not 1 <= limit <= 1000:
        raise BadInputError(f"--limit must be in [1, 1000], got {limit}")
    with open_memory(ctx, workspace, create=False) as mem:
        decision, hits = mem.search_with_decision(
            query, limit=limit, target=target, min_score=min_score, filters=wanted
        )
    rows = [
        {
            "memory_id": h.memory.memory_id,
            "content": h.memory.content,
            "score": round(h.score, 6),
            "policy_score": None if h.policy_score is None else round(h.policy_score, 6),
            "vector_score": h.vector_score,
            "keyword_score": h.keyword_score,
            "target": h.memory.memory_target,
            "message_time": h.memory.message_time,
            "metadata": h.memory.metadata,
        }
        for h in hits
    ]
    decision_id = decision.decision_id

    def show() -> None:
        if not rows:
            print("no results")
            return
        from rich.console import Console
        from rich.table import Table

        table = Table("score", "id", "content", caption=f"decision {decision_id}")
        for row in rows:
            table.add_row(f"{row['score']:.3f}", row["memory_id"], row["content"])
        Console().print(table)

    return Reply({"decision_id": decision_id, "results": rows}, show)


@commands.command("list")
@json_command
def list_memories(
    ctx: typer.Context,
    target: TargetOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many.")] = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = None,
) -> Reply:
    """List memories (of one target, or all)."""
    with open_memory(ctx, workspace, create=False) as mem:
        nodes = mem.list(target=target, limit=limit)

    def show() -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table("id", "target", "time", "content")
        for n in nodes:
            table.add_row(n.memory_id, n.memory_target, n.message_time, n.content)
        Console().print(table)
        print(f"{len(nodes)} memories")

    return Reply([n.model_dump() for n in nodes], show)


@commands.command()
@json_command
def update(
    ctx: typer.Context,
    memory_id: Annotated[str, typer.Argument(help="The id to change.")],
    content: Annotated[str | None, typer.Option("--content", help="The new text (re-encoded).")] = None,
    time: Annotated[str | None, typer.Option("--time", metavar="ISO8601", help="When it happened (ISO 8601).")] = None,
    target: Annotated[str | None, typer.Option("--target", "-t", help="Move it to this target.")] = None,
    metadata: Annotated[
        str | None, typer.Option("--metadata", help='A JSON object merged into its metadata: \'{"source": "chat"}\'.')
    ] = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = None,
) -> Reply:
    """Change fields of one memory; it keeps its id (the HTTP PATCH and MCP update_memory of the service)."""
    extra: dict[str, Any] | None = None
    if metadata is not None:
        try:
            extra = json.loads(metadata)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"--metadata is not JSON: {exc.msg}") from None
        if not isinstance(extra, dict):
            raise BadInputError("--metadata must be a JSON object")
    if content is None and time is None and target is None and extra is None:
        raise BadInputError("nothing to change: give --content, --time, --target or --metadata")
    with open_memory(ctx, workspace, create=False) as mem:
        if extra is not None:
            extra = {**mem.get(memory_id).metadata, **extra}
        node = mem.update(memory_id, content, target=target, message_time=time, metadata=extra)
    return Reply(node.model_dump(), lambda: print(f"updated {node.memory_id}"))


@commands.command()
@json_command
def delete(
    ctx: typer.Context,
    memory_id: Annotated[str, typer.Argument(help="The id to delete.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Delete one memory by id."""
    with open_memory(ctx, workspace, create=False) as mem:
        mem.delete(memory_id)
    print(f"deleted {memory_id}")


@commands.command()
@json_command
def forget(
    ctx: typer.Context,
    memory_ids: Annotated[
        list[str] | None, typer.Option("--memory", help="A memory id to forget (repeatable).")
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="Forget every memory of this target.")] = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = None,
) -> Reply:
    """Remove memories from the records, the indexes, the embedding cache and the content fields of trajectory
    records (decisions keep their ids and log-probabilities); print how many of each went."""
    from reme.forget import forget as forget_memories

    if bool(memory_ids) == (target is not None):
        raise BadInputError("give --memory ID (one or more) or --target T")
    existing_workspace(ctx, workspace)
    with open_memory(ctx, workspace, create=False) as mem:
        report = forget_memories(mem, memory_ids=memory_ids or (), target=target)
    counts = report.model_dump()
    return Reply(counts, lambda: print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in counts.items())))


@commands.command()
@json_command
def sync(ctx: typer.Context, workspace: WorkspaceOpt = None) -> None:
    """Index MEMORY.md and memory/*.md of the workspace (400-token chunks, 80 overlap)."""
    with open_memory(ctx, workspace) as mem:
        stats = mem.sync_markdown()
    print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in stats.items()))


@commands.command(
    epilog="Examples: reme feedback --decision DECISION_ID --value 1  |  reme feedback --memory MEMORY_ID --value -1"
)
@json_command
def feedback(
    ctx: typer.Context,
    value: Annotated[float, typer.Option("--value", help="The reward (a finite number).")],
    decision: Annotated[str | None, typer.Option("--decision", help="A decision id (e.g. from search --json).")] = None,
    memory: Annotated[
        str | None, typer.Option("--memory", help="A memory id (credited to the write that stored it).")
    ] = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = None,
) -> Reply:
    """Record a reward for a decision or a memory; trainers join it to the decisions that caused it."""
    import math

    if (decision is None) == (memory is None):
        raise BadInputError("give exactly one of --decision, --memory")
    if not math.isfinite(value):
        raise BadInputError(f"--value must be a finite number, got {value}")
    with open_memory(ctx, workspace, create=False) as mem:
        event = mem.feedback(value, decision_id=decision, memory_id=memory)
    return Reply(event.model_dump(), lambda: print(event.reward_id))


@commands.command(
    "import", epilog="Examples: reme import --from reme ~/.reme  |  reme import --from mem0 mem0_export.json"
)
@json_command
def import_data(
    ctx: typer.Context,
    path: Annotated[
        str,
        typer.Argument(
            help="reme: a ReMeLight working directory or a vector-store dump; mem0: an export (JSON / JSONL)."
        ),
    ],
    source: Annotated[
        str, typer.Option("--from", help="What the data comes from: reme (ReMe 0.3.x) or mem0 (get_all()'s export).")
    ] = "reme",
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = None,
) -> Reply:
    """Move ReMe 0.3.x data (memory files, dialogs and tool results of a ReMeLight working directory, or the
    memories of a vector-store dump) or a mem0 export into a workspace. Everything is validated before anything is
    written."""
    if source not in ("reme", "mem0"):
        raise BadInputError(f"--from {source!r}: use 'reme' (ReMe 0.3.x) or 'mem0'")
    from reme.importers import import_mem0, import_reme

    root = workspace_path(ctx, workspace)
    counts = (import_mem0 if source == "mem0" else import_reme)(path, root)
    return Reply(counts, lambda: print(", ".join(f"{k}: {v}" for k, v in counts.items())))
