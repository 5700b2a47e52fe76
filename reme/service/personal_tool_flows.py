"""ReMe 0.3.x's personal-memory and tool-memory flows, and its ``vector_store`` actions, as its HTTP service and MCP
server offered them (``reme_ai``'s ``default.yaml``). Bodies and responses are ReMe's (``{answer, success, messages,
metadata}``); a ReMe ``workspace_id`` holds three kinds of memory, which here are three targets: ``user:<id>``
(personal), ``task:<id>`` (task, ``reme.service.task_flows``) and ``tool:<id>`` (tool).

- ``retrieve_personal_memory {workspace_id, query, top_k?}``: the rank policy's search of ``user:<id>`` (one logged
  ``rank`` decision, its id in ``metadata.decision_id``); ``answer`` lists the memories.
- ``summary_personal_memory {workspace_id, trajectories: [{messages}]}``: the vector ``ReMe`` summariser (personal
  focus) over each trajectory's messages, its proposals through the write policy (without an LLM the user turns are
  the candidates, as ``summarize_memory`` does).
- ``add_tool_call_result {workspace_id, tool_call_results: [{tool_name, input, output, success, time_cost,
  token_cost, create_time}]}``: each call is appended to its tool's memory (one memory per tool in ``tool:<id>``,
  found by ``when_to_use`` = the tool's name, as ReMe keys it; the last ``MAX_CALLS`` calls kept in metadata), whose
  text, until a summary replaces it, is the tool's call statistics. Each call's ``success`` is also a ``task`` reward
  (1 or 0) on that memory, credited to the write that stored it.
- ``summary_tool_memory {workspace_id, tool_names: "a,b"}``: the LLM turns each tool's recent calls into usage
  guidance, which becomes the memory's text (a ``write`` decision of policy ``llm-tool-summarizer`` with its token
  log-probabilities). Needs an LLM (503 without).
- ``retrieve_tool_memory {workspace_id, tool_names: "a,b"}``: those tools' memories (a lookup by name, no ranking).
- ``vector_store {workspace_id, action, ...}``: ``list`` (every memory of the three targets), ``delete`` (all of
  them), ``delete_ids`` (``memory_ids``: an id of another workspace is answered as a missing one), ``dump`` / ``load``
  (``path``, inside the workspace's own dump folder, as ``dump_memory``), ``copy`` (from ``src_workspace_id``).
  ``metadata.action_result`` holds the result, as in ReMe.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reme.errors import BadInputError, NotFoundError
from reme.schema import MemoryNode, normalize_target

from .task_flows import FlowResponse, LLMUnavailableError, TaskFlows

__all__ = [
    "MAX_CALLS",
    "AddToolCallResultIn",
    "PersonalToolFlows",
    "RetrievePersonalMemoryIn",
    "SummaryPersonalMemoryIn",
    "ToolCallResult",
    "ToolNamesIn",
    "VectorStoreIn",
    "workspace_targets",
]

MAX_CALLS = 100
"""Tool calls kept per tool memory (ReMe's ``max_history_tool_call_cnt``)."""
LLM_TOOL_SUMMARIZER = "llm-tool-summarizer"


def workspace_targets(workspace_id: str) -> dict[str, str]:
    """The three targets of a ReMe workspace: ``personal``, ``task`` and ``tool``."""
    return {kind: normalize_target(f"{prefix}:{workspace_id}") for kind, prefix in
            (("personal", "user"), ("task", "task"), ("tool", "tool"))}  # fmt: skip


class _FlowIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    workspace_id: str = Field(min_length=1, max_length=200)


class RetrievePersonalMemoryIn(_FlowIn):
    query: str = Field(min_length=1)
    top_k: int = Field(default=5, ge=1, le=1000)


class PersonalTrajectory(BaseModel):
    model_config = ConfigDict(extra="allow")
    messages: list[dict[str, Any]]


class SummaryPersonalMemoryIn(_FlowIn):
    trajectories: list[PersonalTrajectory] = Field(min_length=1, max_length=1000)


class ToolCallResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    tool_name: str = Field(min_length=1, max_length=200)
    input: dict[str, Any] | str = ""
    output: str = ""
    success: bool = True
    time_cost: float = 0.0
    token_cost: int = -1
    create_time: str = ""


class AddToolCallResultIn(_FlowIn):
    tool_call_results: list[ToolCallResult] = Field(min_length=1, max_length=10000)


class ToolNamesIn(_FlowIn):
    tool_names: str = Field(min_length=1, max_length=10000)
    """Comma-separated tool names."""

    def names(self) -> list[str]:
        return list(dict.fromkeys(n.strip() for n in self.tool_names.split(",") if n.strip()))


class VectorStoreIn(_FlowIn):
    action: Literal["copy", "delete", "delete_ids", "dump", "load", "list"]
    src_workspace_id: str | None = Field(default=None, max_length=200)
    memory_ids: list[str] = Field(default_factory=list, max_length=10000)
    path: str = ""


def _stats_text(tool: str, calls: list[dict[str, Any]]) -> str:
    """A tool memory's text before (or without) a summary: its call statistics."""
    n = len(calls)
    ok = sum(1 for c in calls if c.get("success"))
    times = [float(c.get("time_cost") or 0.0) for c in calls]
    mean = sum(times) / n if n else 0.0
    return f"Tool {tool}: {n} recorded calls, {ok} succeeded ({ok / n:.0%}), mean time {mean:.2f} s."


def _summary_prompt(tool: str, calls: list[dict[str, Any]]) -> list[dict[str, str]]:
    lines = [
        f"- input: {json.dumps(c.get('input'), ensure_ascii=False)[:300]}; output: {str(c.get('output'))[:300]}; "
        f"success: {c.get('success')}; time: {c.get('time_cost')} s"
        for c in calls
    ]
    system = (
        "You write short usage guidance for a tool an agent uses, from its recent calls: when to use it, how to "
        "call it well (arguments that worked), what made calls fail, and what to avoid. Answer with the guidance "
        "only, a few lines of plain text."
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": f"Tool: {tool}\n" + "\n".join(lines)}]


class PersonalToolFlows:
    """The flows of the module docstring over one open ``Memory``; ``run`` and ``llm`` as ``TaskFlows``'."""

    def __init__(self, tasks: TaskFlows) -> None:
        self.tasks = tasks
        self.memory = tasks.memory
        self.run: Callable[..., Any] = tasks.run

    # ------------------------------------------------------------------------------------------- personal
    def retrieve_personal(self, body: RetrievePersonalMemoryIn) -> FlowResponse:
        return self.tasks.search_response(body.query, body.top_k, workspace_targets(body.workspace_id)["personal"])

    def summary_personal(self, body: SummaryPersonalMemoryIn) -> FlowResponse:
        from reme.vector import ReMe

        vector = ReMe(working_dir=self.memory.workspace.root, llm=self.tasks.llm)
        vector.memory = self.memory
        written: list[MemoryNode] = []
        exchange: list[dict[str, Any]] = []
        success = True
        for trajectory in body.trajectories:
            result = self.run(
                lambda t=trajectory: asyncio.run(
                    vector.summarize_memory(t.messages, user_name=body.workspace_id, return_dict=True)
                )
            )
            written.extend(result["memory_list"])
            exchange.extend(result["messages"])
            success = success and bool(result["success"])
        return FlowResponse(
            answer=f"{len(written)} personal memories written",
            success=success,
            messages=exchange,
            metadata={"memory_list": [n.model_dump() for n in written], "decision_ids": vector.last_decision_ids},
        )

    # ----------------------------------------------------------------------------------------------- tool
    def _tool_memories(self, target: str, names: list[str]) -> dict[str, MemoryNode]:
        """The existing memory of each named tool (by ``when_to_use``)."""
        wanted = set(names)
        return {n.when_to_use: n for n in self.memory.list(target) if n.when_to_use in wanted}

    def add_tool_calls(self, body: AddToolCallResultIn) -> FlowResponse:
        from reme.vector import explicit_write_policy

        target = workspace_targets(body.workspace_id)["tool"]
        by_tool: dict[str, list[dict[str, Any]]] = {}
        for call in body.tool_call_results:
            by_tool.setdefault(call.tool_name, []).append(call.model_dump())

        def write() -> list[MemoryNode]:
            existing = self._tool_memories(target, list(by_tool))
            out = []
            for tool, calls in by_tool.items():
                node = existing.get(tool)
                history = (list(node.metadata.get("tool_call_results", [])) if node else []) + calls
                history = history[-MAX_CALLS:]
                metadata = {**(node.metadata if node else {}), "tool_name": tool, "tool_call_results": history}
                if node is None or not node.metadata.get("summarized"):
                    content = _stats_text(tool, history)
                else:
                    content = node.content
                if node is None:
                    (node,) = self.memory.add_many(
                        [{"content": content, "when_to_use": tool, "memory_type": "tool", "metadata": metadata,
                          "memory_target": target}], policy=explicit_write_policy(),
                    )  # fmt: skip
                else:
                    node = self.memory.update(node.memory_id, content, metadata=metadata)
                for call in calls:  # each call's outcome is a reward on the tool's memory
                    self.memory.feedback(1.0 if call.get("success") else 0.0, memory_id=node.memory_id, source="task")
                out.append(node)
            return out

        written = self.run(write)
        return FlowResponse(
            answer="\n".join(n.content for n in written),
            metadata={"memory_list": [n.model_dump() for n in written], "deleted_memory_ids": []},
        )

    def summary_tools(self, body: ToolNamesIn) -> FlowResponse:
        from reme.llm.decisions import llm_decision

        llm = self.tasks.llm
        if llm is None:
            raise LLMUnavailableError(
                "summary_tool_memory needs an LLM: start the server with --llm-base-url (or set $LLM_BASE_URL)"
            )
        target = workspace_targets(body.workspace_id)["tool"]
        found = self.run(self._tool_memories, target, body.names())
        if not found:
            return FlowResponse(answer="No matching tool memories found", success=False)
        written: list[MemoryNode] = []
        exchange: list[dict[str, Any]] = []
        for tool, node in found.items():
            calls = list(node.metadata.get("tool_call_results", []))[-20:]
            prompt = _summary_prompt(tool, calls)
            result = llm.chat(prompt)
            text = result.text.strip()
            decision = llm_decision(
                "write", LLM_TOOL_SUMMARIZER, "write" if text else "silent", result, memory_ids=[node.memory_id],
                inputs={"messages": prompt}, extra={"target": target, "tool": tool},
            )  # fmt: skip
            self.run(self.memory.log_decision, decision)
            exchange.extend([*prompt, {"role": "assistant", "content": result.text}])
            if text:
                metadata = {**node.metadata, "summarized": True, "llm_decision_id": decision.decision_id}
                written.append(self.run(self.memory.update, node.memory_id, text, metadata=metadata))
        return FlowResponse(
            answer="\n\n".join(f"{n.when_to_use}: {n.content}" for n in written),
            success=bool(written),
            messages=exchange,
            metadata={"memory_list": [n.model_dump() for n in written]},
        )

    def retrieve_tools(self, body: ToolNamesIn) -> FlowResponse:
        target = workspace_targets(body.workspace_id)["tool"]
        found = self.run(self._tool_memories, target, body.names())
        if not found:
            return FlowResponse(answer="No matching tool memories found", success=False)
        nodes = [found[name] for name in body.names() if name in found]
        return FlowResponse(
            answer="\n\n".join(f"## {n.when_to_use}\n{n.content}" for n in nodes),
            metadata={"memory_list": [n.model_dump() for n in nodes]},
        )

    # --------------------------------------------------------------------------------------- vector_store
    def vector_store(self, body: VectorStoreIn) -> FlowResponse:
        targets = list(workspace_targets(body.workspace_id).values())
        result: Any
        if body.action == "list":
            nodes = self.run(lambda: [n for t in targets for n in self.memory.list(t)])
            result = [n.model_dump() for n in nodes]
        elif body.action == "delete":
            result = self.run(lambda: sum(int(self.memory.delete_target(t)) for t in targets))
        elif body.action == "delete_ids":

            def delete_ids() -> int:
                owners = self.memory.records.targets_of(body.memory_ids)
                for memory_id in body.memory_ids:
                    if owners.get(memory_id) not in targets:  # another workspace's id: as a missing one
                        raise NotFoundError(f"no memory with id {memory_id!r}")
                return int(self.memory.delete_many(body.memory_ids))

            result = self.run(delete_ids)
        elif body.action == "dump":
            result = self._dump(body.workspace_id, body.path, targets)
        elif body.action == "load":
            result = self._load(body.workspace_id, body.path)
        else:  # copy
            if not body.src_workspace_id:
                raise BadInputError("copy needs src_workspace_id")
            sources = workspace_targets(body.src_workspace_id)
            destinations = workspace_targets(body.workspace_id)
            items = [
                {**n.model_dump(exclude={"memory_id", "time_modified"}), "memory_target": destinations[kind]}
                for kind, source in sources.items()
                for n in self.run(self.memory.list, source)
            ]
            result = len(self.tasks.write_explicit(items, "new_id"))
        return FlowResponse(answer=f"{body.action} done", metadata={"action_result": str(result)})

    def _dump(self, workspace_id: str, given: str, targets: list[str]) -> dict[str, Any]:
        """Every memory of the workspace's three targets as JSON Lines in its dump folder."""
        from reme.atomic import write_atomic

        path = self.tasks.resolve(given, workspace_id)
        nodes = self.run(lambda: [n for t in targets for n in self.memory.list(t)])
        data = "".join(json.dumps(n.model_dump(), ensure_ascii=False) + "\n" for n in nodes).encode("utf-8")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data)
        except OSError as exc:
            raise BadInputError(
                f"cannot write the dump {self.tasks.display(path, workspace_id)}: {exc.strerror}"
            ) from None
        return {"dumped": len(nodes), "path": self.tasks.display(path, workspace_id)}

    def _load(self, workspace_id: str, given: str) -> dict[str, Any]:
        """A dump of the workspace's folder back into its three targets, each record by its kind."""
        from reme.importers.reme03 import read_dump, record_to_item

        path = self.tasks.resolve(given, workspace_id)
        if not path.is_file():
            raise BadInputError(f"no dump file {self.tasks.display(path, workspace_id)}")
        kinds = {"user": "personal", "task": "task", "tool": "tool"}
        targets = workspace_targets(workspace_id)
        items = []
        for where, record in read_dump(path):
            item = record_to_item(record, where)
            if item is not None:
                prefix = str(item.get("memory_target", "task:")).split(":", 1)[0]
                items.append({**item, "memory_target": targets[kinds.get(prefix, "task")]})
        written = self.tasks.write_explicit(items, "new_id")
        return {"loaded": len(written), "path": self.tasks.display(path, workspace_id)}
