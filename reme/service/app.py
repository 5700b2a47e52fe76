"""``reme serve``: the memory over HTTP (FastAPI, the ``service`` extra). FastAPI resolves the endpoints'
annotations from this module's globals, so it is imported at the top, and this module only when serving.

One workspace per server; every operation of ``Memory`` runs under one first-come lock (``FairLock``), so
concurrent requests are serialised (SQLite, the indexes and the trajectory log see one writer) and served in the
order they arrived; long task flows take it per chunk.

Auth: with a token map (``{token: [targets]}``, ``*`` for all), every request but ``/health`` needs
``Authorization: Bearer <token>`` (401 without, 403 for a target outside its list). A memory or decision of a target
the token does not hold is answered exactly like one that does not exist (404), so ids are no oracle. Without a map
there is no auth, which ``reme serve`` allows only on a loopback address, and then only requests whose ``Host`` (and
``Origin``, when sent) name a loopback address are served (421 otherwise: DNS rebinding).

Limits: request bodies above ``max_body_bytes`` get 413 as soon as the limit is passed (a chunked body is not read
to its end); JSON bodies nested deeper than 64 levels or holding a lone surrogate get 422; each token may send
``rate_limit`` requests a second on average (429 with ``Retry-After`` beyond it). See
``reme.service.limits`` and, for slow clients, ``reme.service.server``.

The routes are thin adapters: each checks the caller's access, runs one shared operation (``reme.service.ops``,
``compaction``, ReMe's flows) under the lock and maps library errors to statuses (``http_errors``); the request
guard is ``reme.service.guard``, the token file ``reme.service.tokens``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from reme.errors import BadInputError, ConflictError, NotFoundError, ReMeError, StoreUnavailableError
from reme.schema import normalize_target

from . import ops
from .compaction import CompactIn, Compaction, CompactOut
from .guard import LOOPBACK_HOSTS, RequestGuard, printable
from .limits import FairLock, NoOrder, RateLimiter
from .personal_tool_flows import (
    AddToolCallResultIn,
    PersonalToolFlows,
    RetrievePersonalMemoryIn,
    SummaryPersonalMemoryIn,
    ToolNamesIn,
    VectorStoreIn,
    workspace_targets,
)
from .policy_watch import watch_registry
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

__all__ = ["Access", "create_app", "http_errors"]

MAX_BODY_BYTES = 1 << 20
MAX_LIST = 1_000_000
"""The largest ``limit`` of a listing."""
DEFAULT_RATE_LIMIT = 20.0
"""Requests a second per token (or client address), on average; bursts of twice as many."""


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
    model_config = ConfigDict(extra="forbid")  # a misspelt field is refused (422), never ignored

    query: str
    limit: int = Field(default=5, ge=1, le=ops.MAX_LIMIT)
    target: str | None = None
    min_score: float | None = None
    filters: dict[str, Any] | None = Field(
        default=None,
        description="Only memories whose metadata matches: {key: value} or {key: [values]}, every key must match.",
    )


class FeedbackIn(BaseModel):
    value: float = Field(ge=-1.0, le=1.0)
    decision_id: str | None = None
    memory_id: str | None = None


class ErrorOut(BaseModel):
    """Every error response: a message, or (for a request that fails validation) FastAPI's list of errors."""

    detail: str | list[dict[str, Any]]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or unknown bearer token"},
    403: {"model": ErrorOut, "description": "The token may not use this target"},
    404: {"model": ErrorOut, "description": "No such memory or decision (or one of a target the token does not hold)"},
    409: {"model": ErrorOut, "description": "The memory id is already in use"},
    413: {"model": ErrorOut, "description": "Request body too large"},
    421: {"model": ErrorOut, "description": "Host not served (a server without tokens serves only loopback names)"},
    422: {"model": ErrorOut, "description": "Invalid request"},
    429: {"model": ErrorOut, "description": "Too many requests for this token"},
    503: {
        "model": ErrorOut,
        "description": "The operation needs an LLM and the server has none, or the database is down",
    },
}


@contextmanager
def http_errors() -> Iterator[None]:
    """The library's errors as HTTP statuses: 404 not found, 409 an id in use, 422 bad input, 503 no LLM or the
    database unreachable, 500 any other."""
    try:
        yield
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except ConflictError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    except BadInputError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    except (LLMUnavailableError, StoreUnavailableError) as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None
    except ReMeError as exc:
        raise HTTPException(status_code=500, detail=str(exc)) from None


