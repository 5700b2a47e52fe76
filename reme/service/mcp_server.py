"""``reme mcp``: the memory of one workspace as Model Context Protocol tools (the ``service`` extra).

Built on the official MCP Python SDK: its ``FastMCP`` server (``mcp.server.fastmcp``, mcp 1.x), which mcp 2.x
renamed ``MCPServer`` (``mcp.server.mcpserver``); whichever is installed is used, with the same tools.

The tools are the operations of the HTTP service (``reme serve``) under the same rules: one workspace per server,
every ``Memory`` call under one lock (SQLite, the indexes and the trajectory log see one writer), a target left
out means ``default``. Library errors come back as MCP tool errors (``isError``) whose text names the problem;
they never stop the server.

There is no auth on MCP here: over stdio the client that spawned the server owns it; over streamable HTTP
anything that can reach the port can read and write every target, so ``run_mcp`` binds only to a loopback
address (and keeps the SDK's DNS-rebinding protection on, so a web page cannot drive it through the browser).

Every search is a ranking decision appended to the workspace's trajectory log; ``feedback`` appends a reward
that names that decision (or a memory, credited to the write that stored it), which ``reme train-policy`` and
``reme trajectories`` join to the decision.
"""

from __future__ import annotations

import importlib
import ipaddress
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import anyio.to_thread
from pydantic import BaseModel, Field, ValidationError

from reme.errors import BadInputError, ConflictError, NotFoundError, ReMeError
from reme.policy.trajectory import RewardEvent, read_records
from reme.schema import MemoryNode, normalize_target

from .compaction import CompactIn, CompactOut, active_compact_policy, compact
from .limits import FairLock
from .personal_tool_flows import (
    AddToolCallResultIn,
    PersonalToolFlows,
    RetrievePersonalMemoryIn,
    SummaryPersonalMemoryIn,
    ToolNamesIn,
    VectorStoreIn,
)
from .task_flows import (
    AddTaskMemoryIn,
    DeleteTaskMemoryIn,
    DumpMemoryIn,
    FlowResponse,
    LoadMemoryIn,
    RecordTaskMemoryIn,
    RetrieveTaskMemoryIn,
    SummaryTaskMemoryIn,
    TaskFlows,
)

__all__ = [
    "AddResult",
    "Deleted",
    "MemoryList",
    "SearchResult",
    "TrajectoryExport",
    "create_mcp_server",
    "is_loopback",
    "run_mcp",
]

SERVER_NAME = "reme"
DEFAULT_PORT = 8001
MAX_LIMIT = 1000
"""Largest ``limit`` of a search (the library's bound)."""

INSTRUCTIONS = """\
Long-term memory. Memories belong to a target: 'default', 'user:NAME', 'task:NAME', 'tool:NAME' or 'file:NAME'
(left out: 'default'). Call search_memory before answering from memory; it returns a decision_id. Afterwards call
feedback with that decision_id and a value (1 when the results helped, 0 or -1 when they did not): the ranking
policy is trained on these rewards. Store durable facts with add_memory.\
"""

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------- results
class AddResult(BaseModel):
    """What ``add_memory`` did: ``stored`` is false when the write policy discarded the text (then ``memory``
    is null); otherwise ``memory`` is the memory written (for an update of a near-duplicate: that memory,
    with its id and the new content)."""

    stored: bool
    memory: MemoryNode | None = None


class SearchHitOut(BaseModel):
    """One search result: the memory's id and text, the ranking policy's ``score``, the dense and keyword
    similarities it was ranked from (null when that side did not retrieve it), and its 0-based ``rank``."""

    memory_id: str
    content: str
    score: float
    vector_score: float | None = None
    keyword_score: float | None = None
    rank: int
    memory: MemoryNode


class SearchResult(BaseModel):
    """A search: ``decision_id`` names the ranking decision (give it to ``feedback``); ``results`` best first."""

    decision_id: str
    target: str
    results: list[SearchHitOut]


class MemoryList(BaseModel):
    """The memories of one target, oldest first."""

    target: str
    count: int
    memories: list[MemoryNode]


class Deleted(BaseModel):
    """The id of the memory that was deleted."""

    deleted: str


class TrajectoryExport(BaseModel):
    """The most recent records of the trajectory log, oldest first: decision records (``type: "decision"``)
    and reward records (``type: "reward"``), as in the JSONL segments. ``unreadable`` counts lines that could
    not be parsed (a torn last line, a corrupted byte); ``reme trajectories verify`` names them."""

    records: list[dict[str, Any]]
    unreadable: int = 0


