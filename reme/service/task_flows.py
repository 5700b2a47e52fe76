"""ReMe 0.3.x's task-memory flows, as its HTTP service and benchmarks (BFCL, AppWorld) call them.

Each flow takes ReMe's request body (``workspace_id`` plus the flow's parameters; unknown switches such as
``enable_llm_rerank`` are accepted and ignored) and answers ReMe's flow response ``{answer, success, messages,
metadata}``. A ReMe ``workspace_id`` is this project's target ``task:<workspace_id>``.

- ``retrieve_task_memory``: the rank policy's search of the target (one logged ``rank`` decision, its id in
  ``metadata.decision_id`` for feedback); ``answer`` lists the memories, ``metadata.memory_list`` holds them.
- ``summary_task_memory``: each trajectory goes to the LLM summariser of the vector ``ReMe`` (task focus), told
  whether the trajectory succeeded (``score >= success_threshold``); its proposals pass the write policy. Needs an
  LLM (``reme serve --llm-base-url`` or ``$LLM_BASE_URL``).
- ``add_task_memory``: explicit adds (ReMe's add: always stored). A memory without ``memory_id`` gets the id of its
  text in its own target (so the same sentence in two task workspaces is two memories); a given ``memory_id`` that
  belongs to another target is refused (409), never taken over.
- ``record_task_memory``: the memories a task used, after it ended: ``freq`` += 1, and ``utility`` += 1 when
  ``update_utility`` (the task went well); each is also a ``task`` reward (1 or 0) on the memory, which the trainer
  joins to the write that stored it, and on the retrieval decision when ``decision_id`` is given. A memory or
  decision that is not this task workspace's is answered exactly as one that does not exist (404).
- ``delete_task_memory``: deletes memories with ``freq >= freq_threshold`` and ``utility / freq < utility_threshold``.
- ``load_memory`` / ``dump_memory``: JSON Lines of memories, read and written only inside the task workspace's own
  folder of the server's dump directory (``<dump dir>/<workspace_id>/``, default dump dir ``<workspace>/dumps``), so
  one workspace can neither load nor overwrite another's dumps: a path that is absolute, climbs out with ``..`` or
  leaves through a symlink is refused (ReMe took any server path; a service that reads and writes arbitrary files
  for its callers is a hole). A path without a ``.json``/``.jsonl`` suffix is a directory holding
  ``<workspace_id>.jsonl``, ReMe's naming. Loaded memories whose ids belong to another target get the id of their
  text in this one: a load never moves a memory. A workspace whose records live in PostgreSQL keeps its dumps there
  (the ``dumps`` table, under the same relative names), so one replica loads what another dumped.

Long flows (adds, loads, records of many memories) take the service's lock per chunk of ``CHUNK`` memories, so a
10,000-memory request does not hold every other caller for its whole length.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reme.atomic import write_atomic
from reme.errors import BadInputError, NotFoundError, ReMeError
from reme.schema import MemoryNode, normalize_target

__all__ = [
    "AddTaskMemoryIn",
    "DeleteTaskMemoryIn",
    "DumpMemoryIn",
    "FlowResponse",
    "LLMUnavailableError",
    "LoadMemoryIn",
    "RecordTaskMemoryIn",
    "RetrieveTaskMemoryIn",
    "SummaryTaskMemoryIn",
    "TaskFlows",
    "TaskMemoryItem",
    "Trajectory",
]


CHUNK = 64
"""Memories written per hold of the service's lock in a long flow."""

_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$")


def dump_folder_name(workspace_id: str) -> str:
    """The folder of a task workspace's dumps: its id when that is a plain file name, else a hash of it."""
    if _PLAIN_NAME.match(workspace_id):
        return workspace_id
    return "ws-" + hashlib.sha256(workspace_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class LLMUnavailableError(ReMeError):
    """A flow needs an LLM and the server has none (HTTP 503)."""


class FlowResponse(BaseModel):
    """ReMe's flow response."""

    answer: str = ""
    success: bool = True
    messages: list[dict[str, Any]] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


class _FlowIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    workspace_id: str = Field(min_length=1, max_length=200)


class RetrieveTaskMemoryIn(_FlowIn):
    query: str = ""
    messages: list[dict[str, Any]] | None = None
    top_k: int = Field(default=5, ge=1, le=1000)


class Trajectory(BaseModel):
    model_config = ConfigDict(extra="allow")
    messages: list[dict[str, Any]]
    score: float = 0.0
    task_id: str = ""


class SummaryTaskMemoryIn(_FlowIn):
    trajectories: list[Trajectory] = Field(min_length=1, max_length=1000)
    success_threshold: float = 1.0


class TaskMemoryItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    content: str
    when_to_use: str = ""
    memory_id: str | None = None
    score: float = 0.0
    author: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)