class Access:
    """Who may do what on one server, and how an operation runs: the caller's token and targets (401 without a
    known token), its rate limit (429), a target check (422, 403), ownership of a memory or decision (a stranger's
    is answered as a missing one, 404), ``run``, which runs a write under the workspace lock (FIFO), and ``read``,
    which runs a read or a reward without it; both give the library's errors as statuses."""

    def __init__(
        self, memory: Any, tokens: dict[str, list[str]] | None, limiter: RateLimiter | None, lock: FairLock | NoOrder
    ) -> None:
        self.memory = memory
        self.tokens = tokens
        self.limiter = limiter
        self.lock = lock

    def caller(self, request: Request) -> tuple[str, list[str] | None]:
        """The caller's token (its key for the rate limit) and its targets (``None``: all)."""
        if self.tokens is None:
            return (request.client.host if request.client else "?"), None
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        if not token or token not in self.tokens:
            raise HTTPException(status_code=401, detail="missing or unknown bearer token")
        targets = self.tokens[token]
        return token, (None if "*" in targets else [normalize_target(t) for t in targets])

    def allowed(self, request: Request) -> list[str] | None:
        """The caller's targets (``None``: all), after its rate limit."""
        key, scope = self.caller(request)
        if self.limiter is not None:
            wait = self.limiter.allow(key)
            if wait > 0:
                raise HTTPException(
                    status_code=429,
                    detail=f"too many requests: at most {self.limiter.rate:g} a second for this token",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
        return scope

    def check(self, scope: list[str] | None, target: str | None) -> str:
        try:
            name = normalize_target(target)
        except BadInputError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        if scope is not None and name not in scope:
            raise HTTPException(status_code=403, detail=f"this token may not use target {name!r}")
        return name

    def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """A write (or a flow step): under the workspace lock, in arrival order (``FairLock``)."""
        with http_errors(), self.lock:
            return fn(*args, **kwargs)

    def read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """A read (search, list, get, count) or a reward (an append to the log): not behind the workspace lock, so
        they run at once, and beside writes. ``Memory`` keeps its own state consistent (its lock guards an index
        while a search reads it and while a write updates it; the encoder, the larger part of a search, runs
        outside it; the log's appends are atomic). Measured in docs/service.md: 54.2 -> 60.9-71.3 requests/s on one
        worker, 0 errors, 0 lost, 0 duplicates."""
        with http_errors():
            return fn(*args, **kwargs)

    def owned(self, memory_id: str, scope: list[str] | None) -> Any:
        """The memory, when the token holds its target; a memory of another target is answered as a missing one.
        Called inside ``run`` (under the lock) before a patch or a delete, so the check and the change see the same
        memory and queue once; inside ``read`` for a get or a reward."""
        node = ops.get_memory(self.memory, memory_id)
        if scope is not None and node.memory_target not in scope:
            raise NotFoundError(f"no memory with id {memory_id!r}")
        return node

    def owned_decision(self, decision_id: str, scope: list[str] | None) -> None:
        """Refuse (404, as an unknown id) a decision of a target the token does not hold."""
        found = self.memory.decision(decision_id)
        if scope is not None and found.target not in scope:
            raise NotFoundError(f"no decision with id {decision_id!r}")


def create_app(
    workspace: str | Path,
    tokens: dict[str, list[str]] | None = None,
    *,
    memory: Any = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    llm: Any = None,
    dump_dir: str | Path | None = None,
    rate_limit: float | None = DEFAULT_RATE_LIMIT,
    extra_hosts: Sequence[str] = (),
    concurrent_writes: bool = False,
) -> Any:
    """The FastAPI application over ``workspace`` (or an open ``memory``, for tests). ``llm`` (an ``LLMClient``)
    summarises for ``/v1/compact`` and ``/summary_task_memory``; ``dump_dir`` (default ``<workspace>/dumps``) is
    the only place ``/load_memory`` and ``/dump_memory`` touch, one folder per task workspace; ``rate_limit``
    requests a second per token (``None`` or 0: unlimited; a server without tokens has one loopback principal and no
    limit); ``extra_hosts``: host names a server without tokens
    serves besides the loopback ones (an in-process test client's ``testserver``, a local alias);
    ``concurrent_writes``: writes run at once instead of one at a time in arrival order (``Memory`` orders their
    commits itself; on 2 cores the queue measured faster, docs/service.md)."""
    from reme.memory import Memory

    mem = memory if memory is not None else Memory(workspace)
    limiter = RateLimiter(rate_limit) if rate_limit and tokens is not None else None
    access = Access(mem, tokens, limiter, NoOrder() if concurrent_writes else FairLock())
    app = FastAPI(
        title="reme",
        version=_version(),
        description="Agent memory whose decisions are learned policies.",
        responses=ERROR_RESPONSES,
    )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's 422, with every echoed input made printable (raw bytes, lone surrogates) and short."""
        return JSONResponse({"detail": printable(exc.errors())}, status_code=422)

    app.add_middleware(
        RequestGuard,
        max_body_bytes=max_body_bytes,
        hosts=None if tokens is not None else LOOPBACK_HOSTS | {h.lower() for h in extra_hosts},
    )
    _memory_routes(app, access)
    _compact_route(app, access, Compaction(mem, llm))
    flows = TaskFlows(mem, access.run, llm=llm, dump_dir=dump_dir)
    _flow_routes(app, access, flows, PersonalToolFlows(flows))
    _trajectory_route(app, access)
    app.state.memory = mem
    app.state.policy_watch = watch_registry(mem, mem.settings.policies.poll_seconds)
    return app


def _memory_routes(app: FastAPI, access: Access) -> None:
    """``/health``, the memories (add, list, get, patch, delete), search and feedback."""
    mem, run, check, owned = access.memory, access.run, access.check, access.owned

    @app.get("/health")
    def health(request: Request) -> dict[str, Any]:
        """``{"status": "ok"}``; a caller with every target (``*``, or any caller of a server without tokens) also
        sees the workspace and its memory count."""
        try:
            _, scope = access.caller(request)
        except HTTPException:
            return {"status": "ok"}
        if scope is not None:
            return {"status": "ok"}
        return {"status": "ok", "workspace": str(mem.workspace.root), "memories": access.read(mem.count)}

    @app.post("/v1/memories")
    def add_memory(body: MemoryIn, scope: list[str] | None = Depends(access.allowed)) -> dict[str, Any]:
        target = check(scope, body.target)
        added = run(ops.add_memory, mem, body.content, target, time=body.time, metadata=body.metadata)
        return dict(added.model_dump())

    @app.get("/v1/memories")
    def list_memories(
        target: str | None = None,
        limit: int | None = Query(default=None, ge=1, le=MAX_LIST),
        scope: list[str] | None = Depends(access.allowed),
    ) -> list[dict[str, Any]]:
        name = check(scope, target)
        return [n.model_dump() for n in access.read(ops.list_memories, mem, name, limit).memories]

    @app.get("/v1/memories/{memory_id}")
    def get_memory(memory_id: str, scope: list[str] | None = Depends(access.allowed)) -> dict[str, Any]:
        return dict(access.read(owned, memory_id, scope).model_dump())

    @app.patch("/v1/memories/{memory_id}")
    def patch_memory(
        memory_id: str, body: MemoryPatch, scope: list[str] | None = Depends(access.allowed)
    ) -> dict[str, Any]:
        def patch() -> Any:
            owned(memory_id, scope)
            return ops.update_memory(mem, memory_id, body.content, when_to_use=body.when_to_use, metadata=body.metadata)

        return dict(run(patch).model_dump())

    @app.delete("/v1/memories/{memory_id}")
    def delete_memory(memory_id: str, scope: list[str] | None = Depends(access.allowed)) -> dict[str, Any]:
        def delete() -> ops.Deleted:
            owned(memory_id, scope)
            return ops.delete_memory(mem, memory_id)

        return dict(run(delete).model_dump())

    @app.post("/v1/search")
    def search(body: SearchIn, scope: list[str] | None = Depends(access.allowed)) -> dict[str, Any]:
        target = check(scope, body.target)
        found = access.read(
            ops.search_memory, mem, body.query, body.limit, target, min_score=body.min_score, filters=body.filters
        )
        return dict(found.model_dump(exclude={"target"}))

    @app.post("/v1/feedback")
    def feedback(body: FeedbackIn, scope: list[str] | None = Depends(access.allowed)) -> dict[str, Any]:
        """A reward in [-1, 1] on a decision of one of the token's targets (a search it ran) or on one of its
        memories. Repeats on one decision are averaged when training joins them, never summed."""
        if (body.decision_id is None) == (body.memory_id is None):
            raise HTTPException(status_code=422, detail="give exactly one of decision_id, memory_id")

        def reward() -> Any:
            if body.memory_id is not None:
                owned(body.memory_id, scope)
            else:
                assert body.decision_id is not None
                access.owned_decision(body.decision_id, scope)
            return ops.feedback(mem, body.value, decision_id=body.decision_id, memory_id=body.memory_id)

        return dict(access.read(reward).model_dump())


def _compact_route(app: FastAPI, access: Access, compaction: Compaction) -> None:
    """``/v1/compact``."""

    @app.post("/v1/compact")
    async def compact_messages(body: CompactIn, scope: list[str] | None = Depends(access.allowed)) -> CompactOut:
        """The compact policy's keep/compact decision over ``messages`` (logged, under ``target``, which the token
        must hold), and the LLM compactor's summary of the compacted ones. A failed or invalid summary keeps every
        message (nothing is lost)."""
        body.target = access.check(scope, body.target)

        async def locked(fn: Any, *args: Any) -> Any:
            return await asyncio.to_thread(access.run, fn, *args)

        return await compaction(body, locked)


def _flow_routes(app: FastAPI, access: Access, flows: TaskFlows, more: PersonalToolFlows) -> None:
    """ReMe's task-memory flows and its personal and tool memory flows, at ReMe's paths with ReMe's bodies."""

    def flow(fn: Any, body: Any, scope: list[str] | None, kinds: tuple[str, ...] = ("task",)) -> FlowResponse:
        """Run a ReMe flow after checking the token holds the targets it touches: ReMe's ``workspace_id`` is the
        targets ``user:<id>`` (personal), ``task:<id>`` and ``tool:<id>``."""
        for workspace_id in {body.workspace_id, getattr(body, "src_workspace_id", None) or body.workspace_id}:
            try:
                targets = workspace_targets(workspace_id)
            except BadInputError as exc:
                raise HTTPException(status_code=422, detail=str(exc)) from None
            for kind in kinds:
                access.check(scope, targets[kind])
        with http_errors():
            result: FlowResponse = fn(body)
        return result

    allowed = access.allowed

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

    @app.post("/retrieve_personal_memory", tags=["ReMe personal and tool memory"])
    def retrieve_personal_memory(
        body: RetrievePersonalMemoryIn, scope: list[str] | None = Depends(allowed)
    ) -> FlowResponse:
        return flow(more.retrieve_personal, body, scope, ("personal",))

    @app.post("/summary_personal_memory", tags=["ReMe personal and tool memory"])
    def summary_personal_memory(
        body: SummaryPersonalMemoryIn, scope: list[str] | None = Depends(allowed)
    ) -> FlowResponse:
        return flow(more.summary_personal, body, scope, ("personal",))

    @app.post("/add_tool_call_result", tags=["ReMe personal and tool memory"])
    def add_tool_call_result(body: AddToolCallResultIn, scope: list[str] | None = Depends(allowed)) -> FlowResponse:
        return flow(more.add_tool_calls, body, scope, ("tool",))

    @app.post("/summary_tool_memory", tags=["ReMe personal and tool memory"])
    def summary_tool_memory(body: ToolNamesIn, scope: list[str] | None = Depends(allowed)) -> FlowResponse:
        return flow(more.summary_tools, body, scope, ("tool",))

    @app.post("/retrieve_tool_memory", tags=["ReMe personal and tool memory"])
    def retrieve_tool_memory(body: ToolNamesIn, scope: list[str] | None = Depends(allowed)) -> FlowResponse:
        return flow(more.retrieve_tools, body, scope, ("tool",))

    @app.post("/vector_store", tags=["ReMe personal and tool memory"])
    def vector_store(body: VectorStoreIn, scope: list[str] | None = Depends(allowed)) -> FlowResponse:
        return flow(more.vector_store, body, scope, ("personal", "task", "tool"))


def _trajectory_route(app: FastAPI, access: Access) -> None:
    """``/v1/trajectories``: the whole trajectory log as NDJSON, for a token with every target."""

    @app.get("/v1/trajectories")
    def trajectories(scope: list[str] | None = Depends(access.allowed)) -> Any:
        if scope is not None:
            raise HTTPException(status_code=403, detail="the trajectory export needs a token with target '*'")
        return StreamingResponse(ops.trajectory_lines(access.memory), media_type="application/x-ndjson")


def _version() -> str:
    from reme import __project_version__

    return __project_version__
