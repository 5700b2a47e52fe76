"""``reme serve``: the memory over HTTP (FastAPI, the ``service`` extra). FastAPI resolves the endpoints'
annotations from this module's globals, so it is imported at the top, and this module only when serving.

One workspace per server; every operation of ``Memory`` runs under one lock, so concurrent requests are
serialised (SQLite, the indexes and the trajectory log see one writer).

Auth: with a token map (``{token: [targets]}``, ``*`` for all), every ``/v1`` request needs
``Authorization: Bearer <token>`` (401 without, 403 for a target outside its list). Without a map there is no auth,
which ``reme serve`` allows only on a loopback address. Request bodies above ``max_body_bytes`` get 413.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.middleware.base import BaseHTTPMiddleware

from reme.errors import BadInputError, NotFoundError, ReMeError

from .compaction import CompactIn, CompactOut, active_compact_policy, compact
from .task_flows import (
    AddTaskMemoryIn,
    DeleteTaskMemoryIn,
    DumpMemoryIn,
    FlowResponse,
    LLMUnavailableError,
    LoadMemoryIn,
    RecordTaskMemoryIn,
    RetrieveTaskMemoryIn,
    SummaryTaskMemoryIn,
    TaskFlows,
)

__all__ = ["create_app", "load_tokens"]

MAX_BODY_BYTES = 1 << 20
MAX_LIST = 1_000_000
"""The largest ``limit`` of a listing."""


class MemoryIn(BaseModel):
    content: str
    target: str | None = None
    time: str | None = None
    metadata: dict[str, Any] | None = None


class MemoryPatch(BaseModel):
    content: str | None = None
    when_to_use: str | None = None
    metadata: dict[str, Any] | None = None


class SearchIn(BaseModel):
    query: str
    limit: int = Field(default=5, ge=1, le=1000)
    target: str | None = None
    min_score: float | None = None


class FeedbackIn(BaseModel):
    value: float
    decision_id: str | None = None
    memory_id: str | None = None


class ErrorOut(BaseModel):
    """Every error response: a message, or (for a request that fails validation) FastAPI's list of errors."""

    detail: str | list[dict[str, Any]]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or unknown bearer token"},
    403: {"model": ErrorOut, "description": "The token may not use this target"},
    404: {"model": ErrorOut, "description": "No such memory"},
    413: {"model": ErrorOut, "description": "Request body too large"},
    422: {"model": ErrorOut, "description": "Invalid request"},
    503: {"model": ErrorOut, "description": "The operation needs an LLM and the server has none"},
}


@contextmanager
def http_errors() -> Iterator[None]:
    """The library's errors as HTTP statuses: 404 not found, 422 bad input, 503 no LLM, 500 any other."""
    try:
        yield
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except BadInputError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    except LLMUnavailableError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None
    except ReMeError as exc:
        raise HTTPException(status_code=500, detail=str(exc)) from None