# ------------------------------------------------------------------------------------------------- SDK
def _sdk() -> tuple[Any, type[Exception]]:
    """The SDK's server class and the exception it turns into a tool error with our message: mcp 2.x's
    ``MCPServer``, else mcp 1.x's ``FastMCP``. Imported by name, so type checking works with either."""
    try:
        module = importlib.import_module("mcp.server.mcpserver")
        errors = importlib.import_module("mcp.server.mcpserver.exceptions")
        return module.MCPServer, errors.ToolError
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("mcp.server"):
            raise
    module = importlib.import_module("mcp.server.fastmcp")
    errors = importlib.import_module("mcp.server.fastmcp.exceptions")
    return module.FastMCP, errors.ToolError


_SERVER_CLASS, _TOOL_ERROR = _sdk()  # importing this module without the SDK fails here, before any workspace opens


def _annotations(**hints: bool) -> Any:
    """MCP tool annotations (``readOnlyHint``, ``destructiveHint``, ...), built by their wire names."""
    from mcp.types import ToolAnnotations

    return ToolAnnotations.model_validate(hints)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# ------------------------------------------------------------------------------------------------ server
def create_mcp_server(
    workspace: str | Path, *, memory: Any = None, llm: Any = None, dump_dir: str | Path | None = None
) -> Any:
    """The MCP server over ``workspace`` (or an already open ``memory``, for tests), with the memory tools
    registered. Returns the SDK's server object (``FastMCP`` on mcp 1.x, ``MCPServer`` on mcp 2.x); its tools'
    parameter types and docstrings are the tool schemas clients see. ``llm`` summarises for ``compact_messages``
    and ``summary_task_memory``; ``dump_dir`` is the only directory ``load_memory`` / ``dump_memory`` touch."""
    from reme.memory import Memory

    tool_error = _TOOL_ERROR
    mem = memory if memory is not None else Memory(workspace)
    lock = FairLock()
    server = _SERVER_CLASS(SERVER_NAME, instructions=INSTRUCTIONS)

    def run_locked(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with lock:
            return fn(*args, **kwargs)

    async def call(fn: Callable[[], T], *, whole: bool = True) -> T:
        """Run ``fn`` in a worker thread (under the lock when ``whole``; a task flow takes it per chunk itself);
        library errors become tool errors with their message."""

        def locked() -> T:
            return run_locked(fn) if whole else fn()

        try:
            return await anyio.to_thread.run_sync(locked)
        except NotFoundError as exc:
            raise tool_error(f"not found: {exc}") from None
        except ConflictError as exc:
            raise tool_error(f"conflict: {exc}") from None
        except RecursionError:
            raise tool_error("bad input: nested too deeply") from None
        except BadInputError as exc:
            raise tool_error(f"bad input: {exc}") from None
        except ValidationError as exc:
            raise tool_error(f"bad input: {exc.errors()[0]['msg']} at {list(exc.errors()[0]['loc'])}") from None
        except ReMeError as exc:
            raise tool_error(f"failed: {exc}") from None

    @server.tool()
    async def add_memory(
        content: Annotated[str, Field(description="The text to remember.")],
        target: Annotated[
            str | None, Field(description="'default' (when left out), 'user:NAME', 'task:NAME' or 'tool:NAME'.")
        ] = None,
        time: Annotated[
            str | None, Field(description="When it happened or was said, ISO 8601 (e.g. 2024-05-08T13:56:00).")
        ] = None,
        metadata: Annotated[dict[str, Any] | None, Field(description="Any JSON object kept with it.")] = None,
    ) -> AddResult:
        """Store one memory in a target. The write policy decides whether it is stored, discarded, or updates a
        near-duplicate; re-adding the same text to the same target updates that memory. Returns whether it was
        stored and the memory written (with its memory_id)."""

        def run() -> AddResult:
            node = mem.add(content, normalize_target(target), message_time=time or "", metadata=metadata)
            return AddResult(stored=node is not None, memory=node)

        return await call(run)

    @server.tool()
    async def search_memory(
        query: Annotated[str, Field(description="What to look for, in natural language.")],
        limit: Annotated[int, Field(ge=1, le=MAX_LIMIT, description="How many results at most.")] = 5,
        target: Annotated[str | None, Field(description="The target to search; 'default' when left out.")] = None,
        min_score: Annotated[
            float | None, Field(description="Drop results whose fused similarity is below this (default 0.1).")
        ] = None,
    ) -> SearchResult:
        """Search the memories of one target (hybrid dense + keyword retrieval, ranked by the learned rank policy).
        Returns a decision_id (pass it to feedback once you know whether the results helped) and the results,
        best first, each with memory_id, content, score and rank."""

        def run() -> SearchResult:
            name = normalize_target(target)
            decision, hits = mem.search_with_decision(query, limit, name, min_score=min_score)
            results = [
                SearchHitOut(
                    memory_id=h.memory.memory_id,
                    content=h.memory.content,
                    score=h.score,
                    vector_score=h.vector_score,
                    keyword_score=h.keyword_score,
                    rank=h.rank,
                    memory=h.memory,
                )
                for h in hits
            ]
            return SearchResult(decision_id=decision.decision_id, target=name, results=results)

        return await call(run)

    @server.tool(annotations=_annotations(readOnlyHint=True))
    async def get_memory(memory_id: Annotated[str, Field(description="The memory's id.")]) -> MemoryNode:
        """One memory by its id: content, target, type, times and metadata."""
        return await call(lambda: mem.get(memory_id))

    @server.tool(annotations=_annotations(readOnlyHint=True))
    async def list_memories(
        target: Annotated[str | None, Field(description="The target to list; 'default' when left out.")] = None,
        limit: Annotated[int | None, Field(ge=1, description="At most this many (all when left out).")] = None,
    ) -> MemoryList:
        """The memories of one target, oldest first."""

        def run() -> MemoryList:
            name = normalize_target(target)
            nodes = mem.list(name, limit)
            return MemoryList(target=name, count=len(nodes), memories=nodes)

        return await call(run)

    @server.tool(annotations=_annotations(idempotentHint=True))
    async def update_memory(
        memory_id: Annotated[str, Field(description="The memory's id.")],
        content: Annotated[str | None, Field(description="New text (unchanged when left out).")] = None,
        when_to_use: Annotated[
            str | None, Field(description="Text to index instead of the content (when to recall this memory).")
        ] = None,
        metadata: Annotated[dict[str, Any] | None, Field(description="New metadata (replaces the old).")] = None,
    ) -> MemoryNode:
        """Change a memory's content, when_to_use or metadata; it keeps its id. Returns the updated memory."""
        return await call(lambda: mem.update(memory_id, content, when_to_use=when_to_use, metadata=metadata))

    @server.tool(annotations=_annotations(destructiveHint=True, idempotentHint=True))
    async def delete_memory(memory_id: Annotated[str, Field(description="The memory's id.")]) -> Deleted:
        """Delete one memory."""

        def run() -> Deleted:
            mem.delete(memory_id)
            return Deleted(deleted=memory_id)

        return await call(run)

    @server.tool()
    async def feedback(
        value: Annotated[float, Field(description="The reward: 1 helped, 0 neutral, -1 wrong or useless.")],
        decision_id: Annotated[
            str | None, Field(description="A search's decision_id: reward that ranking decision.")
        ] = None,
        memory_id: Annotated[
            str | None, Field(description="A memory's id: reward the write decision that stored it.")
        ] = None,
    ) -> RewardEvent:
        """Record a reward for a search (decision_id) or a memory (memory_id); give exactly one of the two. The
        reward is appended to the trajectory log, where training joins it to the decision it names."""
        return await call(lambda: mem.feedback(value, decision_id=decision_id, memory_id=memory_id))

    @server.tool(annotations=_annotations(readOnlyHint=True))
    async def export_trajectories(
        limit: Annotated[
            int | None, Field(ge=1, description="Only the most recent records (all when left out).")
        ] = None,
    ) -> TrajectoryExport:
        """The trajectory log: every decision (searches, writes) and reward of this workspace, oldest first, as
        the JSON records training reads. With a limit, only the most recent ones."""

        def run() -> TrajectoryExport:
            kept: deque[dict[str, Any]] = deque(maxlen=limit)
            unreadable = 0
            for line in read_records(mem.workspace.trajectory_dir):
                if line.record is None:
                    unreadable += 1
                else:
                    kept.append(line.record.model_dump(mode="json"))
            return TrajectoryExport(records=list(kept), unreadable=unreadable)

        return await call(run)

    # ------------------------------------------------------------------ compaction and ReMe's task-memory flows
    flows = TaskFlows(mem, run_locked, llm=llm, dump_dir=dump_dir)

    async def flow(fn: Callable[[], T]) -> T:
        return await call(fn, whole=False)

    compact_policies: list[Any] = []

    @server.tool()
    async def compact_messages(
        messages: Annotated[
            list[dict[str, Any]], Field(description="The conversation: {role, content, ...} messages, oldest first.")
        ],
        memory_compact_threshold: Annotated[
            int | None, Field(ge=0, description="Compact at this many tokens (default ReMe's 87162).")
        ] = None,
        memory_compact_reserve: Annotated[int, Field(ge=0, description="Tokens that may stay verbatim.")] = 10000,
        summarize: Annotated[bool, Field(description="Summarise the compacted messages with the LLM.")] = True,
        previous_summary: Annotated[str, Field(description="The running summary to update.")] = "",
        target: Annotated[str | None, Field(description="The target the decision is logged under.")] = None,
    ) -> CompactOut:
        """Compact a conversation: the compact policy chooses which messages stay verbatim (a logged decision),
        and the LLM summarises the others. Returns the kept messages, the positions compacted and the summary; a
        failed summary compacts nothing."""
        body = CompactIn(
            messages=messages,
            memory_compact_threshold=memory_compact_threshold,
            memory_compact_reserve=memory_compact_reserve,
            summarize=summarize,
            previous_summary=previous_summary,
            target=target,
        )
        if not compact_policies:
            compact_policies.append(await call(lambda: active_compact_policy(mem)))

        async def locked(fn: Callable[..., T], *args: Any) -> T:
            return await call(lambda: fn(*args))

        return await compact(body, memory=mem, policy=compact_policies[0], llm=llm, locked=locked)

    @server.tool(annotations=_annotations(readOnlyHint=True))
    async def retrieve_task_memory(
        workspace_id: Annotated[str, Field(description="ReMe's task workspace (target task:<workspace_id>).")],
        query: Annotated[str, Field(description="What the agent is about to do.")] = "",
        messages: Annotated[
            list[dict[str, Any]] | None, Field(description="Or the conversation: its last user message is the query.")
        ] = None,
        top_k: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 5,
    ) -> FlowResponse:
        """ReMe's retrieve_task_memory: task memories for a query, as text (answer) and records
        (metadata.memory_list); metadata.decision_id names the ranking decision for feedback."""
        return await flow(
            lambda: flows.retrieve(
                RetrieveTaskMemoryIn(workspace_id=workspace_id, query=query, messages=messages, top_k=top_k)
            )
        )

    @server.tool()
    async def summary_task_memory(
        workspace_id: Annotated[str, Field(description="ReMe's task workspace.")],
        trajectories: Annotated[
            list[dict[str, Any]], Field(description="Task attempts: {messages: [...], score: number}.")
        ],
        success_threshold: Annotated[float, Field(description="A score at least this is a success.")] = 1.0,
    ) -> FlowResponse:
        """ReMe's summary_task_memory: the LLM extracts reusable know-how from task attempts (told which
        succeeded); each proposal passes the write policy."""
        body = SummaryTaskMemoryIn.model_validate(
            {"workspace_id": workspace_id, "trajectories": trajectories, "success_threshold": success_threshold}
        )
        return await flow(lambda: flows.summary(body))

    @server.tool()
    async def add_task_memory(
        workspace_id: Annotated[str, Field(description="ReMe's task workspace.")],
        memory_list: Annotated[
            list[dict[str, Any]], Field(description="Task memories: {content, when_to_use?, score?, metadata?}.")
        ],
    ) -> FlowResponse:
        """ReMe's add_task_memory: store task memories as given (always stored)."""
        body = AddTaskMemoryIn.model_validate({"workspace_id": workspace_id, "memory_list": memory_list})
        return await flow(lambda: flows.add(body))

    @server.tool()
    async def record_task_memory(
        workspace_id: Annotated[str, Field(description="ReMe's task workspace.")],
        memory_list: Annotated[list[str | dict[str, Any]], Field(description="The memories (ids) the task used.")],
        update_utility: Annotated[bool, Field(description="True when the task went well.")] = False,
        decision_id: Annotated[str | None, Field(description="The retrieval decision that found them.")] = None,
    ) -> FlowResponse:
        """ReMe's record_task_memory, after a task: freq += 1 and, on success, utility += 1 for each memory it
        used; also a reward (1 or 0) on those memories and on the retrieval decision."""
        body = RecordTaskMemoryIn.model_validate(
            {
                "workspace_id": workspace_id,
                "memory_list": memory_list,
                "update_utility": update_utility,
                "decision_id": decision_id,
            }
        )
        return await flow(lambda: flows.record(body))

    @server.tool(annotations=_annotations(destructiveHint=True))
    async def delete_task_memory(
        workspace_id: Annotated[str, Field(description="ReMe's task workspace.")],
        freq_threshold: Annotated[int, Field(ge=1)] = 5,
        utility_threshold: float = 0.5,
    ) -> FlowResponse:
        """ReMe's delete_task_memory: delete memories used at least freq_threshold times whose utility / freq is
        below utility_threshold."""
        body = DeleteTaskMemoryIn(
            workspace_id=workspace_id, freq_threshold=freq_threshold, utility_threshold=utility_threshold
        )
        return await flow(lambda: flows.delete(body))

    @server.tool()
    async def load_memory(
        workspace_id: Annotated[str, Field(description="ReMe's task workspace.")],
        load_file_path: Annotated[str, Field(description="A file or folder inside the server's dump directory.")] = "",
        clear_existing: bool = False,
    ) -> FlowResponse:
        """ReMe's load_memory: load a JSON Lines dump into the task workspace."""
        body = LoadMemoryIn(workspace_id=workspace_id, load_file_path=load_file_path, clear_existing=clear_existing)
        return await flow(lambda: flows.load(body))

    @server.tool()
    async def dump_memory(
        workspace_id: Annotated[str, Field(description="ReMe's task workspace.")],
        dump_file_path: Annotated[str, Field(description="A file or folder inside the server's dump directory.")] = "",
    ) -> FlowResponse:
        """ReMe's dump_memory: write the task workspace's memories as JSON Lines."""
        body = DumpMemoryIn(workspace_id=workspace_id, dump_file_path=dump_file_path)
        return await flow(lambda: flows.dump(body))

    # ------------------------------------------------------------------ ReMe's personal and tool memory flows
    more = PersonalToolFlows(flows)

    @server.tool(annotations=_annotations(readOnlyHint=True))
    async def retrieve_personal_memory(
        workspace_id: Annotated[str, Field(description="ReMe's workspace (personal target user:<workspace_id>).")],
        query: Annotated[str, Field(description="What to look for.")],
        top_k: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 5,
    ) -> FlowResponse:
        """ReMe's retrieve_personal_memory: the personal memories for a query (metadata.decision_id names the
        ranking decision for feedback)."""
        body = RetrievePersonalMemoryIn(workspace_id=workspace_id, query=query, top_k=top_k)
        return await flow(lambda: more.retrieve_personal(body))

    @server.tool()
    async def summary_personal_memory(
        workspace_id: Annotated[str, Field(description="ReMe's workspace.")],
        trajectories: Annotated[list[dict[str, Any]], Field(description="Conversations: {messages: [...]}.")],
    ) -> FlowResponse:
        """ReMe's summary_personal_memory: personal memories from conversations, through the write policy."""
        body = SummaryPersonalMemoryIn.model_validate({"workspace_id": workspace_id, "trajectories": trajectories})
        return await flow(lambda: more.summary_personal(body))

    @server.tool()
    async def add_tool_call_result(
        workspace_id: Annotated[str, Field(description="ReMe's workspace (tool target tool:<workspace_id>).")],
        tool_call_results: Annotated[
            list[dict[str, Any]],
            Field(description="Tool calls: {tool_name, input, output, success, time_cost, token_cost, create_time}."),
        ],
    ) -> FlowResponse:
        """ReMe's add_tool_call_result: record tool calls in each tool's memory (their success is a reward)."""
        body = AddToolCallResultIn.model_validate(
            {"workspace_id": workspace_id, "tool_call_results": tool_call_results}
        )
        return await flow(lambda: more.add_tool_calls(body))

    @server.tool()
    async def summary_tool_memory(
        workspace_id: Annotated[str, Field(description="ReMe's workspace.")],
        tool_names: Annotated[str, Field(description="Comma-separated tool names.")],
    ) -> FlowResponse:
        """ReMe's summary_tool_memory: the LLM turns each tool's recent calls into usage guidance."""
        body = ToolNamesIn(workspace_id=workspace_id, tool_names=tool_names)
        return await flow(lambda: more.summary_tools(body))

    @server.tool(annotations=_annotations(readOnlyHint=True))
    async def retrieve_tool_memory(
        workspace_id: Annotated[str, Field(description="ReMe's workspace.")],
        tool_names: Annotated[str, Field(description="Comma-separated tool names.")],
    ) -> FlowResponse:
        """ReMe's retrieve_tool_memory: the memories of the named tools."""
        body = ToolNamesIn(workspace_id=workspace_id, tool_names=tool_names)
        return await flow(lambda: more.retrieve_tools(body))

    @server.tool(annotations=_annotations(destructiveHint=True))
    async def vector_store(
        workspace_id: Annotated[str, Field(description="ReMe's workspace.")],
        action: Annotated[str, Field(description="copy, delete, delete_ids, dump, load or list.")],
        src_workspace_id: Annotated[str | None, Field(description="copy: the workspace to copy from.")] = None,
        memory_ids: Annotated[list[str] | None, Field(description="delete_ids: the memories to delete.")] = None,
        path: Annotated[str, Field(description="dump / load: a file in the workspace's dump folder.")] = "",
    ) -> FlowResponse:
        """ReMe's vector_store actions over the workspace's personal, task and tool memories."""
        body = VectorStoreIn.model_validate(
            {"workspace_id": workspace_id, "action": action, "src_workspace_id": src_workspace_id,
             "memory_ids": memory_ids or [], "path": path}
        )  # fmt: skip
        return await flow(lambda: more.vector_store(body))

    return server


# --------------------------------------------------------------------------------------------------- run
def _transport_security(host: str) -> Any:
    """DNS-rebinding protection for a loopback bind: only Host and Origin headers naming a loopback address
    (with any port) are served. ``None`` where the SDK has no such setting."""
    try:
        module = importlib.import_module("mcp.server.transport_security")
    except ModuleNotFoundError:
        return None
    names = ["127.0.0.1", "localhost", "[::1]"]
    bare = host.strip("[]")
    shown = f"[{bare}]" if ":" in bare else bare
    if shown not in names:
        names.append(shown)
    return module.TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{name}:*" for name in names],
        allowed_origins=[f"http://{name}:*" for name in names],
    )


