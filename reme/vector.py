"""``ReMe``: the vector memory of ReMe 0.3.1.x (upstream's ``from reme import ReMe``), on this project's ``Memory``.

Same constructor keywords, same async methods and return shapes as upstream's ``reme.ReMe``; what differs is
underneath. Memories live in one workspace (``working_dir``) in targets ``user:<name>`` (personal memory),
``task:<name>`` (procedural) and ``tool:<name>`` (tool memory). Retrieval is this project's hybrid search ranked by
the workspace's rank policy; ``summarize_memory`` lets an LLM propose memories and the workspace's *write policy*
decide, per candidate, to store, discard or update. Every decision goes to the trajectory log:

- each rank and write decision of the policies (re-scorable by ``reme trajectories verify``);
- each LLM call, as a ``Decision`` whose policy starts with ``llm`` and whose ``logprob`` is the sum of the
  model's token log-probabilities (``extra["token_logprobs"]``), or ``None`` (untrainable) when the endpoint
  returned none.

Nothing needs a network: without an LLM ``retrieve_memory`` answers with the memories it found (a numbered list)
and ``summarize_memory`` offers the conversation's user turns to the write policy.

Example::

    import asyncio
    from reme.vector import ReMe

    async def main():
        async with ReMe(working_dir="./mem") as reme:
            node = await reme.add_memory("Alice prefers green tea.", user_name="alice")
            print(await reme.retrieve_memory("What does Alice drink?", user_name="alice"))

    asyncio.run(main())
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from reme.config import EmbeddingConfig
from reme.errors import BadInputError, NotFoundError, ReMeError
from reme.policy.write import EXPLICIT_WRITE_TEMPERATURE, explicit_write_policy
from reme.schema import MemoryNode, MemoryType, normalize_target

if TYPE_CHECKING:
    from reme.memory import Memory
    from reme.policy.decision import Decision, DecisionKind
    from reme.retrieval.embedding import Encoder

__all__ = [
    "EXPLICIT_WRITE_TEMPERATURE",
    "LLM_RETRIEVE_POLICY",
    "LLM_SUMMARIZER_POLICY",
    "ReMe",
    "explicit_write_policy",
    "parse_candidates",
    "using_write_policy",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

LLM_SUMMARIZER_POLICY = "llm-vector-summarizer"
"""Policy name of the LLM call that proposes memories in ``summarize_memory`` (a ``write`` decision)."""
LLM_RETRIEVE_POLICY = "llm-retrieve-synthesis"
"""Policy name of the LLM call that answers from the retrieved memories in ``retrieve_memory`` (a ``rank``
decision: it is the last step of the read path, and a reward for the answer belongs to it)."""

NO_MEMORY = "NO_MEMORY_NEEDED"
"""What the summarizer LLM answers when the conversation holds nothing worth keeping."""


_KIND_TYPE = {"user": MemoryType.personal, "task": MemoryType.procedural, "tool": MemoryType.tool}
"""Default memory type of a target kind."""
_KIND_TYPES = {
    "user": {MemoryType.personal, MemoryType.identity, MemoryType.summary, MemoryType.history},
    "task": {MemoryType.procedural},
    "tool": {MemoryType.tool},
}
"""Memory types that may live in a target kind."""

_SORTABLE = frozenset(MemoryNode.model_fields)

_POLICY_LOCK = threading.RLock()
"""Serialises writes that swap a ``Memory``'s write policy (explicit adds) with writes through its gate."""


@contextlib.contextmanager
def using_write_policy(memory: Memory, policy: Any | None) -> Iterator[Memory]:
    """Within the block, ``memory`` writes through ``policy`` (``None``: its own write policy). Holds a lock that
    every write of this module takes, so that no gated write runs under a swapped policy."""
    with _POLICY_LOCK:
        if policy is None:
            yield memory
            return
        saved = memory.write_policy
        memory.write_policy = policy
        try:
            yield memory
        finally:
            memory.write_policy = saved


def _target_kind(target: str) -> str:
    return target.split(":", 1)[0]