def load_tokens(path: str | Path) -> dict[str, list[str]]:
    """A YAML token file: each bearer token mapped to the targets it may read and write (``*``: all)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BadInputError(f"cannot read the token file {path}: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise BadInputError(f"{path}: a token file maps each token to a list of targets")
    tokens: dict[str, list[str]] = {}
    for token, targets in data.items():
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise BadInputError(f"{path}: token {str(token)[:4]}...: its targets must be a list of strings")
        tokens[str(token)] = targets
    return tokens


def create_app(
    workspace: str | Path,
    tokens: dict[str, list[str]] | None = None,
    *,
    memory: Any = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    llm: Any = None,
    dump_dir: str | Path | None = None,
) -> Any:
    """The FastAPI application over ``workspace`` (or an open ``memory``, for tests). ``llm`` (an ``LLMClient``)
    summarises for ``/v1/compact`` and ``/summary_task_memory``; ``dump_dir`` (default ``<workspace>/dumps``) is
    the only place ``/load_memory`` and ``/dump_memory`` touch."""
    from reme.memory import Memory
    from reme.schema import normalize_target

    mem = memory if memory is not None else Memory(workspace)
    lock = threading.RLock()
    app = FastAPI(
        title="reme",
        version=_version(),
        description="Agent memory whose decisions are learned policies.",
        responses=ERROR_RESPONSES,
    )

    class BodyLimit(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: Any) -> Any:
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
                return JSONResponse({"detail": f"request body over {max_body_bytes} bytes"}, status_code=413)
            body = await request.body()
            if len(body) > max_body_bytes:
                return JSONResponse({"detail": f"request body over {max_body_bytes} bytes"}, status_code=413)
            return await call_next(request)

    app.add_middleware(BodyLimit)

    def allowed(request: Request) -> list[str] | None:
        """The caller's targets (``None``: all)."""
        if tokens is None:
            return None
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        if token not in tokens:
            raise HTTPException(status_code=401, detail="missing or unknown bearer token")
        targets = tokens[token]
        return None if "*" in targets else [normalize_target(t) for t in targets]

    def check(scope: list[str] | None, target: str | None) -> str:
        try:
            name = normalize_target(target)
        except BadInputError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        if scope is not None and name not in scope:
            raise HTTPException(status_code=403, detail=f"this token may not use target {name!r}")
        return name

    def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
        with http_errors(), lock:
            return fn(*args, **kwargs)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "workspace": str(mem.workspace.root), "memories": run(mem.count)}

    @app.post("/v1/memories")
    def add_memory(body: MemoryIn, scope: list[str] | None = Depends(allowed)) -> dict[str, Any]:
        target = check(scope, body.target)
        node = run(mem.add, body.content, target, message_time=body.time or "", metadata=body.metadata)
        if node is None:
            return {"stored": False, "memory": None}
        return {"stored": True, "memory": node.model_dump()}

    @app.get("/v1/memories")
    def list_memories(
        target: str | None = None,
        limit: int | None = Query(default=None, ge=1, le=MAX_LIST),
        scope: list[str] | None = Depends(allowed),
    ) -> list[dict[str, Any]]:
        name = check(scope, target)
        return [n.model_dump() for n in run(mem.list, name, limit)]

    def owned(memory_id: str, scope: list[str] | None) -> Any:
        node = run(mem.get, memory_id)
        check(scope, node.memory_target)
        return node

    @app.get("/v1/memories/{memory_id}")
    def get_memory(memory_id: str, scope: list[str] | None = Depends(allowed)) -> dict[str, Any]:
        return dict(owned(memory_id, scope).model_dump())

    @app.patch("/v1/memories/{memory_id}")
    def patch_memory(memory_id: str, body: MemoryPatch, scope: list[str] | None = Depends(allowed)) -> dict[str, Any]:
        owned(memory_id, scope)
        node = run(mem.update, memory_id, body.content, when_to_use=body.when_to_use, metadata=body.metadata)
        return dict(node.model_dump())

    @app.delete("/v1/memories/{memory_id}")
    def delete_memory(memory_id: str, scope: list[str] | None = Depends(allowed)) -> dict[str, Any]:
        owned(memory_id, scope)
        run(mem.delete, memory_id)
        return {"deleted": memory_id}

    @app.post("/v1/search")
    def search(body: SearchIn, scope: list[str] | None = Depends(allowed)) -> dict[str, Any]:
        target = check(scope, body.target)
        decision, hits = run(mem.search_with_decision, body.query, body.limit, target, min_score=body.min_score)
        return {
            "decision_id": decision.decision_id,
            "results": [
                {
                    "memory_id": h.memory.memory_id,
                    "content": h.memory.content,
                    "score": h.score,
                    "vector_score": h.vector_score,
                    "keyword_score": h.keyword_score,
                    "rank": h.rank,
                    "memory": h.memory.model_dump(),
                }
                for h in hits
            ],
        }

    @app.post("/v1/feedback")
    def feedback(body: FeedbackIn, scope: list[str] | None = Depends(allowed)) -> dict[str, Any]:
        if (body.decision_id is None) == (body.memory_id is None):
            raise HTTPException(status_code=422, detail="give exactly one of decision_id, memory_id")
        if body.memory_id is not None:
            owned(body.memory_id, scope)
        elif scope is not None:
            raise HTTPException(status_code=403, detail="feedback on a decision needs a token with target '*'")
        event = run(mem.feedback, body.value, decision_id=body.decision_id, memory_id=body.memory_id)
        return dict(event.model_dump())

    compact_policies: list[Any] = []

    def compact_policy() -> Any:
        """The workspace's active compact policy, loaded once."""
        if not compact_policies:
            compact_policies.append(active_compact_policy(mem))
        return compact_policies[0]

    @app.post("/v1/compact")
    async def compact_messages(body: CompactIn, scope: list[str] | None = Depends(allowed)) -> CompactOut:
        """The compact policy's keep/compact decision over ``messages`` (logged), and the LLM compactor's summary
        of the compacted ones. A failed or invalid summary keeps every message (nothing is lost)."""

        async def locked(fn: Any, *args: Any) -> Any:
            return await asyncio.to_thread(run, fn, *args)

        policy = await locked(compact_policy)
        return await compact(body, memory=mem, policy=policy, llm=llm, locked=locked)

    flows = TaskFlows(mem, run, llm=llm, dump_dir=dump_dir)

    def flow(fn: Any, body: Any, scope: list[str] | None) -> FlowResponse:
        check(scope, f"task:{body.workspace_id}")  # ReMe's workspace_id is the target task:<workspace_id>
        with http_errors():
            result: FlowResponse = fn(body)
        return result

    @app.post("/retrieve_task_memory", tags=["ReMe task memory"])
    def retrieve_task_memory(body: RetrieveTaskMemoryIn, scope: list[str] | None = Depends(allowed)) -> FlowResponse:
        return flow(flows.retrieve, body, scope)

    @app.post("/summary_task_memory", tags=["ReMe task memory"])
    def summary_task_memory(body: SummaryTaskMemoryIn, scope: list[str] | None = Depends(allowed)) -> FlowResponse:
        return flow(flows.summary, body, scope)

    @app.post("/add_task_memory", tags=["ReMe task memory"])
    def add_task_memory(body: AddTaskMemoryIn, scope: list[str] | None = Depends(allowed)) -> FlowResponse:
        return flow(flows.add, body, scope)

    @app.post("/record_task_memory", tags=["ReMe task memory"])
    def record_task_memory(body: RecordTaskMemoryIn, scope: list[str] | None = Depends(allowed)) -> FlowResponse:
        return flow(flows.record, body, scope)

    @app.post("/delete_task_memory", tags=["ReMe task memory"])
    def delete_task_memory(body: DeleteTaskMemoryIn, scope: list[str] | None = Depends(allowed)) -> FlowResponse:
        return flow(flows.delete, body, scope)

    @app.post("/load_memory", tags=["ReMe task memory"])
    def load_memory(body: LoadMemoryIn, scope: list[str] | None = Depends(allowed)) -> FlowResponse:
        return flow(flows.load, body, scope)

    @app.post("/dump_memory", tags=["ReMe task memory"])
    def dump_memory(body: DumpMemoryIn, scope: list[str] | None = Depends(allowed)) -> FlowResponse:
        return flow(flows.dump, body, scope)

    @app.get("/v1/trajectories")
    def trajectories(scope: list[str] | None = Depends(allowed)) -> Any:
        if scope is not None:
            raise HTTPException(status_code=403, detail="the trajectory export needs a token with target '*'")
        root = Path(mem.workspace.trajectory_dir)

        def lines() -> Iterator[bytes]:
            for path in sorted(root.glob("segment-*.jsonl")):
                with path.open("rb") as fh:
                    yield from fh

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    app.state.memory = mem
    return app


def _version() -> str:
    from reme import __version__

    return __version__
