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
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from reme.errors import BadInputError, ConflictError, NotFoundError, ReMeError

from .compaction import CompactIn, CompactOut, active_compact_policy, compact
from .limits import FairLock, RateLimiter, check_json
from .personal_tool_flows import (
    AddToolCallResultIn,
    PersonalToolFlows,
    RetrievePersonalMemoryIn,
    SummaryPersonalMemoryIn,
    ToolNamesIn,
    VectorStoreIn,
    workspace_targets,
)
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
DEFAULT_RATE_LIMIT = 20.0
"""Requests a second per token (or client address), on average; bursts of twice as many."""
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


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
    503: {"model": ErrorOut, "description": "The operation needs an LLM and the server has none"},
}


@contextmanager
def http_errors() -> Iterator[None]:
    """The library's errors as HTTP statuses: 404 not found, 409 an id in use, 422 bad input, 503 no LLM, 500 any
    other."""
    try:
        yield
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except ConflictError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    except BadInputError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    except LLMUnavailableError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None
    except ReMeError as exc:
        raise HTTPException(status_code=500, detail=str(exc)) from None


MIN_TOKEN_CHARS = 16


def load_tokens(path: str | Path) -> dict[str, list[str]]:
    """A YAML token file: each bearer token mapped to the targets it may read and write (``*``: all). Everything is
    checked at start: an empty or blank token (it would match a request without ``Authorization``), a token with
    spaces or control characters, or a target that is not a valid target name is refused with ``BadInputError``;
    a token shorter than 16 characters is warned about."""
    import logging

    import yaml

    from reme.schema import normalize_target

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BadInputError(f"cannot read the token file {path}: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise BadInputError(f"{path}: a token file maps each token to a list of targets")
    tokens: dict[str, list[str]] = {}
    for token, targets in data.items():
        if not isinstance(token, str | int) or isinstance(token, bool):
            raise BadInputError(f"{path}: a token must be a string, got {type(token).__name__}")
        name = str(token)
        shown = f"{name[:4]}..." if len(name) > 4 else "(short)"
        if not name.strip():
            raise BadInputError(f"{path}: an empty or blank token would let requests without a token in")
        if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in name):
            raise BadInputError(f"{path}: token {shown} holds spaces or control characters")
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise BadInputError(f"{path}: token {shown}: its targets must be a list of strings")
        for target in targets:
            if target != "*":
                try:
                    normalize_target(target)
                except BadInputError as exc:
                    raise BadInputError(f"{path}: token {shown}: {exc}") from None
        if len(name) < MIN_TOKEN_CHARS:
            logging.getLogger(__name__).warning(
                "%s: token %s is shorter than %d characters: easy to guess", path, shown, MIN_TOKEN_CHARS
            )
        tokens[name] = targets
    return tokens


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
) -> Any:
    """The FastAPI application over ``workspace`` (or an open ``memory``, for tests). ``llm`` (an ``LLMClient``)
    summarises for ``/v1/compact`` and ``/summary_task_memory``; ``dump_dir`` (default ``<workspace>/dumps``) is
    the only place ``/load_memory`` and ``/dump_memory`` touch, one folder per task workspace; ``rate_limit``
    requests a second per token (``None`` or 0: unlimited; a server without tokens has one loopback principal and no
    limit); ``extra_hosts``: host names a server without tokens
    serves besides the loopback ones (an in-process test client's ``testserver``, a local alias)."""
    from reme.memory import Memory
    from reme.schema import normalize_target

    mem = memory if memory is not None else Memory(workspace)
    lock = FairLock()
    limiter = RateLimiter(rate_limit) if rate_limit and tokens is not None else None
    app = FastAPI(
        title="reme",
        version=_version(),
        description="Agent memory whose decisions are learned policies.",
        responses=ERROR_RESPONSES,
    )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's 422, with every echoed input made printable (raw bytes, lone surrogates) and short."""
        return JSONResponse({"detail": _printable(exc.errors())}, status_code=422)

    app.add_middleware(
        RequestGuard,
        max_body_bytes=max_body_bytes,
        hosts=None if tokens is not None else LOOPBACK_HOSTS | {h.lower() for h in extra_hosts},
    )

    def caller(request: Request) -> tuple[str, list[str] | None]:
        """The caller's token (its key for the rate limit) and its targets (``None``: all)."""
        if tokens is None:
            return (request.client.host if request.client else "?"), None
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        if not token or token not in tokens:
            raise HTTPException(status_code=401, detail="missing or unknown bearer token")
        targets = tokens[token]
        return token, (None if "*" in targets else [normalize_target(t) for t in targets])

    def allowed(request: Request) -> list[str] | None:
        """The caller's targets (``None``: all), after its rate limit."""
        key, scope = caller(request)
        if limiter is not None:
            wait = limiter.allow(key)
            if wait > 0:
                raise HTTPException(
                    status_code=429,
                    detail=f"too many requests: at most {limiter.rate:g} a second for this token",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
        return scope

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
    def health(request: Request) -> dict[str, Any]:
        """``{"status": "ok"}``; a caller with every target (``*``, or any caller of a server without tokens) also
        sees the workspace and its memory count."""
        try:
            _, scope = caller(request)
        except HTTPException:
            return {"status": "ok"}
        if scope is not None:
            return {"status": "ok"}
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
        """The memory, when the token holds its target; a memory of another target is answered as a missing one.
        Called under the lock (inside ``run``), with the operation that follows, so the check and the operation see
        the same memory and queue once."""
        node = mem.get(memory_id)
        if scope is not None and node.memory_target not in scope:
            raise NotFoundError(f"no memory with id {memory_id!r}")
        return node

    def owned_decision(decision_id: str, scope: list[str] | None) -> None:
        """Refuse (404, as an unknown id) a decision of a target the token does not hold (under the lock)."""
        found = mem.decision(decision_id)
        if scope is not None and found.target not in scope:
            raise NotFoundError(f"no decision with id {decision_id!r}")

    @app.get("/v1/memories/{memory_id}")
    def get_memory(memory_id: str, scope: list[str] | None = Depends(allowed)) -> dict[str, Any]:
        return dict(run(owned, memory_id, scope).model_dump())

    @app.patch("/v1/memories/{memory_id}")
    def patch_memory(memory_id: str, body: MemoryPatch, scope: list[str] | None = Depends(allowed)) -> dict[str, Any]:
        def patch() -> Any:
            owned(memory_id, scope)
            return mem.update(memory_id, body.content, when_to_use=body.when_to_use, metadata=body.metadata)

        return dict(run(patch).model_dump())

    @app.delete("/v1/memories/{memory_id}")
    def delete_memory(memory_id: str, scope: list[str] | None = Depends(allowed)) -> dict[str, Any]:
        def delete() -> None:
            owned(memory_id, scope)
            mem.delete(memory_id)

        run(delete)
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
        """A reward in [-1, 1] on a decision of one of the token's targets (a search it ran) or on one of its
        memories. Repeats on one decision are averaged when training joins them, never summed."""
        if (body.decision_id is None) == (body.memory_id is None):
            raise HTTPException(status_code=422, detail="give exactly one of decision_id, memory_id")

        def reward() -> Any:
            if body.memory_id is not None:
                owned(body.memory_id, scope)
            else:
                assert body.decision_id is not None
                owned_decision(body.decision_id, scope)
            return mem.feedback(body.value, decision_id=body.decision_id, memory_id=body.memory_id)

        return dict(run(reward).model_dump())

    compact_policies: list[Any] = []

    def compact_policy() -> Any:
        """The workspace's active compact policy, loaded once."""
        if not compact_policies:
            compact_policies.append(active_compact_policy(mem))
        return compact_policies[0]

    @app.post("/v1/compact")
    async def compact_messages(body: CompactIn, scope: list[str] | None = Depends(allowed)) -> CompactOut:
        """The compact policy's keep/compact decision over ``messages`` (logged, under ``target``, which the token
        must hold), and the LLM compactor's summary of the compacted ones. A failed or invalid summary keeps every
        message (nothing is lost)."""
        body.target = check(scope, body.target)

        async def locked(fn: Any, *args: Any) -> Any:
            return await asyncio.to_thread(run, fn, *args)

        policy = await locked(compact_policy)
        return await compact(body, memory=mem, policy=policy, llm=llm, locked=locked)

    flows = TaskFlows(mem, run, llm=llm, dump_dir=dump_dir)
    more = PersonalToolFlows(flows)

    def flow(fn: Any, body: Any, scope: list[str] | None, kinds: tuple[str, ...] = ("task",)) -> FlowResponse:
        """Run a ReMe flow after checking the token holds the targets it touches: ReMe's ``workspace_id`` is the
        targets ``user:<id>`` (personal), ``task:<id>`` and ``tool:<id>``."""
        for workspace_id in {body.workspace_id, getattr(body, "src_workspace_id", None) or body.workspace_id}:
            try:
                targets = workspace_targets(workspace_id)
            except BadInputError as exc:
                raise HTTPException(status_code=422, detail=str(exc)) from None
            for kind in kinds:
                check(scope, targets[kind])
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


def _printable(value: Any) -> Any:
    """``value`` (validation errors) with bytes and unencodable text replaced by a short printable form."""
    if isinstance(value, dict):
        return {str(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    if isinstance(value, bytes):
        return repr(value[:200])
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("ascii", "replace")[:200]
        return value if len(value) <= 500 else value[:500] + "..."
    if isinstance(value, int | float | bool) or value is None:
        return value
    return str(value)[:200]


class RequestGuard:
    """Pure ASGI middleware in front of every endpoint (see the module docstring): a ``Host``/``Origin`` check for a
    server without tokens (421/403), a body limit enforced while the body streams in (413 without reading the
    rest), and the JSON checks of ``reme.service.limits.check_json`` (422)."""

    def __init__(self, app: Any, max_body_bytes: int, hosts: frozenset[str] | set[str] | None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.hosts = hosts
        """Host names served (``None``: any, a server with tokens)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.hosts is not None:
            if not _host_name_in(headers.get("host", ""), self.hosts):
                await _reply(send, 421, "this server has no tokens and serves only loopback host names")
                return
            origin = headers.get("origin")
            if origin and origin != "null" and not _host_name_in(origin.split("://", 1)[-1], self.hosts):
                await _reply(send, 403, "cross-origin requests are not served by a server without tokens")
                return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await _reply(send, 413, f"request body over {self.max_body_bytes} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _reply(send, 413, f"request body over {self.max_body_bytes} bytes")
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if body and (not kind or kind == "application/json" or kind.endswith("+json")):
            problem = check_json(body)
            if problem is not None:
                await _reply(send, 422, problem)
                return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return dict(await receive())

        await self.app(scope, replay, send)


def _host_name_in(host: str, names: frozenset[str] | set[str]) -> bool:
    """Whether a ``Host`` value (``name[:port]``) is one of ``names`` or a 127.0.0.0/8 address."""
    host = host.strip().lower()
    if host.startswith("["):
        name = host[: host.find("]") + 1] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name in names:
        return True
    parts = name.split(".")
    return len(parts) == 4 and parts[0] == "127" and all(p.isdigit() and int(p) < 256 for p in parts)


async def _reply(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _version() -> str:
    from reme import __project_version__

    return __project_version__