LOCAL_VECTOR_STORES = ("local", "chroma", "memory")
"""ReMe 0.3.1.x vector-store backends that run in the process: this project's embedded store takes their place."""
SERVER_VECTOR_STORES = ("pgvector", "qdrant", "elasticsearch")
"""ReMe 0.3.1.x backends that are servers; none has a counterpart here yet (PostgreSQL with pgvector is planned)."""


def check_vector_store(overrides: Sequence[Any], config: Mapping[str, Any] | None) -> str:
    """The vector-store backend ReMe's config names (``default_vector_store_config["backend"]`` or a
    ``vector_store.default.backend=...`` override), refused with ``BadInputError`` when it is a server this project
    has no store for; a local backend (or none) means this project's embedded SQLite + FAISS + BM25 store."""
    backend = str((config or {}).get("backend") or "")
    for item in overrides:
        if isinstance(item, str) and item.replace(" ", "").startswith("vector_store.default.backend="):
            backend = item.split("=", 1)[1].strip()
    if not backend or backend in LOCAL_VECTOR_STORES:
        if backend:
            log.debug("ReMe: vector store %r is this project's embedded store", backend)
        return backend or "local"
    raise BadInputError(
        f"vector store backend {backend!r} has no counterpart here: the memories live in this project's embedded "
        f"store (SQLite + FAISS + BM25), which the local backends {list(LOCAL_VECTOR_STORES)} map to; "
        f"{list(SERVER_VECTOR_STORES)} are not supported yet (PostgreSQL with pgvector is planned)"
    )


def summary_answer(written: Sequence[MemoryNode]) -> str:
    """``summarize_memory``'s text answer: how many memories were written, then one line per memory."""
    if not written:
        return "No new memories were written."
    lines = [f"{len(written)} memories written:"] + [f"- [{n.memory_target}] {n.content}" for n in written]
    return "\n".join(lines)


def conversation_targets(messages: Any, turns: list[dict[str, str]]) -> list[str]:
    """The targets of a conversation summarised with no names given (ReMe then summarises all three kinds): each user
    speaker's ``user:<name>`` (``user:user`` when unnamed), ``task:default``, and ``tool:<name>`` for each tool the
    conversation called (an OpenAI ``tool_calls`` entry, a ``tool`` message's ``name``, an AgentScope ``tool_use``
    block)."""
    users = list(dict.fromkeys(m["name"] or "user" for m in turns if m["role"] == "user")) or ["user"]
    tools: list[str] = []
    for message in messages or []:
        get = message.get if isinstance(message, Mapping) else (lambda key, m=message: getattr(m, key, None))
        for call in get("tool_calls") or []:
            name = (call.get("function") or {}).get("name") if isinstance(call, Mapping) else None
            if isinstance(name, str) and name:
                tools.append(name)
        if str(get("role") or "") == "tool" and isinstance(get("name"), str) and get("name"):
            tools.append(str(get("name")))
        content = get("content")
        if isinstance(content, list):
            tools += [str(b.get("name")) for b in content if isinstance(b, Mapping) and b.get("type") == "tool_use"
                      and b.get("name")]  # fmt: skip
    names = [f"user:{u}" for u in users] + ["task:default"] + [f"tool:{t}" for t in dict.fromkeys(tools)]
    out = []
    for name in names:
        try:
            out.append(normalize_target(name))
        except BadInputError:
            log.debug("summarize_memory: skipping a target that is not a valid name: %.80r", name)
    return out


