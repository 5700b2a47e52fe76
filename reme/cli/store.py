"""``reme migrate``: a workspace's records between its SQLite file and PostgreSQL (``reme.store.migrate``);
``reme hnsw``: pgvector's HNSW index over a PostgreSQL workspace (``reme.store.pgvector_search``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from reme.cli import Reply, json_command
from reme.cli.options import JsonOpt, WorkspaceOpt, existing_workspace
from reme.errors import BadInputError
from reme.settings import is_store_url

commands: typer.Typer = typer.Typer()


def _open(place: str, schema: str, must_exist: bool) -> Any:
    """The record store at ``place``: a PostgreSQL schema, or a workspace's SQLite file (the source must hold one)."""
    from reme.store.postgres import PostgresRecordStore
    from reme.store.records import RecordStore
    from reme.store.workspace import Workspace

    if is_store_url(place):
        return PostgresRecordStore(place, schema)
    if must_exist and not (Path(place) / "reme.db").is_file():
        raise BadInputError(f"no reme workspace at {place} (give a workspace folder or a postgresql:// URL)")
    workspace = Workspace(place)
    workspace.check_database()
    return RecordStore(workspace.db_path)


@commands.command(
    epilog="Examples: reme migrate --from ws --to postgresql://reme@db/memory --use  |  "
    "reme migrate --from postgresql://reme@db/memory --to ws --use"
)
@json_command
def migrate(
    source: Annotated[str, typer.Option("--from", help="A workspace folder or a postgresql:// URL.")],
    dest: Annotated[str, typer.Option("--to", help="A workspace folder or a postgresql:// URL (empty).")],
    schema: Annotated[str, typer.Option("--schema", help="The PostgreSQL schema of the workspace's tables.")] = "reme",
    use: Annotated[
        bool, typer.Option("--use", help="Point the workspace's reme.yaml at the destination (writes store.url).")
    ] = False,
    json_out: JsonOpt = None,
) -> Reply:
    """Copy every memory, vector and the store's meta (id key, embedding model), and the trajectory log (decisions,
    rewards), from one store to an empty one. The workspace folder keeps its registry; with --use its reme.yaml then
    names the new store (and its log lives there)."""
    from reme.progress import progress_bar
    from reme.store.migrate import copy_log, copy_records

    if is_store_url(source) == is_store_url(dest):
        raise BadInputError("migrate between a workspace folder and a postgresql:// URL (one of each)")
    src, dst = _open(source, schema, True), _open(dest, schema, False)
    try:
        with progress_bar("copying memories", total=src.count(), enabled=True) as advance:
            seen = [0]

            def step(done: int, total: int) -> None:
                advance(done - seen[0])
                seen[0] = done

            copied = copy_records(src, dst, progress=step)
        log_from, log_to = _log(source, src), _log(dest, dst)
        records, unreadable = copy_log(log_from, log_to)
        log_from.close()
        log_to.close()
    finally:
        src.close()
        dst.close()
    folder = dest if is_store_url(source) else source
    if use:
        _point(Path(folder), None if is_store_url(source) else dest, schema)
    out = {"copied": copied, "log_records": records, "log_unreadable": unreadable, "from": _shown(source),
           "to": _shown(dest), "workspace_uses_it": use}  # fmt: skip

    def show() -> None:
        print(f"copied {copied} memories and {records} trajectory records from {_shown(source)} to {_shown(dest)}")
        if unreadable:
            print(f"{unreadable} unreadable lines of the log were left behind (reme trajectories verify names them)")
        if not use:
            print(f"the workspace {folder} still reads its old store: rerun with --use, or set REME_STORE_URL")

    return Reply(out, show)


def _log(place: str, records: Any) -> Any:
    """The trajectory log at ``place``: the PostgreSQL store's table, or the workspace folder's segments."""
    from reme.policy.trajectory import TrajectoryLog
    from reme.store.postgres_log import PostgresTrajectoryLog

    return PostgresTrajectoryLog(records) if is_store_url(place) else TrajectoryLog(Path(place) / "trajectories")


def _shown(place: str) -> str:
    from reme.store.postgres import redacted

    return redacted(place) if is_store_url(place) else place


def _point(workspace: Path, url: str | None, schema: str) -> None:
    """Write (or, for ``None``, remove) ``store`` in the workspace's reme.yaml."""
    import yaml

    from reme.atomic import write_atomic
    from reme.settings import SETTINGS_FILE, WorkspaceSettings

    path = workspace / SETTINGS_FILE
    data = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.is_file() else {}
    if url is None:
        data.pop("store", None)
    else:
        data["store"] = {"url": url, "schema": schema}
    WorkspaceSettings(**data)  # refuse to write a file that would not load
    write_atomic(path, yaml.safe_dump(data, sort_keys=False).encode("utf-8"))


@commands.command(
    "hnsw",
    epilog="Examples: reme hnsw -w ws  |  reme hnsw -w ws --m 24 --ef-construction 100  |  reme hnsw -w ws --drop",
)
@json_command
def hnsw(
    ctx: typer.Context,
    m: Annotated[int, typer.Option("--m", min=2, max=100, help="HNSW links per node (pgvector's m).")] = 16,
    ef_construction: Annotated[
        int, typer.Option("--ef-construction", min=4, max=1000, help="Candidates kept while building.")
    ] = 64,
    work_mem: Annotated[
        str, typer.Option("--work-mem", help="The build's maintenance_work_mem (the graph should fit in it).")
    ] = "1GB",
    drop: Annotated[bool, typer.Option("--drop", help="Drop the index instead (searches become exact).")] = False,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = None,
) -> Reply:
    """Build pgvector's HNSW index over a PostgreSQL workspace's vectors (store.dense: pgvector then searches targets
    of at least store.hnsw_min_rows memories through it). Writers are not blocked while it builds."""
    import time

    from reme.settings import load_settings
    from reme.store.open import open_records, store_url
    from reme.store.workspace import Workspace

    root = existing_workspace(ctx, workspace)
    settings = load_settings(root).store
    if store_url(settings) is None:
        raise BadInputError(f"{root} keeps its memories in its SQLite file: HNSW needs store.url (reme migrate)")
    records = open_records(Workspace(root), settings)
    try:
        dims = records.vector_dims()
        if not dims:
            raise BadInputError(f"{records.path} holds no vectors yet: add memories first")
        started = time.perf_counter()
        names = []
        for dim in dims:
            if drop:
                records.drop_hnsw(dim)
            else:
                names.append(records.build_hnsw(dim, m=m, ef_construction=ef_construction, work_mem=work_mem))
        seconds = round(time.perf_counter() - started, 2)
        rows = records.count()
    finally:
        records.close()
    out = {"dropped" if drop else "built": dims, "indexes": names, "rows": rows, "seconds": seconds,
           "dense": settings.dense}  # fmt: skip

    def show() -> None:
        verb = "dropped" if drop else f"built ({', '.join(names)})"
        print(f"HNSW {verb} over {rows} memories in {seconds} s")
        if settings.dense != "pgvector" and not drop:
            print("searches still use each worker's FAISS: set store.dense: pgvector in reme.yaml to use it")

    return Reply(out, show)
