"""The tools of ``reme mcp``: thin adapters over the service's shared operations (``reme.service.ops``,
``compaction``, ReMe's flows in ``task_flows`` and ``personal_tool_flows``). Each tool's parameter types and
docstring are the schema clients see; its body builds the operation's input and runs it through a
:class:`ToolRunner`, which runs it off the event loop under the workspace lock and turns library errors into MCP
tool errors (``isError``) whose text names the problem.

The tools are registered in groups, in this order (the order ``list_tools`` answers): the memory tools, the
compaction tool, ReMe's task-memory flows, and its personal and tool memory flows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from pydantic import Field, ValidationError

from reme.errors import BadInputError, ConflictError, NotFoundError, ReMeError
from reme.policy.trajectory import RewardEvent
from reme.schema import MemoryNode

from . import ops
from .compaction import CompactIn, Compaction, CompactOut
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

__all__ = ["ToolRunner", "compaction_tool", "memory_tools", "personal_and_tool_flow_tools", "task_flow_tools"]

T = TypeVar("T")


def _annotations(**hints: bool) -> Any:
    """MCP tool annotations (``readOnlyHint``, ``destructiveHint``, ...), built by their wire names."""
    from mcp.types import ToolAnnotations

    return ToolAnnotations.model_validate(hints)


class ToolRunner:
    """Runs a tool's operation in a worker thread: a write under the workspace's lock (every write of the server
    shares it; a task flow takes it per chunk itself), a read or a reward without it (``read``), with library errors
    raised as the SDK's tool error."""

    def __init__(self, lock: FairLock, tool_error: type[Exception]) -> None:
        self.lock = lock
        self.tool_error = tool_error

    def locked(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` under the lock, in the calling thread."""
        with self.lock:
            return fn(*args, **kwargs)

    async def call(self, fn: Callable[[], T], *, whole: bool = True) -> T:
        """Run ``fn`` in a worker thread (under the lock when ``whole``; a task flow takes it per chunk itself);
        library errors become tool errors with their message."""
        tool_error = self.tool_error

        def run() -> T:
            return self.locked(fn) if whole else fn()

        try:
            return await anyio.to_thread.run_sync(run)
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

    async def read(self, fn: Callable[[], T]) -> T:
        """A read or a reward: ``call`` without the lock (as the HTTP routes' ``Access.read``)."""
        return await self.call(fn, whole=False)

    async def flow(self, fn: Callable[[], T]) -> T:
        """A ReMe flow: ``call`` without the whole-call lock (the flow takes it per chunk)."""
        return await self.call(fn, whole=False)


def memory_tools(server: Any, mem: Any, runner: ToolRunner) -> None:
    """add_memory, search_memory, get_memory, list_memories, update_memory, delete_memory, feedback and
    export_trajectories."""

    @server.tool()
    async def add_memory(
        content: Annotated[str, Field(description="The text to remember.")],
        target: Annotated[
            str | None,
            Field(
                description="'default' (when left out), 'user:NAME', 'agent:NAME', 'task:NAME', 'tool:NAME' or "
                "'file:NAME'."
            ),
        ] = None,
        time: Annotated[
            str | None, Field(description="When it happened or was said, ISO 8601 (e.g. 2024-05-08T13:56:00).")
        ] = None,
        metadata: Annotated[dict[str, Any] | None, Field(description="Any JSON object kept with it.")] = None,
    ) -> ops.AddResult:
        """Store one memory in a target. The write policy decides whether it is stored, discarded, or updates a
        near-duplicate; re-adding the same text to the same target updates that memory. Returns whether it was
        stored and the memory written (with its memory_id)."""

        return await runner.call(lambda: ops.add_memory(mem, content, target, time=time, metadata=metadata))

    @server.tool()
    async def search_memory(
        query: Annotated[str, Field(description="What to look for, in natural language.")],
        limit: Annotated[int, Field(ge=1, le=ops.MAX_LIMIT, description="How many results at most.")] = 5,
        target: Annotated[str | None, Field(description="The target to search; 'default' when left out.")] = None,
        min_score: Annotated[
            float | None, Field(description="Drop results whose fused similarity is below this (default 0.1).")
        ] = None,
        filters: Annotated[
            dict[str, Any] | None,
            Field(description="Only memories whose metadata matches: {key: value} or {key: [values]}."),
        ] = None,
    ) -> ops.SearchResult:
        """Search the memories of one target (hybrid dense + keyword retrieval, ranked by the learned rank policy).
        Returns a decision_id (pass it to feedback once you know whether the results helped) and the results,
        best first, each with memory_id, content, score and rank."""

        return await runner.read(
            lambda: ops.search_memory(mem, query, limit, target, min_score=min_score, filters=filters)
        )

    @server.tool(annotations=_annotations(readOnlyHint=True))
    async def get_memory(memory_id: Annotated[str, Field(description="The memory's id.")]) -> MemoryNode:
        """One memory by its id: content, target, type, times and metadata."""
        return await runner.read(lambda: ops.get_memory(mem, memory_id))

    @server.tool(annotations=_annotations(readOnlyHint=True))
    async def list_memories(
        target: Annotated[str | None, Field(description="The target to list; 'default' when left out.")] = None,
        limit: Annotated[int | None, Field(ge=1, description="At most this many (all when left out).")] = None,
    ) -> ops.MemoryList:
        """The memories of one target, oldest first."""

        return await runner.read(lambda: ops.list_memories(mem, target, limit))

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
        return await runner.call(
            lambda: ops.update_memory(mem, memory_id, content, when_to_use=when_to_use, metadata=metadata)
        )

    @server.tool(annotations=_annotations(destructiveHint=True, idempotentHint=True))
    async def delete_memory(memory_id: Annotated[str, Field(description="The memory's id.")]) -> ops.Deleted:
        """Delete one memory."""

        return await runner.call(lambda: ops.delete_memory(mem, memory_id))

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
        return await runner.read(lambda: ops.feedback(mem, value, decision_id=decision_id, memory_id=memory_id))

    @server.tool(annotations=_annotations(readOnlyHint=True))
    async def export_trajectories(
        limit: Annotated[
            int | None, Field(ge=1, description="Only the most recent records (all when left out).")
        ] = None,
    ) -> ops.TrajectoryExport:
        """The trajectory log: every decision (searches, writes) and reward of this workspace, oldest first, as
        the JSON records training reads. With a limit, only the most recent ones."""

        return await runner.read(lambda: ops.export_trajectories(mem, limit))


def compaction_tool(server: Any, compaction: Compaction, runner: ToolRunner) -> None:
    """compact_messages."""

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

        async def locked(fn: Callable[..., T], *args: Any) -> T:
            return await runner.call(lambda: fn(*args))

        return await compaction(body, locked)


def task_flow_tools(server: Any, flows: TaskFlows, runner: ToolRunner) -> None:
    """ReMe's task-memory flows: retrieve, summary, add, record and delete task memory, load and dump."""

    @server.tool(annotations=_annotations(readOnlyHint=True))
    async def retrieve_task_memory(
        workspace_id: Annotated[str, Field(description="ReMe's task workspace (target task:<workspace_id>).")],
        query: Annotated[str, Field(description="What the agent is about to do.")] = "",
        messages: Annotated[
            list[dict[str, Any]] | None, Field(description="Or the conversation: its last user message is the query.")
        ] = None,
        top_k: Annotated[int, Field(ge=1, le=ops.MAX_LIMIT)] = 5,
    ) -> FlowResponse:
        """ReMe's retrieve_task_memory: task memories for a query, as text (answer) and records
        (metadata.memory_list); metadata.decision_id names the ranking decision for feedback."""
        return await runner.flow(
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
        return await runner.flow(lambda: flows.summary(body))

    @server.tool()
    async def add_task_memory(
        workspace_id: Annotated[str, Field(description="ReMe's task workspace.")],
        memory_list: Annotated[
            list[dict[str, Any]], Field(description="Task memories: {content, when_to_use?, score?, metadata?}.")
        ],
    ) -> FlowResponse:
        """ReMe's add_task_memory: store task memories as given (always stored)."""
        body = AddTaskMemoryIn.model_validate({"workspace_id": workspace_id, "memory_list": memory_list})
        return await runner.flow(lambda: flows.add(body))

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
        return await runner.flow(lambda: flows.record(body))

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
        return await runner.flow(lambda: flows.delete(body))

    @server.tool()
    async def load_memory(
        workspace_id: Annotated[str, Field(description="ReMe's task workspace.")],
        load_file_path: Annotated[str, Field(description="A file or folder inside the server's dump directory.")] = "",
        clear_existing: bool = False,
    ) -> FlowResponse:
        """ReMe's load_memory: load a JSON Lines dump into the task workspace."""
        body = LoadMemoryIn(workspace_id=workspace_id, load_file_path=load_file_path, clear_existing=clear_existing)
        return await runner.flow(lambda: flows.load(body))

    @server.tool()
    async def dump_memory(
        workspace_id: Annotated[str, Field(description="ReMe's task workspace.")],
        dump_file_path: Annotated[str, Field(description="A file or folder inside the server's dump directory.")] = "",
    ) -> FlowResponse:
        """ReMe's dump_memory: write the task workspace's memories as JSON Lines."""
        body = DumpMemoryIn(workspace_id=workspace_id, dump_file_path=dump_file_path)
        return await runner.flow(lambda: flows.dump(body))


def personal_and_tool_flow_tools(server: Any, more: PersonalToolFlows, runner: ToolRunner) -> None:
    """ReMe's personal and tool memory flows, and its vector_store actions."""

    @server.tool(annotations=_annotations(readOnlyHint=True))
    async def retrieve_personal_memory(
        workspace_id: Annotated[str, Field(description="ReMe's workspace (personal target user:<workspace_id>).")],
        query: Annotated[str, Field(description="What to look for.")],
        top_k: Annotated[int, Field(ge=1, le=ops.MAX_LIMIT)] = 5,
    ) -> FlowResponse:
        """ReMe's retrieve_personal_memory: the personal memories for a query (metadata.decision_id names the
        ranking decision for feedback)."""
        body = RetrievePersonalMemoryIn(workspace_id=workspace_id, query=query, top_k=top_k)
        return await runner.flow(lambda: more.retrieve_personal(body))

    @server.tool()
    async def summary_personal_memory(
        workspace_id: Annotated[str, Field(description="ReMe's workspace.")],
        trajectories: Annotated[list[dict[str, Any]], Field(description="Conversations: {messages: [...]}.")],
    ) -> FlowResponse:
        """ReMe's summary_personal_memory: personal memories from conversations, through the write policy."""
        body = SummaryPersonalMemoryIn.model_validate({"workspace_id": workspace_id, "trajectories": trajectories})
        return await runner.flow(lambda: more.summary_personal(body))

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
        return await runner.flow(lambda: more.add_tool_calls(body))

    @server.tool()
    async def summary_tool_memory(
        workspace_id: Annotated[str, Field(description="ReMe's workspace.")],
        tool_names: Annotated[str, Field(description="Comma-separated tool names.")],
    ) -> FlowResponse:
        """ReMe's summary_tool_memory: the LLM turns each tool's recent calls into usage guidance."""
        body = ToolNamesIn(workspace_id=workspace_id, tool_names=tool_names)
        return await runner.flow(lambda: more.summary_tools(body))

    @server.tool(annotations=_annotations(readOnlyHint=True))
    async def retrieve_tool_memory(
        workspace_id: Annotated[str, Field(description="ReMe's workspace.")],
        tool_names: Annotated[str, Field(description="Comma-separated tool names.")],
    ) -> FlowResponse:
        """ReMe's retrieve_tool_memory: the memories of the named tools."""
        body = ToolNamesIn(workspace_id=workspace_id, tool_names=tool_names)
        return await runner.flow(lambda: more.retrieve_tools(body))

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
        return await runner.flow(lambda: more.vector_store(body))