class AddTaskMemoryIn(_FlowIn):
    memory_list: list[TaskMemoryItem] = Field(min_length=1, max_length=10000)


class RecordTaskMemoryIn(_FlowIn):
    memory_list: list[str | dict[str, Any]] = Field(max_length=10000)
    """The memories the task used: ids, or memory dicts with ``memory_id``."""
    update_utility: bool = False
    decision_id: str | None = None
    """The ``retrieve_task_memory`` decision that returned them (optional: it gets the same reward)."""


class DeleteTaskMemoryIn(_FlowIn):
    freq_threshold: int = Field(default=5, ge=1)
    utility_threshold: float = 0.5


class LoadMemoryIn(_FlowIn):
    load_file_path: str = ""
    path: str = ""
    clear_existing: bool = False


class DumpMemoryIn(_FlowIn):
    dump_file_path: str = ""
    path: str = ""


def _ids(memory_list: list[str | dict[str, Any]]) -> list[str]:
    out = []
    for i, item in enumerate(memory_list):
        memory_id = item if isinstance(item, str) else item.get("memory_id")
        if not isinstance(memory_id, str) or not memory_id:
            raise BadInputError(f"memory_list[{i}] has no memory_id")
        out.append(memory_id)
    return out


class TaskFlows:
    """The flows over one open ``Memory``. ``run(fn, *args)`` calls ``fn`` under the service's workspace lock;
    ``llm`` is the summariser's client (``None``: ``summary_task_memory`` is refused)."""

    def __init__(
        self, memory: Any, run: Callable[..., Any], *, llm: Any = None, dump_dir: str | Path | None = None
    ) -> None:
        self.memory = memory
        self.run = run
        self.llm = llm
        self.dump_dir = Path(dump_dir) if dump_dir is not None else Path(memory.workspace.root) / "dumps"
        self.in_database = hasattr(memory.records, "write_dump")
        """A PostgreSQL workspace keeps its dumps in the database (the paths are the same names)."""

    @staticmethod
    def target(workspace_id: str) -> str:
        return normalize_target(f"task:{workspace_id}")

    # ----------------------------------------------------------------------------------------------- flows
    def retrieve(self, body: RetrieveTaskMemoryIn) -> FlowResponse:
        from reme.vector import normalize_messages

        query = body.query
        if not query.strip() and body.messages:
            turns = normalize_messages(body.messages)
            users = [m for m in turns if m["role"] == "user"] or turns
            query = users[-1]["content"] if users else ""
        if not query.strip():
            raise BadInputError("give a query (or messages with a user message)")
        return self.search_response(query, body.top_k, self.target(body.workspace_id))

    def search_response(self, query: str, top_k: int, target: str) -> FlowResponse:
        """ReMe's retrieval response: the rank policy's search of ``target`` (a logged decision, its id in
        ``metadata.decision_id``), the memories listed in ``answer`` and given in ``metadata.memory_list``."""
        from reme.vector import format_nodes

        decision, hits = self.run(self.memory.search_with_decision, query, top_k, target, min_score=None)
        nodes = [h.memory for h in hits]
        return FlowResponse(
            answer=format_nodes(nodes) if nodes else "",
            metadata={
                "decision_id": decision.decision_id,
                "memory_list": [{**n.model_dump(), "score": h.score} for n, h in zip(nodes, hits)],
            },
        )

    def summary(self, body: SummaryTaskMemoryIn) -> FlowResponse:
        if self.llm is None:
            raise LLMUnavailableError(
                "summary_task_memory needs an LLM: start `reme serve` with --llm-base-url (or set $LLM_BASE_URL)"
            )
        from reme.vector import ReMe

        vector = ReMe(working_dir=self.memory.workspace.root, llm=self.llm)
        vector.memory = self.memory  # the service's open workspace, used under its lock
        written: list[MemoryNode] = []
        exchange: list[dict[str, Any]] = []
        decision_ids: list[str] = []
        success = True
        for trajectory in body.trajectories:
            outcome = "succeeded" if trajectory.score >= body.success_threshold else "failed"
            description = f"This task attempt {outcome} (score {trajectory.score:g})."
            result = self.run(
                lambda t=trajectory, d=description: asyncio.run(
                    vector.summarize_memory(t.messages, description=d, task_name=body.workspace_id, return_dict=True)
                )
            )
            written.extend(result["memory_list"])
            exchange.extend(result["messages"])
            decision_ids.extend(vector.last_decision_ids)
            success = success and bool(result["success"])
        return FlowResponse(
            answer=f"{len(written)} task memories written",
            success=success,
            messages=exchange,
            metadata={"memory_list": [n.model_dump() for n in written], "decision_ids": decision_ids},
        )

    def add(self, body: AddTaskMemoryIn) -> FlowResponse:
        target = self.target(body.workspace_id)
        items = [
            {
                "content": item.content,
                "when_to_use": item.when_to_use,
                "memory_id": item.memory_id,
                "memory_type": "procedural",
                "memory_target": target,
                "score": item.score,
                "author": item.author,
                "metadata": item.metadata,
            }
            for item in body.memory_list
        ]
        written = self.write_explicit(items, "error")
        return FlowResponse(
            answer=f"{len(written)} task memories added", metadata={"memory_list": [n.model_dump() for n in written]}
        )

    def write_explicit(self, items: list[dict[str, Any]], foreign_ids: Literal["error", "new_id"]) -> list[MemoryNode]:
        """Write ``items`` through ReMe's always-store rule, ``CHUNK`` per hold of the lock (all validated, and all
        ids checked, before the first is written)."""
        from reme.memory import build_node
        from reme.vector import explicit_write_policy

        nodes = [build_node(item, None, self.memory.records.id_key) for item in items]
        if foreign_ids == "error":
            self.run(self.memory.own_ids, nodes, "error")

        def write(chunk: list[MemoryNode]) -> list[MemoryNode]:
            return list(self.memory.add_many(chunk, foreign_ids=foreign_ids, policy=explicit_write_policy()))

        written: list[MemoryNode] = []
        for start in range(0, len(nodes), CHUNK):
            written.extend(self.run(write, nodes[start : start + CHUNK]))
        return written

    def record(self, body: RecordTaskMemoryIn) -> FlowResponse:
        target = self.target(body.workspace_id)
        ids = _ids(body.memory_list)
        value = 1.0 if body.update_utility else 0.0

        def check() -> None:  # everything is found before anything changes
            for memory_id in ids:
                try:
                    node = self.memory.get(memory_id)
                except NotFoundError:
                    node = None
                if node is None or node.memory_target != target:  # another workspace's: the same answer
                    raise NotFoundError(f"no memory with id {memory_id!r}")
            if body.decision_id is not None:
                try:
                    found = self.memory.decision(body.decision_id)
                except NotFoundError:
                    found = None
                if found is None or found.target != target:
                    raise NotFoundError(f"no decision with id {body.decision_id!r}")

        def update(chunk: list[str]) -> list[MemoryNode]:
            out = []
            for memory_id in chunk:
                node = self.memory.get(memory_id)
                meta = dict(node.metadata)
                meta["freq"] = int(meta.get("freq", 0)) + 1
                meta["utility"] = float(meta.get("utility", 0.0)) + value
                out.append(self.memory.update(node.memory_id, metadata=meta))
                self.memory.feedback(value, memory_id=node.memory_id, source="task")
            return out

        self.run(check)
        updated: list[MemoryNode] = []
        for start in range(0, len(ids), CHUNK):
            updated.extend(self.run(update, ids[start : start + CHUNK]))
        if body.decision_id:
            self.run(lambda: self.memory.feedback(value, decision_id=body.decision_id, source="task"))
        return FlowResponse(
            answer=f"{len(updated)} task memories recorded",
            metadata={"memory_list": [n.model_dump() for n in updated], "reward": value},
        )

    def delete(self, body: DeleteTaskMemoryIn) -> FlowResponse:
        target = self.target(body.workspace_id)

        def sweep() -> list[str]:
            doomed = []
            for node in self.memory.list(target):
                freq = int(node.metadata.get("freq", 0) or 0)
                utility = float(node.metadata.get("utility", 0.0) or 0.0)
                if freq >= body.freq_threshold and utility / freq < body.utility_threshold:
                    doomed.append(node.memory_id)
            if doomed:
                self.memory.delete_many(doomed)
            return doomed

        deleted = self.run(sweep)
        return FlowResponse(answer=f"{len(deleted)} task memories deleted", metadata={"deleted_ids": deleted})

    def load(self, body: LoadMemoryIn) -> FlowResponse:
        from reme.importers.reme03 import read_dump, read_dump_bytes, record_to_item

        path = self.resolve(body.load_file_path or body.path, body.workspace_id)
        if self.in_database:  # dumps of a PostgreSQL workspace are rows: any replica loads what another dumped
            raw = self.memory.records.read_dump(body.workspace_id, self.display(path, body.workspace_id))
            if raw is None:
                raise BadInputError(f"no dump file {self.display(path, body.workspace_id)}")
            records = read_dump_bytes(raw, path)
        elif not _is_file(path):
            raise BadInputError(f"no dump file {self.display(path, body.workspace_id)}")
        else:
            records = read_dump(path)
        target = self.target(body.workspace_id)
        items = []
        for where, record in records:  # everything is validated before anything is written
            item = record_to_item(record, where)
            if item is not None:
                items.append({**item, "memory_target": target})
        removed = int(self.run(self.memory.delete_target, target)) if body.clear_existing else 0
        written = self.write_explicit(items, "new_id")
        shown = self.display(path, body.workspace_id)
        return FlowResponse(
            answer=f"{len(written)} memories loaded from {shown}",
            metadata={"loaded": len(written), "removed": removed, "path": shown},
        )

    def dump(self, body: DumpMemoryIn) -> FlowResponse:
        path = self.resolve(body.dump_file_path or body.path, body.workspace_id)
        nodes = self.run(self.memory.list, self.target(body.workspace_id))
        lines = "".join(json.dumps(node.model_dump(), ensure_ascii=False) + "\n" for node in nodes)
        if self.in_database:
            self.memory.records.write_dump(body.workspace_id, self.display(path, body.workspace_id), lines.encode())
            shown = self.display(path, body.workspace_id)
            return FlowResponse(
                answer=f"{len(nodes)} memories dumped to {shown}", metadata={"dumped": len(nodes), "path": shown}
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, lines.encode("utf-8"))
        except OSError as exc:
            raise BadInputError(
                f"cannot write the dump {self.display(path, body.workspace_id)}: {exc.strerror}"
            ) from None
        shown = self.display(path, body.workspace_id)
        return FlowResponse(
            answer=f"{len(nodes)} memories dumped to {shown}", metadata={"dumped": len(nodes), "path": shown}
        )

    # ----------------------------------------------------------------------------------------------- paths
    def folder(self, workspace_id: str) -> Path:
        """The task workspace's own folder of the dump directory (resolved)."""
        return (self.dump_dir / dump_folder_name(workspace_id)).resolve()

    def resolve(self, given: str, workspace_id: str) -> Path:
        """``given`` inside the workspace's dump folder (see the module docstring); ``BadInputError`` outside it."""
        if "\x00" in given:
            raise BadInputError("a path may not contain NUL")
        rel = Path(given or ".")
        if rel.is_absolute() or ".." in rel.parts:
            raise BadInputError(
                f"{given!r}: dump paths are relative to the server's dump directory and may not climb out of it"
            )
        if rel.suffix.lower() not in (".json", ".jsonl"):
            rel = rel / f"{workspace_id}.jsonl"
        if any(len(part.encode("utf-8", "surrogatepass")) > 255 for part in rel.parts) or len(str(rel)) > 1024:
            raise BadInputError("a dump path may have at most 255 bytes per name and 1,024 characters in all")
        root = self.folder(workspace_id)
        try:
            path = (root / rel).resolve()
        except OSError as exc:
            raise BadInputError(f"{given!r}: {exc.strerror}") from None
        if not path.is_relative_to(root):
            raise BadInputError(f"{given!r} leaves the dump directory (through a symlink)")
        return path

    def display(self, path: Path, workspace_id: str) -> str:
        """``path`` relative to the workspace's dump folder (the server's own paths are not shown to callers)."""
        return str(path.relative_to(self.folder(workspace_id)))


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False
