"""The ``ReMe`` class: ReMe 0.3.1.x's vector-memory surface (see ``reme.vector``) on this project's ``Memory``."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from reme.config import EmbeddingConfig
from reme.errors import BadInputError, NotFoundError, ReMeError
from reme.policy.write import explicit_write_policy
from reme.schema import MemoryNode, normalize_target
from reme.vector.listing import select_nodes
from reme.vector.prompts import summary_answer
from reme.vector.retrieve import retrieve
from reme.vector.store_config import check_vector_store
from reme.vector.summarize import summarize
from reme.vector.targets import (
    KIND_TYPE,
    KIND_TYPES,
    as_names,
    one_target,
    target_kind,
)

if TYPE_CHECKING:
    from reme.memory import Memory
    from reme.retrieval.embedding import Encoder

__all__ = ["APPLICATION_KEYS", "ReMe"]

log = logging.getLogger("reme.vector")

T = TypeVar("T")

APPLICATION_KEYS = frozenset({
    "workspace_dir", "jobs", "components", "plugins", "service", "metadata_dir", "session_dir", "mem_session_dir",
    "resource_dir", "daily_dir", "digest_dir", "thread_pool_max_workers",
})  # fmt: skip
"""Keywords only ReMe 0.4's ``ReMe(**config)`` takes: given any, ``ReMe(...)`` is 0.4's application."""


class ReMe:
    """Vector memory with ReMe 0.3.1.x's ``reme.ReMe`` surface; called with ReMe 0.4's configuration
    (``ReMe(workspace_dir=..., jobs=..., ...)``), ReMe 0.4's application instead (``reme.application``).

    Args (ReMe's keywords; accepted everywhere, used where this project has the setting):
        llm_api_key, llm_base_url: the OpenAI-compatible chat endpoint (default ``$LLM_API_KEY`` /
            ``$LLM_BASE_URL``). The LLM client is built on first use.
        embedding_api_key, embedding_base_url: an OpenAI-compatible ``/embeddings`` endpoint. Given a base URL
            (or ``default_embedding_model_config={"backend": "openai", ...}``) the workspace encodes with it;
            otherwise with the local default model (all-MiniLM-L6-v2), offline.
        working_dir: the workspace directory (opened by ``start``).
        config_path, enable_logo, log_to_console, default_token_counter_config, enable_profile, ``*args`` and
            unknown ``**kwargs``: accepted for compatibility and ignored (ReMe's YAML config and its overrides have no
            counterpart here).
        default_vector_store_config (and a ``vector_store.default.backend=...`` override): ``local``, ``chroma`` or
            ``memory`` mean this project's embedded store; ``pgvector``, ``qdrant`` and ``elasticsearch`` are refused
            with ``BadInputError`` naming the supported ones (``check_vector_store``).
        default_llm_config: ``{"model_name": ...}`` (an ``hf:<dir>`` model name runs a local transformers model).
        default_embedding_model_config: ``{"model_name", "dimensions", "backend"}`` of the embedding endpoint.
        target_user_names, target_task_names, target_tool_names: default targets of ``retrieve_memory`` and
            ``summarize_memory`` when a call names none.

    Keyword-only extras of this project:
        llm: an ``LLMClient`` to use instead of building one.
        encoder: an already-built encoder (tests, benchmarks).
        write_policy: the write gate of ``summarize_memory`` (default: the one the workspace's ``reme.yaml`` names).
        rank_policy: the ranking policy of ``retrieve_memory`` (default: the workspace's).
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        """ReMe 0.4's configuration (``workspace_dir``, ``jobs``, ``components``, ... see ``APPLICATION_KEYS``)
        builds ReMe 0.4's application (``reme.application.Application``); anything else this 0.3.1.x class."""
        if cls is ReMe and not args and APPLICATION_KEYS & kwargs.keys():
            from reme.application import Application

            return Application(**kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        *args: Any,
        llm_api_key: str | None = None,
        llm_base_url: str | None = None,
        embedding_api_key: str | None = None,
        embedding_base_url: str | None = None,
        working_dir: str | os.PathLike[str] = ".reme",
        config_path: str = "vector",
        enable_logo: bool = True,
        log_to_console: bool = True,
        default_llm_config: Mapping[str, Any] | None = None,
        default_embedding_model_config: Mapping[str, Any] | None = None,
        default_vector_store_config: Mapping[str, Any] | None = None,
        default_token_counter_config: Mapping[str, Any] | None = None,
        target_user_names: str | Sequence[str] | None = None,
        target_task_names: str | Sequence[str] | None = None,
        target_tool_names: str | Sequence[str] | None = None,
        enable_profile: bool = True,
        llm: Any | None = None,
        encoder: Encoder | None = None,
        write_policy: Any | None = None,
        rank_policy: Any | None = None,
        **kwargs: Any,
    ) -> None:
        if args or kwargs:
            log.debug("ReMe: ignoring config overrides %s %s", args, sorted(kwargs))
        check_vector_store(args, default_vector_store_config)
        ignored = {
            "config_path": config_path,
            "default_vector_store_config": default_vector_store_config,
            "default_token_counter_config": default_token_counter_config,
        }
        log.debug("ReMe: settings without a counterpart here: %s", {k: v for k, v in ignored.items() if v})
        self.working_dir = Path(working_dir).expanduser()
        self.llm_api_key = llm_api_key
        self.llm_base_url = llm_base_url
        self.default_llm_config: dict[str, Any] = dict(default_llm_config or {})
        self.embedding: EmbeddingConfig | None = self._embedding_config(
            embedding_api_key, embedding_base_url, dict(default_embedding_model_config or {})
        )
        self.enable_logo = enable_logo
        self.log_to_console = log_to_console
        self.enable_profile = enable_profile
        self.targets: list[str] = [
            normalize_target(f"{kind}:{name}")
            for kind, names, what in (
                ("user", target_user_names, "target_user_names"),
                ("task", target_task_names, "target_task_names"),
                ("tool", target_tool_names, "target_tool_names"),
            )
            for name in as_names(names, what)
        ]
        """Default targets of ``retrieve_memory`` / ``summarize_memory``."""
        self.memory: Memory | None = None
        """The workspace, while started."""
        self._llm = llm
        self._llm_failed: str | None = None
        self._encoder = encoder
        self._write_policy = write_policy
        self._rank_policy = rank_policy
        self.last_decision_ids: list[str] = []
        """Ids of the decisions logged by the last ``retrieve_memory`` / ``summarize_memory`` (for ``feedback``)."""

    async def run_job(self, name: str, /, **kwargs: Any) -> Any:
        """ReMe 0.4's job API, which this 0.3.1.x object does not have: build ``ReMe`` with 0.4's configuration."""
        raise BadInputError(
            f"run_job({name!r}) is ReMe 0.4's job API; this ReMe was built with 0.3.1.x's arguments. Build it with "
            "0.4's configuration, e.g. ReMe(workspace_dir='.reme'), or use reme.application.Application"
        )

    async def update_component(self, component_type: Any, name: str, /, **kwargs: Any) -> Any:
        """ReMe 0.4's component API (see ``run_job``)."""
        raise BadInputError(
            "update_component is ReMe 0.4's component API; build ReMe with 0.4's configuration "
            "(ReMe(workspace_dir=...)) to use it"
        )

    @staticmethod
    def _embedding_config(api_key: str | None, base_url: str | None, config: dict[str, Any]) -> EmbeddingConfig | None:
        """An ``openai`` config for an embedding endpoint; ``None`` (the workspace's stored config, or the local
        default model) without one."""
        return EmbeddingConfig.from_reme(config, api_key=api_key, base_url=base_url)

    # ------------------------------------------------------------------------------------------- lifecycle
    async def start(self) -> ReMe:
        """Open the workspace at ``working_dir``. Returns ``self``; a second call does nothing."""
        if self.memory is None:
            from reme.memory import Memory

            self.memory = await asyncio.to_thread(
                Memory,
                self.working_dir,
                self.embedding,
                encoder=self._encoder,
                write_policy=self._write_policy,
                rank_policy=self._rank_policy,
            )
        return self

    async def close(self) -> bool:
        """Close the workspace. ``True`` when one was open."""
        if self.memory is None:
            return False
        memory, self.memory = self.memory, None
        await asyncio.to_thread(memory.close)
        return True

    async def __aenter__(self) -> ReMe:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _require(self) -> Memory:
        if self.memory is None:
            raise ReMeError("ReMe is not started: call `await reme.start()` (or use `async with ReMe(...)`) first")
        return self.memory

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # ------------------------------------------------------------------------------------------------ LLM
    @property
    def llm_configured(self) -> bool:
        """Whether an LLM is available: one was given, or an endpoint (key or base URL, as arguments or in
        ``$LLM_API_KEY`` / ``$LLM_BASE_URL``) or a local ``hf:`` model is configured, or none is and the local model
        serves by default (``reme.llm.factory.local_by_default``)."""
        if self._llm is not None:
            return True
        if self._llm_failed is not None:
            return False
        from reme.llm.factory import configured_model, local_by_default
        from reme.llm.local_model import LOCAL_SPECS

        model = str(configured_model(self.default_llm_config) or "")
        return bool(
            self.llm_api_key
            or self.llm_base_url
            or os.environ.get("LLM_API_KEY", "").strip()
            or os.environ.get("LLM_BASE_URL", "").strip()
            or model.startswith("hf:")
            or model.strip().lower() in LOCAL_SPECS
            or (not model and local_by_default())  # no endpoint, the local-llm extra installed
        )

    def get_llm(self) -> Any | None:
        """The LLM client, built on first use; ``None`` when none is configured or building it failed."""
        if self._llm is not None or not self.llm_configured:
            return self._llm
        try:
            from reme.llm.factory import build_llm_from_config

            self._llm = build_llm_from_config(
                self.default_llm_config, api_key=self.llm_api_key, base_url=self.llm_base_url
            )
        except Exception as exc:  # a client that cannot be built must not break retrieval: answer without it
            self._llm_failed = str(exc)
            log.warning("ReMe: cannot build the LLM client (%s); continuing without one", exc)
        return self._llm

    # ------------------------------------------------------------------------------------------- CRUD
    def _add_explicit(self, memory: Memory, items: list[Any]) -> list[MemoryNode]:
        """Write through ``explicit_write_policy`` (ReMe's add: always stored; the same id is replaced)."""
        written = memory.add_many(items, policy=explicit_write_policy())
        if len(written) != len(items):  # cannot happen: the explicit policy never discards
            raise ReMeError(f"the explicit write policy dropped {len(items) - len(written)} memories")
        return written

    async def add_memory(
        self,
        memory_content: str,
        user_name: str = "",
        task_name: str = "",
        tool_name: str = "",
        when_to_use: str = "",
        message_time: str = "",
        ref_memory_id: str = "",
        author: str = "",
        score: float = 0.0,
        **metadata: Any,
    ) -> MemoryNode:
        """Store one memory in the target of exactly one of ``user_name`` / ``task_name`` / ``tool_name``
        (personal / procedural / tool memory). Its id is ReMe's ``sha256(content)[:16]``; adding the same text
        again replaces that memory. Explicit adds are never gated: they go through ``explicit_write_policy``
        (logged), not the workspace's learned write policy, which gates ``summarize_memory``. A ``memory_type``
        keyword picks another type of the same kind (``identity``, ``summary``, ``history`` for users);
        other extra keywords become metadata."""
        memory = self._require()
        target = one_target(user_name, task_name, tool_name)
        kind = target_kind(target)
        memory_type = metadata.pop("memory_type", KIND_TYPE[kind])
        if memory_type not in {t.value for t in KIND_TYPES[kind]}:
            raise BadInputError(f"memory_type {memory_type!r} does not belong to a {kind} target")
        if not isinstance(memory_content, str) or not memory_content.strip():
            raise BadInputError("memory_content is empty")
        item = {
            "content": memory_content,
            "memory_id": memory.memory_id_for(memory_content, target),
            "memory_target": target,
            "memory_type": memory_type,
            "when_to_use": when_to_use,
            "message_time": message_time,
            "ref_memory_id": ref_memory_id,
            "author": author,
            "score": score,
            "metadata": metadata,
        }
        return (await self._call(self._add_explicit, memory, [item]))[0]

    async def get_memory(self, memory_id: str) -> MemoryNode:
        """The memory with this id; ``NotFoundError`` when there is none."""
        memory = self._require()
        return await self._call(memory.get, memory_id)

    async def update_memory(
        self,
        memory_id: str,
        user_name: str = "",
        task_name: str = "",
        tool_name: str = "",
        memory_content: str | None = None,
        when_to_use: str | None = None,
        message_time: str | None = None,
        ref_memory_id: str | None = None,
        author: str | None = None,
        score: float | None = None,
        **kw: Any,
    ) -> MemoryNode:
        """Change the given fields of a memory; it keeps its id (so rewards keep pointing at it). A target name
        moves it to that target (its type follows the target's kind); extra keywords are merged into its
        metadata. ``NotFoundError`` for an unknown id."""
        memory = self._require()

        def run() -> MemoryNode:
            old = memory.get(memory_id)
            named = bool(user_name or task_name or tool_name)
            target = one_target(user_name, task_name, tool_name) if named else None
            metadata = {**old.metadata, **kw} if kw else None
            kind = target_kind(target) if target else None
            keeps_type = kind is None or old.memory_type in {t.value for t in KIND_TYPES.get(kind, set())}
            return memory.update(
                memory_id, memory_content, target=target, when_to_use=when_to_use, message_time=message_time,
                ref_memory_id=ref_memory_id, author=author, score=score, metadata=metadata,
                memory_type=None if keeps_type or kind is None else KIND_TYPE[kind].value,
            )  # fmt: skip

        return await self._call(run)

    async def delete_memory(self, memory_id: str) -> None:
        """Delete one memory. Like ReMe, an unknown id is not an error."""
        memory = self._require()
        try:
            await self._call(memory.delete, memory_id)
        except NotFoundError:
            log.debug("delete_memory: no memory %r", memory_id)

    async def delete_all(self) -> None:
        """Delete every memory of every user, task and tool target (and ``default``). The chunks of the
        workspace's Markdown files (``file:`` targets) stay: they are rebuilt from the files."""
        memory = self._require()

        def run() -> None:
            for target in memory.records.targets():
                if target_kind(target) != "file":
                    memory.delete_target(target)

        await self._call(run)

    async def list_memory(
        self,
        user_name: str = "",
        task_name: str = "",
        tool_name: str = "",
        filters: Mapping[str, Any] | None = None,
        limit: int | None = None,
        sort_key: str | None = None,
        reverse: bool = True,
    ) -> list[MemoryNode]:
        """Memories of the named target (every user/task/tool target when none is named).

        ``filters``: field -> value equality on ``MemoryNode`` fields or, for other keys, metadata (a list, tuple
        or set value means "one of"). ``sort_key``: a ``MemoryNode`` field or metadata key (default
        ``time_created``); ``reverse`` (default) puts the largest first, ties newest first. ``limit`` applies last.
        """
        memory = self._require()
        if filters is not None and not isinstance(filters, Mapping):
            raise BadInputError("filters must be a mapping of field -> value")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise BadInputError(f"limit must be a non-negative integer, got {limit!r}")
        key = sort_key or "time_created"
        if not isinstance(key, str):
            raise BadInputError(f"sort_key must be a field name, got {key!r}")
        named = bool(user_name or task_name or tool_name)
        target = one_target(user_name, task_name, tool_name) if named else None

        def run() -> list[MemoryNode]:
            if target is not None:
                nodes = memory.list(target)
            else:
                nodes = [n for n in memory.list() if target_kind(n.memory_target) in (*KIND_TYPE, "default")]
            return nodes

        return select_nodes(await self._call(run), filters, key, reverse, limit)

    # ------------------------------------------------------------------------------------------- retrieve
    async def retrieve_memory(
        self,
        query: str = "",
        description: str = "",
        messages: Sequence[Any] | None = None,
        user_name: str | Sequence[str] = "",
        task_name: str | Sequence[str] = "",
        tool_name: str | Sequence[str] = "",
        enable_thinking_params: bool = True,
        version: str = "default",
        retrieve_top_k: int = 20,
        enable_time_filter: bool = True,
        return_dict: bool = False,
        llm_config_name: str = "default",
        raise_exception: bool = False,
        **kw: Any,
    ) -> str | dict[str, Any]:
        """Answer ``query`` (or the last user message of ``messages``) from memory.

        Each target (the ones named, each keyword a name or a list of names; else the constructor's
        ``target_*_names``; else every user/task/tool target)
        is searched with the hybrid search ranked by the rank policy (a logged ``rank`` decision each), without
        ReMe's file-store score floor (upstream's vector retrieval has none); hits are merged by score and
        de-duplicated, top ``retrieve_top_k``. With an LLM, the answer is the LLM's, synthesised from those
        memories and logged as a ``rank`` decision of policy ``llm-retrieve-synthesis``; without one, or when the
        call fails, it is the memories as a numbered list.

        Returns the answer, or with ``return_dict`` ``{"answer", "retrieved_nodes", "messages", "success"}``
        (``messages``: the LLM exchange, empty without an LLM). Errors give ``success: False`` and an empty
        answer unless ``raise_exception``. ``enable_thinking_params``, ``version``, ``enable_time_filter`` and
        ``llm_config_name`` are accepted and ignored.
        """
        memory = self._require()
        self.last_decision_ids = []
        answer, success = "", False
        nodes: list[MemoryNode] = []
        exchange: list[dict] = []
        try:
            answer, nodes, exchange, success = await retrieve(
                self,
                memory,
                query,
                description,
                messages,
                user_name,
                task_name,
                tool_name,
                retrieve_top_k,
                raise_exception,
            )
        except Exception as exc:
            if raise_exception:
                raise
            log.warning("retrieve_memory failed: %s", exc)
        if return_dict:
            return {"answer": answer, "retrieved_nodes": nodes, "messages": exchange, "success": success}
        return answer

    # ------------------------------------------------------------------------------------------ summarize
    async def summarize_memory(
        self,
        messages: Sequence[Any],
        description: str = "",
        user_name: str | Sequence[str] = "",
        task_name: str | Sequence[str] = "",
        tool_name: str | Sequence[str] = "",
        enable_thinking_params: bool = True,
        version: str = "default",
        retrieve_top_k: int = 20,
        return_dict: bool = False,
        llm_config_name: str = "default",
        raise_exception: bool = False,
        **kw: Any,
    ) -> str | dict[str, Any]:
        """Extract memories from a conversation and write them through the workspace's write policy.

        Per target (the ones named, each keyword a name or a list of names; else the constructor's
        ``target_*_names``; else, as ReMe summarises all three kinds, the conversation's own: ``user:<speaker>``
        for each user speaker, ``task:default``, and ``tool:<name>`` for each tool it called): the LLM proposes
        memories (a JSON
        array, or ``NO_MEMORY_NEEDED``), given up to ``retrieve_top_k`` similar memories it should not repeat;
        its call is logged as a ``write`` decision of policy ``llm-vector-summarizer`` (action ``write`` or
        ``silent``). Each proposed memory then goes to the write policy, which stores, discards or updates it
        (one logged ``write`` decision each). Memory ids are ReMe's ``sha256(content)[:16]``; their metadata
        names the LLM decision (``llm_decision_id``). An unreadable reply writes nothing (``success: False``).
        Without an LLM the conversation's user turns are the candidates (no LLM decision).

        Returns ReMe's answer, a text saying what was written (one line per memory), or with ``return_dict``
        ``{"answer": text, "success", "messages", "tools": [], "memory_list": nodes}`` (``messages``: the LLM
        exchanges; ``memory_list``: the memories written). Errors give ``success: False`` unless
        ``raise_exception``. ``enable_thinking_params``, ``version`` and ``llm_config_name`` are ignored.
        """
        memory = self._require()
        self.last_decision_ids = []
        written: list[MemoryNode] = []
        exchange: list[dict] = []
        success = False
        try:
            success = await summarize(
                self,
                memory, messages, description, user_name, task_name, tool_name, retrieve_top_k, raise_exception,
                written, exchange,
            )  # fmt: skip
        except Exception as exc:
            if raise_exception:
                raise
            log.warning("summarize_memory failed: %s", exc)
        answer = summary_answer(written)
        if return_dict:
            return {"answer": answer, "success": success, "messages": exchange, "tools": [], "memory_list": written}
        return answer

    # ------------------------------------------------------------------------------------------- helpers
    def get_memory_handler(self, target: str) -> Any:
        """Not provided: upstream's per-target handler objects have no counterpart; use the methods above
        (``list_memory``, ``add_memory``, ...) with ``user_name`` / ``task_name`` / ``tool_name``."""
        raise NotImplementedError(
            "ReMe.get_memory_handler is not provided by this implementation: use list_memory/add_memory/"
            "update_memory/delete_memory with user_name, task_name or tool_name"
        )

    def get_profile_handler(self, user: str) -> Any:
        """Not provided: user profiles (upstream's ``ProfileHandler``) are not implemented."""
        raise NotImplementedError(
            "ReMe.get_profile_handler is not provided: user profiles are not implemented; personal memories of a "
            "user are in list_memory(user_name=...)"
        )

    @property
    def profile_path(self) -> Path:
        """Not provided: user profiles are not implemented."""
        raise NotImplementedError("ReMe.profile_path is not provided: user profiles are not implemented")