def _as_names(value: str | Sequence[str] | None, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise BadInputError(f"{what} must be a list of names")
    return [v for v in value if v]


# ------------------------------------------------------------------------------------------------- messages
def _message_text(content: Any) -> str:
    """The text of a message's content: a string, or the text blocks of an OpenAI / AgentScope block list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and isinstance(block.get("text"), str):
                parts.append(block["text"])
            elif isinstance(getattr(block, "text", None), str):
                parts.append(block.text)
        return "\n".join(p for p in parts if p)
    return str(content)


def normalize_messages(messages: Any) -> list[dict[str, str]]:
    """ReMe messages (dicts or objects with ``role`` / ``content``, optional ``time_created`` and ``name``) as
    ``{"role", "content", "time_created", "name"}`` dicts of strings; messages without text are dropped."""
    if messages is None:
        return []
    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Sequence):
        raise BadInputError("messages must be a list of messages")
    out = []
    for i, message in enumerate(messages):
        if isinstance(message, Mapping):
            role, content = message.get("role"), message.get("content")
            time, name = message.get("time_created") or message.get("time") or "", message.get("name") or ""
        elif hasattr(message, "role") and hasattr(message, "content"):
            role, content = message.role, message.content
            time, name = getattr(message, "time_created", "") or "", getattr(message, "name", "") or ""
        else:
            raise BadInputError(f"message {i} has no role and content: {type(message).__name__}")
        role = getattr(role, "value", role)
        if not isinstance(role, str) or not role:
            raise BadInputError(f"message {i} has no role")
        text = _message_text(content).strip()
        if text:
            out.append({"role": role.lower(), "content": text, "time_created": str(time), "name": str(name)})
    return out


def _transcript(messages: list[dict[str, str]]) -> str:
    lines = []
    for m in messages:
        stamp = f"[{m['time_created']}] " if m["time_created"] else ""
        who = f"{m['role']} ({m['name']})" if m["name"] and m["name"] != m["role"] else m["role"]
        lines.append(f"{stamp}{who}: {m['content']}")
    return "\n".join(lines)


def _latest_time(messages: list[dict[str, str]]) -> str:
    """The latest ISO 8601 ``time_created`` of the messages (``""`` when none parses)."""
    from reme.memory import check_time

    times = []
    for m in messages:
        try:
            if check_time(m["time_created"]):
                times.append(m["time_created"])
        except BadInputError:
            continue
    return max(times) if times else ""


# ------------------------------------------------------------------------------------------------- prompts
_SUMMARY_FOCUS = {
    "user": (
        "durable facts about the user {name}: preferences, personal details, relationships, plans, and events "
        "with their dates. Skip small talk and anything that only holds for this moment."
    ),
    "task": (
        "reusable know-how for the task {name}: steps that worked, pitfalls and how they were avoided, decisions "
        "and their reasons. Skip generic advice and plain facts that are not procedures."
    ),
    "tool": (
        "lessons about using the tool {name}: arguments that worked or failed, causes of errors and their fixes, "
        "cost or latency observations. Skip invocations that teach nothing."
    ),
}

_SUMMARY_FORMAT = (
    "Reply with a JSON array only, one object per memory: "
    '[{{"content": "<one self-contained statement>", "when_to_use": "<when recalling it helps, or empty>"}}]. '
    "Each memory must make sense without the conversation. If nothing is worth keeping, reply exactly {none}."
)


def summary_prompt(target: str, transcript: str, description: str = "", known: Sequence[str] = ()) -> list[dict]:
    """The chat messages asking an LLM for the memories of ``target`` in a conversation."""
    kind, name = target.split(":", 1)
    system = (
        "You maintain an assistant's long-term memory. From the conversation, extract "
        + _SUMMARY_FOCUS[kind].format(name=name)
        + " "
        + _SUMMARY_FORMAT.format(none=NO_MEMORY)
    )
    user = f"Conversation:\n{transcript}"
    if description:
        user = f"Context: {description}\n\n{user}"
    if known:
        listing = "\n".join(f"- {k}" for k in known)
        user += f"\n\nAlready remembered (do not repeat these):\n{listing}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def retrieve_prompt(query: str, nodes: Sequence[MemoryNode], description: str = "") -> list[dict]:
    """The chat messages asking an LLM to answer ``query`` from retrieved memories."""
    system = (
        "Answer the question using only the numbered memories given. Prefer the more recent memory when two "
        "disagree. If the memories do not hold the answer, say so in one sentence. Be brief."
    )
    user = f"Question: {query}"
    if description:
        user += f"\nContext: {description}"
    user += f"\n\nMemories:\n{format_nodes(nodes)}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def format_nodes(nodes: Sequence[MemoryNode]) -> str:
    """Memories as a numbered list, one per line: ``1. [message_time] content (when to use: ...)``."""
    if not nodes:
        return "No relevant memories found."
    lines = []
    for i, node in enumerate(nodes, start=1):
        stamp = f"[{node.message_time}] " if node.message_time else ""
        hint = f" (when to use: {node.when_to_use})" if node.when_to_use else ""
        lines.append(f"{i}. {stamp}{node.content}{hint}")
    return "\n".join(lines)


_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE_RE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def parse_candidates(text: str) -> list[dict[str, str]] | None:
    """The memories an LLM proposed: ``[{"content", "when_to_use"}]``; ``[]`` for ``NO_MEMORY_NEEDED`` (or an
    empty array); ``None`` when the reply cannot be read (no JSON array of memories, or none of its items is one).

    Accepts a bare array, an array in a code fence or amid prose, ``{"memories": [...]}``, and plain strings as
    items; ``<think>`` blocks are ignored."""
    body = _THINK_RE.sub("", text or "").strip()
    fenced = _FENCE_RE.search(body)
    if fenced:
        body = fenced.group(1).strip()
    parsed: Any = None
    try:
        parsed = json.loads(body)
    except (json.JSONDecodeError, ValueError):
        start, end = body.find("["), body.rfind("]")
        if 0 <= start < end:
            try:
                parsed = json.loads(body[start : end + 1])
            except (json.JSONDecodeError, ValueError):
                parsed = None
    if isinstance(parsed, Mapping):
        parsed = next((parsed[k] for k in ("memories", "memory", "items") if isinstance(parsed.get(k), list)), None)
    if not isinstance(parsed, list):
        return [] if NO_MEMORY in body else None
    out = []
    for item in parsed:
        if isinstance(item, str):
            item = {"content": item}
        if not isinstance(item, Mapping):
            continue
        content = item.get("content", item.get("memory", item.get("text")))
        when = item.get("when_to_use", "")
        if isinstance(content, str) and content.strip():
            out.append({"content": content.strip(), "when_to_use": when.strip() if isinstance(when, str) else ""})
    if parsed and not out:
        return None
    return out


# ------------------------------------------------------------------------------------------------ the class
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
            for name in _as_names(names, what)
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
        ``$LLM_API_KEY`` / ``$LLM_BASE_URL``) or a local ``hf:`` model is configured."""
        if self._llm is not None:
            return True
        if self._llm_failed is not None:
            return False
        model = str(self.default_llm_config.get("model_name") or self.default_llm_config.get("model") or "")
        return bool(
            self.llm_api_key
            or self.llm_base_url
            or os.environ.get("LLM_API_KEY", "").strip()
            or os.environ.get("LLM_BASE_URL", "").strip()
            or model.startswith("hf:")
        )

    def get_llm(self) -> Any | None:
        """The LLM client, built on first use; ``None`` when none is configured or building it failed."""
        if self._llm is not None or not self.llm_configured:
            return self._llm
        try:
            from reme.llm import LLMConfig, build_llm

            model = self.default_llm_config.get("model_name") or self.default_llm_config.get("model")
            if isinstance(model, str) and model.startswith("hf:"):
                self._llm = build_llm(model)
            else:
                config = LLMConfig.from_env(api_key=self.llm_api_key, base_url=self.llm_base_url, model=model)
                self._llm = build_llm(config)
        except Exception as exc:  # a client that cannot be built must not break retrieval: answer without it
            self._llm_failed = str(exc)
            log.warning("ReMe: cannot build the LLM client (%s); continuing without one", exc)
        return self._llm

    def _llm_decision(
        self,
        kind: DecisionKind,
        policy: str,
        action: Any,
        result: Any,
        prompt: list[dict],
        memory_ids: list[str],
        **extra: Any,
    ) -> Decision:
        """The record of one LLM call (``reme.llm.decisions.llm_decision``): the whole output expresses the
        action, so ``logprob`` is the sum of all its token log-probabilities, ``None`` when the backend gave none."""
        from reme.llm.decisions import llm_decision

        return llm_decision(
            kind,
            policy,
            action,
            result,
            model=getattr(result, "model", "") or getattr(self._llm, "model", "") or "unknown",
            inputs={"messages": prompt},
            memory_ids=memory_ids,
            extra={
                "tokens": getattr(result, "tokens", None)
                if getattr(result, "token_logprobs", None) is not None
                else None,
                "text": result.text,
                "finish_reason": getattr(result, "finish_reason", None),
                **extra,
            },
        )

    # ------------------------------------------------------------------------------------------- targets
    @staticmethod
    def _named_targets(
        user_name: str | Sequence[str] = "", task_name: str | Sequence[str] = "", tool_name: str | Sequence[str] = ""
    ) -> list[str]:
        """The targets named by the three keywords, each a name or a list of names (ReMe's ``str | list[str]``)."""
        return [
            normalize_target(f"{kind}:{name}")
            for kind, value in (("user", user_name), ("task", task_name), ("tool", tool_name))
            for name in _as_names(value, f"{kind}_name")
        ]

    @staticmethod
    def _one_target(user_name: str = "", task_name: str = "", tool_name: str = "") -> str:
        """The target named by exactly one of the three keywords."""
        given = [(k, n) for k, n in (("user", user_name), ("task", task_name), ("tool", tool_name)) if n]
        if len(given) != 1:
            raise BadInputError("give exactly one of user_name, task_name, tool_name")
        kind, name = given[0]
        if not isinstance(name, str):
            raise BadInputError(f"{kind}_name must be a string, got {type(name).__name__}")
        return normalize_target(f"{kind}:{name}")

    def _call_targets(self, memory: Memory, user_name: Any, task_name: Any, tool_name: Any) -> list[str]:
        """The targets of a retrieve call: the ones named, else the constructor's, else every user/task/tool target
        of the workspace."""
        named = self._named_targets(user_name, task_name, tool_name)
        if named:
            return named
        if self.targets:
            return list(self.targets)
        return [t for t in memory.records.targets() if _target_kind(t) in _KIND_TYPE]

    # ------------------------------------------------------------------------------------------- CRUD
    def _add_explicit(self, memory: Memory, items: list[Any]) -> list[MemoryNode]:
        """Write through ``explicit_write_policy`` (ReMe's add: always stored; the same id is replaced)."""
        with using_write_policy(memory, explicit_write_policy()):
            written = memory.add_many(items)
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
        target = self._one_target(user_name, task_name, tool_name)
        kind = _target_kind(target)
        memory_type = metadata.pop("memory_type", _KIND_TYPE[kind])
        if memory_type not in {t.value for t in _KIND_TYPES[kind]}:
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
            target = self._one_target(user_name, task_name, tool_name) if named else None
            metadata = {**old.metadata, **kw} if kw else None
            kind = _target_kind(target) if target else None
            keeps_type = kind is None or old.memory_type in {t.value for t in _KIND_TYPES.get(kind, set())}
            return memory.update(
                memory_id, memory_content, target=target, when_to_use=when_to_use, message_time=message_time,
                ref_memory_id=ref_memory_id, author=author, score=score, metadata=metadata,
                memory_type=None if keeps_type or kind is None else _KIND_TYPE[kind].value,
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
                if _target_kind(target) != "file":
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
        target = self._one_target(user_name, task_name, tool_name) if named else None

        def run() -> list[MemoryNode]:
            if target is not None:
                nodes = memory.list(target)
            else:
                nodes = [n for n in memory.list() if _target_kind(n.memory_target) in (*_KIND_TYPE, "default")]
            return nodes

        nodes = await self._call(run)
        if filters:
            nodes = [n for n in nodes if all(_matches(_field(n, k), v) for k, v in filters.items())]
        if reverse:
            nodes.reverse()  # equal keys keep newest-first order under the stable sort below
        try:
            nodes.sort(key=lambda n: _sort_value(_field(n, key)), reverse=reverse)
        except TypeError:  # values of mixed types under one metadata key
            nodes.sort(key=lambda n: str(_field(n, key)), reverse=reverse)
        return nodes if limit is None else nodes[:limit]

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
            answer, nodes, exchange, success = await self._retrieve(
                memory, query, description, messages, user_name, task_name, tool_name, retrieve_top_k, raise_exception
            )
        except Exception as exc:
            if raise_exception:
                raise
            log.warning("retrieve_memory failed: %s", exc)
        if return_dict:
            return {"answer": answer, "retrieved_nodes": nodes, "messages": exchange, "success": success}
        return answer

    async def _retrieve(
        self,
        memory: Memory,
        query: str,
        description: str,
        messages: Sequence[Any] | None,
        user_name: Any,
        task_name: Any,
        tool_name: Any,
        top_k: int,
        raise_exception: bool,
    ) -> tuple[str, list[MemoryNode], list[dict], bool]:
        if not query and messages:
            turns = normalize_messages(messages)
            users = [m for m in turns if m["role"] == "user"]
            query = (users or turns or [{"content": ""}])[-1]["content"]
        if not isinstance(query, str) or not query.strip():
            raise BadInputError("give a query (or messages with a user message)")
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
            raise BadInputError(f"retrieve_top_k must be a positive integer, got {top_k!r}")
        top_k = min(top_k, 1000)
        targets = self._call_targets(memory, user_name, task_name, tool_name)

        def search() -> tuple[list[MemoryNode], list[str]]:
            scored: dict[str, tuple[float, MemoryNode]] = {}
            decision_ids = []
            for target in targets:
                decision, hits = memory.search_with_decision(query, top_k, target, min_score=-math.inf)
                decision_ids.append(decision.decision_id)
                for hit in hits:
                    best = scored.get(hit.memory.memory_id)
                    if best is None or hit.score > best[0]:
                        scored[hit.memory.memory_id] = (hit.score, hit.memory)
            ranked = sorted(scored.values(), key=lambda pair: -pair[0])
            return [node for _, node in ranked[:top_k]], decision_ids

        nodes, rank_ids = await self._call(search)
        self.last_decision_ids = list(rank_ids)
        listing = format_nodes(nodes)
        llm = self.get_llm()
        if llm is None or not nodes:
            return listing, nodes, [], True
        prompt = retrieve_prompt(query, nodes, description)
        try:
            result = await llm.achat(prompt)
        except Exception as exc:
            if raise_exception:
                raise
            log.warning("retrieve_memory: the LLM call failed (%s); answering with the memories found", exc)
            return listing, nodes, [], False
        decision = self._llm_decision(
            "rank", LLM_RETRIEVE_POLICY, "answer", result, prompt, [n.memory_id for n in nodes],
            query=query, targets=targets, rank_decision_ids=rank_ids,
        )  # fmt: skip
        memory.log_decision(decision)
        self.last_decision_ids.append(decision.decision_id)
        exchange = [*prompt, {"role": "assistant", "content": result.text}]
        return result.text.strip() or listing, nodes, exchange, True

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
            success = await self._summarize(
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

    async def _summarize(
        self,
        memory: Memory,
        messages: Sequence[Any],
        description: str,
        user_name: Any,
        task_name: Any,
        tool_name: Any,
        top_k: int,
        raise_exception: bool,
        written: list[MemoryNode],
        exchange: list[dict],
    ) -> bool:
        turns = normalize_messages(messages)
        targets = self._named_targets(user_name, task_name, tool_name) or list(self.targets)
        if not targets:
            targets = conversation_targets(messages, turns)
        if not turns:
            return True
        message_time = _latest_time(turns)
        llm = self.get_llm()
        success = True
        items: list[dict[str, Any]]
        for target in targets:
            kind = _target_kind(target)
            base: dict[str, Any] = {
                "memory_target": target,
                "memory_type": _KIND_TYPE[kind].value,
                "message_time": message_time,
            }
            if llm is None:
                items = [
                    {**base, "content": m["content"], "memory_id": memory.memory_id_for(m["content"], target),
                     "metadata": {"source": "summarize_memory", "speaker": m["name"] or m["role"]}}
                    for m in turns if m["role"] == "user"
                ]  # fmt: skip
                written.extend(await self._call(self._add_gated, memory, _valid_items(items)))
                continue
            known = await self._call(self._similar, memory, target, _transcript(turns), top_k)
            prompt = summary_prompt(target, _transcript(turns), description, known)
            try:
                result = await llm.achat(prompt)
            except Exception as exc:
                if raise_exception:
                    raise
                log.warning("summarize_memory: the LLM call for %s failed: %s", target, exc)
                success = False
                continue
            exchange.extend([*prompt, {"role": "assistant", "content": result.text}])
            candidates = parse_candidates(result.text)
            if candidates is None:
                log.warning(
                    "summarize_memory: unreadable LLM reply for %s, nothing written: %.200r", target, result.text
                )
                success = False
            author = getattr(result, "model", "") or getattr(llm, "model", "")
            items = [
                {**base, "content": c["content"], "when_to_use": c["when_to_use"],
                 "memory_id": memory.memory_id_for(c["content"], target), "author": author}
                for c in candidates or []
            ]  # fmt: skip
            items = _valid_items(items)
            decision = self._llm_decision(
                "write", LLM_SUMMARIZER_POLICY, "write" if items else "silent", result, prompt,
                [i["memory_id"] for i in items], target=target, candidates=len(items),
                parse_error=candidates is None,
            )  # fmt: skip
            memory.log_decision(decision)  # logged before the write decisions it caused
            self.last_decision_ids.append(decision.decision_id)
            for item in items:
                item["metadata"] = {"source": "summarize_memory", "llm_decision_id": decision.decision_id}
            written.extend(await self._call(self._add_gated, memory, items))
        return success

    def _add_gated(self, memory: Memory, items: list[dict[str, Any]]) -> list[MemoryNode]:
        """Write candidates through the workspace's write policy (store / discard / update, each logged)."""
        if not items:
            return []
        with using_write_policy(memory, None):
            return memory.add_many(items)

    @staticmethod
    def _similar(memory: Memory, target: str, text: str, top_k: int) -> list[str]:
        """Texts of up to ``top_k`` stored memories of ``target`` close to ``text`` (shown to the summarizer so
        that it does not propose them again). Reads the index directly: this is context, not a decision."""
        if memory.count(target) == 0 or not isinstance(top_k, int) or top_k < 1:
            return []
        cands = memory.candidates(text[-4000:], min(int(top_k), 200), target)
        found = memory.records.get_by_seqs([int(i) for i in cands.ids])
        order = sorted(range(len(cands.ids)), key=lambda i: -_nan0(float(cands.vector_score[i])))[:top_k]
        return [found[int(cands.ids[i])].content for i in order if int(cands.ids[i]) in found]

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


def _nan0(value: float) -> float:
    return 0.0 if math.isnan(value) else float(value)


def _valid_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Candidates that would be accepted as memories; others are dropped with a warning (one bad proposal must
    not lose the rest, since ``add_many`` rejects a batch with any bad item)."""
    from reme.memory import build_node

    out = []
    seen: set[str] = set()
    for item in items:
        try:
            build_node(item)
        except BadInputError as exc:
            log.warning("summarize_memory: dropping a proposed memory: %s", exc)
            continue
        if item["memory_id"] not in seen:  # the same text twice in one reply
            seen.add(item["memory_id"])
            out.append(item)
    return out


def _field(node: MemoryNode, key: str) -> Any:
    if key in _SORTABLE:
        return getattr(node, key)
    return node.metadata.get(key)


def _matches(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, list | tuple | set | frozenset):
        return value in wanted
    return bool(value == wanted)


def _sort_value(value: Any) -> tuple[int, Any]:
    """Missing values sort below every present one."""
    return (0, 0) if value is None else (1, value)