def run_mcp(
    workspace: str | Path,
    transport: Literal["stdio", "http", "sse"] | str = "stdio",
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    llm: Any = None,
    dump_dir: str | Path | None = None,
    request_timeout: float | None = None,
    max_connections: int | None = None,
    max_per_client: int | None = None,
) -> None:
    """Serve the workspace's memory tools until the client disconnects (stdio) or the process is stopped (http).

    ``stdio``: JSON-RPC on stdin/stdout, for clients that spawn the server (desktop assistants, IDEs); nothing
    else may write to stdout. ``http``: the SDK's streamable HTTP transport at ``http://HOST:PORT/mcp``; ``sse``:
    its server-sent events transport (ReMe 0.3.x's default) at ``/sse`` and ``/messages/``. Neither has auth, so a
    host that is not a loopback address is refused with ``BadInputError``; it runs under the request-read
    deadline and connection caps of ``reme.service.server`` (``request_timeout``, ``max_connections``,
    ``max_per_client``)."""
    if transport not in ("stdio", "http", "sse"):
        raise BadInputError(f"unknown transport {transport!r}: use stdio, http or sse")
    if transport in ("http", "sse"):
        if not is_loopback(host):
            raise BadInputError(
                f"refusing to serve MCP on {host}: the MCP transport has no auth, so it binds only to a loopback "
                "address (127.0.0.1, ::1, localhost); use `reme serve --token-file` for remote access"
            )
        if not 0 < port < 65536:
            raise BadInputError(f"invalid port {port}")
    from reme.memory import Memory

    memory = Memory(workspace)
    server = create_mcp_server(workspace, memory=memory, llm=llm, dump_dir=dump_dir)
    try:
        if transport == "stdio":
            server.run("stdio")
            return
        from .server import run_server

        security = _transport_security(host)
        settings = getattr(server, "settings", None)
        make_app = server.sse_app if transport == "sse" else server.streamable_http_app
        if settings is not None and hasattr(settings, "host"):  # mcp 1.x: the app reads its settings
            settings.host, settings.port = host, port
            if security is not None:
                settings.transport_security = security
            app = make_app()
        else:  # mcp 2.x: options go to the app
            app = make_app(transport_security=security, host=host)
        limits: dict[str, Any] = {}
        if request_timeout is not None:
            limits["request_timeout"] = request_timeout
        if max_connections is not None:
            limits["max_connections"] = max_connections
        if max_per_client is not None:
            limits["max_per_client"] = max_per_client
        run_server(app, host, port, **limits)  # the request-read deadline and connection cap of ``reme serve``
    finally:
        memory.close()
