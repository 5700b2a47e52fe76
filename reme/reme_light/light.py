"""``ReMeLight``: ReMe 0.3.1.x's file-based memory surface, on this project's store and policies.

The constructor keywords, method names, defaults, return shapes and working-directory layout are ReMe's
(``docs/migrating-from-reme.md`` has the table). What changes is who decides:

- ``check_context`` / ``pre_reasoning_hook``: the split is a compact policy's ``Decision`` (default ReMe's tail
  reserve, ``HeuristicCompactPolicy``; a learned ``mlp-compact-ranked`` when configured), logged with its
  log-probability;
- ``compact_memory``: the LLM compactor; its summary is a decision with the summed token log-probability;
- ``summary_memory``: the ReAct writer; every tool call and its final answer are decisions, and a learned write
  gate (when configured) filters the facts before the files are edited;
- ``memory_search``: hybrid FAISS + BM25 candidates over ``MEMORY.md`` and ``memory/*.md``, ranked by the rank
  policy (ReMe's 0.7 / 0.3 fusion by default), logged as a ranking decision.

With no LLM endpoint (no ``LLM_BASE_URL`` / key, no ``llm=``), everything that needs no model works offline; the
LLM methods report the failure the way ReMe's do (``""``, the messages kept) instead of raising.

``as_llm`` may be, as in ReMe, ``"default"``, a model spec (``"hf:<dir>"``), an ``LLMClient``, or an AgentScope chat
model with its ``as_llm_formatter`` (what CoPaw and QwenPaw pass): the latter is driven through
``reme.llm.agentscope_chat.AgentScopeChat`` (the writer then uses native tool calls), and its decisions are logged
with ``logprob: null`` (AgentScope models return no log-probabilities) instead of being refused. ``as_token_counter``
may be AgentScope's async counter; it is awaited per text piece.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from reme.config import EmbeddingConfig, RetrievalConfig
from reme.errors import BadInputError, ReMeError
from reme.messages import rule_token_count
from reme.policy.compact import HeuristicCompactPolicy
from reme.policy.decision import Decision
from reme.settings import load_dotenv

from .compactor import CompactionSummary, run_compactor
from .writer import FileTools, WriterRun, run_writer

log = logging.getLogger("reme.light")

__all__ = ["ReMeLight", "RuleTokenCounter"]

_FILE_TARGET = "file:memory"


class RuleTokenCounter:
    """ReMe's default token counter: ``floor(UTF-8 bytes / 3.75)`` of a text, summed over messages."""

    divisor = 3.75

    def count_text(self, text: str) -> int:
        return rule_token_count(text)

    async def count(self, messages: Any = None, text: str | None = None, **_: Any) -> int:
        if text is not None:
            return rule_token_count(text)
        from .messages import message_tokens

        if isinstance(messages, str):
            return rule_token_count(messages)
        return sum(message_tokens(m) for m in messages or [])


class ReMeLight:
    """File-based agent memory with ReMe 0.3.1.x's API (see the module docstring)."""

    def __init__(
        self,
        working_dir: str = ".reme",
        llm_api_key: str | None = None,
        llm_base_url: str | None = None,
        embedding_api_key: str | None = None,
        embedding_base_url: str | None = None,
        default_as_llm_config: dict[str, Any] | None = None,
        default_embedding_model_config: dict[str, Any] | None = None,
        default_file_store_config: dict[str, Any] | None = None,
        default_file_watcher_config: dict[str, Any] | None = None,
        vector_weight: float = 0.7,
        candidate_multiplier: float = 3.0,
        enable_load_env: bool = False,
        *,
        llm: Any = None,
        encoder: Any = None,
        compact_policy: Any = None,
        rank_policy: Any = None,
        write_policy: Any = None,
        write_gate: bool | None = None,
        **kwargs: Any,
    ):
        """ReMe's keywords, plus ours (keyword-only): ``llm`` an ``LLMClient`` (default: built from
        ``LLM_API_KEY`` / ``LLM_BASE_URL`` / ``default_as_llm_config["model_name"]`` when first needed), ``encoder``
        an embedding encoder (tests), ``compact_policy`` / ``rank_policy`` / ``write_policy`` policies (default:
        the workspace's active ones, else ReMe's rules), ``write_gate`` whether the write policy filters the
        writer's facts (default: when that policy is a learned one)."""
        if enable_load_env:
            load_dotenv(Path.cwd() / ".env")
        if kwargs:
            log.debug("ReMeLight: ignoring unknown keyword arguments %s", sorted(kwargs))
        self.working_dir = str(working_dir)
        self.root = Path(working_dir).expanduser()
        for sub in ("memory", "tool_result", "dialog"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.llm_api_key = llm_api_key or os.environ.get("LLM_API_KEY")
        self.llm_base_url = llm_base_url or os.environ.get("LLM_BASE_URL")
        self.default_as_llm_config = dict(default_as_llm_config or {})
        self.default_file_store_config = dict(default_file_store_config or {})
        self.default_file_watcher_config = dict(default_file_watcher_config or {})
        self.default_embedding_model_config = dict(default_embedding_model_config or {})
        self._embedding_api_key = embedding_api_key
        self._embedding_base_url = embedding_base_url
        self.embedding = self._embedding_config(self.default_embedding_model_config)
        self.retrieval = RetrievalConfig(vector_weight=vector_weight, candidate_multiplier=candidate_multiplier)
        self._llm = llm
        self._encoder = encoder
        self._compact_policy = compact_policy
        self._rank_policy = rank_policy
        self._write_policy = write_policy
        self._write_gate = write_gate
        self._compact_from_settings = compact_policy is None
        self.last_compact_decision: Decision | None = None
        """The latest compact decision ``check_context`` / ``pre_reasoning_hook`` took (``None`` before the first):
        a host that knows how the task went after it can reward it by id (``memory.feedback(v, decision_id=...)``)."""
        self.memory: Any = None
        self.summary_tasks: list[asyncio.Task[str]] = []
        self._started = False

    # ------------------------------------------------------------------------------------------- lifecycle
    async def start(self) -> ReMeLight:
        """Open the store, drop expired tool results, index ``MEMORY.md`` and ``memory/*.md``; returns ``self``."""
        from reme.memory import Memory

        from .tool_result import clean_expired_tool_results

        if self._started:
            return self
        self.memory = Memory(
            self.root,
            self.embedding,
            self.retrieval,
            encoder=self._encoder,
            rank_policy=self._rank_policy,
            write_policy=self._write_policy,
        )
        if self._compact_from_settings:
            self._load_compact_policy()
        clean_expired_tool_results(self.root / "tool_result")
        self.memory.sync_markdown()
        self._started = True
        return self

    def _load_compact_policy(self) -> None:
        from reme.policy.guard import load_guarded

        policies = self.memory.settings.policies
        self._compact_policy = load_guarded(self.root, "compact", policies.compact, policies.on_failure)

    def reload_policies(self) -> dict[str, str]:
        """Serve again what ``reme.yaml`` names now (after ``reme learn`` or ``reme policy activate``), for the kinds
        not passed in code: rank and write (``Memory.reload_policies``) and compact. Returns the versions served."""
        memory = self._require_started()
        served = dict(memory.reload_policies())
        if self._compact_from_settings:
            self._load_compact_policy()
            served["compact"] = str(getattr(self._compact_policy, "version", ""))
        return served

    async def close(self) -> bool:
        """Wait for pending summary tasks, then close the store. Returns what ReMe's returns: ``False`` after closing
        a started instance, ``True`` when it was not started."""
        if self.summary_tasks:
            await self.await_summary_tasks()
        was_started = self._started
        if self.memory is not None:
            self.memory.close()
            self.memory = None
        self._started = False
        return not was_started

    async def restart(self, restart_config: dict[str, Any] | None = None) -> None:
        """ReMe's ``restart``: rebuild the components named in ``restart_config`` (``{section: {name: config}}``).
        ``embedding_models.default`` replaces the embedding config (the store re-encodes its memories when the model
        changed); ``as_llms.default`` / ``llms.default`` the LLM settings (the client is rebuilt on next use). Other
        sections have no counterpart here and are ignored with a log line. A started instance is reopened."""
        config = restart_config or {}
        if not isinstance(config, dict):
            raise BadInputError(f"restart_config must be a dict of sections, got {type(config).__name__}")
        for section, entries in config.items():
            default = (entries or {}).get("default") if isinstance(entries, dict) else None
            if section == "embedding_models" and isinstance(default, dict):
                self.default_embedding_model_config = {**self.default_embedding_model_config, **default}
                self.embedding = self._embedding_config(self.default_embedding_model_config)
            elif section in ("as_llms", "llms") and isinstance(default, dict):
                self.default_as_llm_config = {**self.default_as_llm_config, **default}
                self.llm_api_key = default.get("api_key") or self.llm_api_key
                self.llm_base_url = default.get("base_url") or self.llm_base_url
                self._llm = None
            else:
                log.info("restart: nothing to rebuild for %s", section)
        if self._started:
            if self.memory is not None:
                self.memory.close()
                self.memory = None
            self._started = False
            await self.start()

    def _embedding_config(self, config: dict[str, Any]) -> EmbeddingConfig:
        """The host's embedding settings (``default_embedding_model_config``: ``base_url``, ``api_key``,
        ``model_name``, ``dimensions``, ``use_dimensions``; the constructor's keywords and ``$EMBEDDING_BASE_URL`` /
        ``$EMBEDDING_API_KEY`` win over empty values): an endpoint when a base URL is given, else the bundled local
        model (ReMe fell back to keyword search alone; a local model needs no endpoint)."""
        return (
            EmbeddingConfig.from_reme(
                config,
                api_key=self._embedding_api_key or config.get("api_key") or os.environ.get("EMBEDDING_API_KEY"),
                base_url=self._embedding_base_url or config.get("base_url") or os.environ.get("EMBEDDING_BASE_URL"),
                require_base_url=True,
            )
            or EmbeddingConfig()
        )

    async def __aenter__(self) -> ReMeLight:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def _require_started(self) -> Any:
        if not self._started or self.memory is None:
            raise ReMeError("ReMeLight is not started: call `await reme.start()` (or use `async with`) first")
        return self.memory

    # ------------------------------------------------------------------------------------------- helpers
    @property
    def llm(self) -> Any:
        """The LLM client (built on first use from the constructor's settings and the environment)."""
        if self._llm is None:
            from reme.llm.factory import build_llm_from_config

            self._llm = build_llm_from_config(
                self.default_as_llm_config, api_key=self.llm_api_key, base_url=self.llm_base_url
            )
        return self._llm

    def _llm_for(self, as_llm: Any, as_llm_formatter: Any = "default") -> Any:
        """The client for ``as_llm`` (see the module docstring)."""
        from reme.llm.agentscope_chat import AgentScopeChat, is_agentscope_model

        if as_llm is None or isinstance(as_llm, str):
            if isinstance(as_llm, str) and as_llm.startswith("hf:"):
                from reme.llm import build_llm

                return build_llm(as_llm)
            return self.llm
        if hasattr(as_llm, "achat"):
            return as_llm
        if is_agentscope_model(as_llm):
            return AgentScopeChat(as_llm, as_llm_formatter)
        raise BadInputError(
            f"as_llm must be 'default', 'hf:<path>', an LLM client with achat() or an AgentScope chat model; got "
            f"{type(as_llm).__name__}"
        )

    def _record(self, decision: Decision) -> None:
        if self.memory is not None:
            self.memory.log_decision(decision)

    @property
    def default_as_token_counter(self) -> RuleTokenCounter:
        return RuleTokenCounter()

    @staticmethod
    def calculate_memory_compact_threshold(max_input_length: int, compact_ratio: float) -> int:
        """ReMe's threshold: ``int(max_input_length * compact_ratio * 0.95)``."""
        from .context import calculate_memory_compact_threshold

        return calculate_memory_compact_threshold(max_input_length, compact_ratio)

    def get_in_memory_memory(self, as_token_counter: Any = None) -> Any:
        """A new ``ReMeInMemoryMemory`` (an AgentScope ``InMemoryMemory`` where AgentScope is installed) whose
        compressed messages go to ``working_dir/dialog``, counting tokens with ``as_token_counter``."""
        from .in_memory import ReMeInMemoryMemory

        return ReMeInMemoryMemory(token_counter=as_token_counter, dialog_path=self.root / "dialog")

    # ------------------------------------------------------------------------------------------- context
    async def compact_tool_result(
        self,
        messages: list[Any],
        old_max_bytes: int = 3000,
        recent_max_bytes: int = 100 * 1024,
        retention_days: int = 3,
        recent_n: int = 1,
    ) -> list[Any]:
        """Truncate long tool results in place (the full text goes to ``tool_result/<uuid>.txt`` with ReMe's
        ``<<<TRUNCATED>>>`` notice); the original list on error."""
        from .tool_result import compact_tool_results

        return compact_tool_results(
            messages, self.root / "tool_result", old_max_bytes, recent_max_bytes, retention_days, recent_n
        )

    async def check_context(
        self,
        messages: list[Any],
        memory_compact_threshold: int,
        memory_compact_reserve: int = 10000,
        as_token_counter: Any = "default",
    ) -> tuple[list[Any], list[Any], bool]:
        """``(messages_to_compact, messages_to_keep, is_valid)``; ``([], messages, False)`` on error, and (as in ReMe)
        when the threshold does not exceed the reserve. Tokens are counted with ``as_token_counter``."""
        from .context import check_context, compact_exploration
        from .messages import prepared_counter

        try:
            self._require_started()
            if memory_compact_threshold <= memory_compact_reserve:
                log.warning(
                    "check_context: the threshold (%s) must exceed the reserve (%s): nothing is compacted",
                    memory_compact_threshold, memory_compact_reserve,
                )  # fmt: skip
                return [], messages, False
            counter = await prepared_counter(as_token_counter, messages)
            to_compact, to_keep, valid, decision = check_context(
                messages,
                memory_compact_threshold,
                memory_compact_reserve,
                counter,
                policy=self._compact_policy or HeuristicCompactPolicy(),
                trajectory=self.memory.trajectory,
                target=_FILE_TARGET,
                exploration=compact_exploration(self.memory.settings),
            )
            if decision is not None:
                self.last_compact_decision = decision
        except Exception as exc:
            log.error("check_context failed: %s", exc)
            return [], messages, False
        return to_compact, to_keep, valid

    async def _summarise(
        self,
        messages: list[Any],
        as_llm: Any,
        as_llm_formatter: Any,
        language: str,
        max_input_length: int,
        compact_ratio: float,
        previous_summary: str,
        extra_instruction: str,
    ) -> CompactionSummary:
        from .formatting import format_messages

        threshold = self.calculate_memory_compact_threshold(max_input_length, compact_ratio)
        transcript = format_messages(messages, threshold)
        try:
            llm = self._llm_for(as_llm, as_llm_formatter)
        except Exception as exc:
            return CompactionSummary(error=f"{type(exc).__name__}: {exc}")
        result = await run_compactor(
            transcript,
            llm=llm,
            previous_summary=previous_summary,
            language=language,
            extra_instruction=extra_instruction,
            record=self._record,
        )
        if result.error:
            log.warning("compact_memory: %s; the messages are kept", result.error)
        return result

    async def compact_memory(
        self,
        messages: list[Any],
        as_llm: Any = "default",
        as_llm_formatter: Any = "default",
        as_token_counter: Any = "default",
        language: str = "zh",
        max_input_length: int = 128 * 1024,
        compact_ratio: float = 0.7,
        previous_summary: str = "",
        return_dict: bool = False,
        add_thinking_block: bool = True,
        extra_instruction: str = "",
    ) -> str | dict[str, Any]:
        """A structured summary of ``messages`` (``""`` when the model failed or the summary is invalid); with
        ``return_dict``: ``{"user_message", "history_compact", "is_valid"}``."""
        self._require_started()
        result = await self._summarise(
            messages, as_llm, as_llm_formatter, language, max_input_length, compact_ratio, previous_summary,
            extra_instruction,
        )  # fmt: skip
        return result.as_dict() if return_dict else result.summary

    async def summary_memory(
        self,
        messages: list[Any],
        as_llm: Any = "default",
        as_llm_formatter: Any = "default",
        as_token_counter: Any = "default",
        toolkit: Any = None,
        language: str = "zh",
        max_input_length: int = 128 * 1024,
        compact_ratio: float = 0.7,
        timezone: tzinfo | str | None = None,
        add_thinking_block: bool = True,
    ) -> str:
        """Run the ReAct writer over ``messages``: it writes ``memory/YYYY-MM-DD.md`` (or answers ``[SILENT]``);
        returns its final text. The memory files are re-indexed afterwards. A failed model call returns ``""``
        and leaves the files as they were before the failing step. A host's ``toolkit`` is accepted: the writer
        uses its own file tools, with the same names and arguments, confined to the workspace and behind the write
        gate. An unknown ``timezone`` falls back to local time (as in ReMe)."""
        run = await self._write(messages, as_llm, as_llm_formatter, language, max_input_length, compact_ratio, timezone)
        return run.text

    async def _write(
        self,
        messages: list[Any],
        as_llm: Any,
        as_llm_formatter: Any,
        language: str,
        max_input_length: int,
        compact_ratio: float,
        timezone: tzinfo | str | None,
    ) -> WriterRun:
        from .formatting import format_messages

        memory = self._require_started()
        threshold = self.calculate_memory_compact_threshold(max_input_length, compact_ratio)
        transcript = format_messages(messages, threshold)
        gate = self._gate()
        try:
            run = await run_writer(
                transcript,
                llm=self._llm_for(as_llm, as_llm_formatter),
                tools=FileTools(self.root),
                date=_today(timezone),
                record=self._record,
                language=language,
                gate=gate,
            )
        except Exception as exc:
            log.warning("summary_memory failed: %s", exc)
            run = WriterRun(error=f"{type(exc).__name__}: {exc}")
        if run.files_written:
            memory.sync_markdown()
        return run

    def _gate(self) -> Any:
        memory = self.memory
        use = self._write_gate
        if use is None:
            use = getattr(memory.write_policy, "learned", True)
        if not use:
            return None
        return lambda facts: memory.decide_writes(list(facts), _FILE_TARGET)

    def add_async_summary_task(self, messages: list[Any], **kwargs: Any) -> None:
        """Start ``summary_memory(messages, **kwargs)`` in the background (an ``asyncio.Task`` in
        ``self.summary_tasks``); needs a running event loop."""
        task = asyncio.get_running_loop().create_task(self.summary_memory(messages, **kwargs))
        self.summary_tasks.append(task)

    async def await_summary_tasks(self) -> str:
        """Wait for every background summary; returns a status log, one line per task."""
        lines = []
        tasks, self.summary_tasks = self.summary_tasks, []
        for i, task in enumerate(tasks):
            try:
                text = await task
                lines.append(f"task {i}: done: {text[:200]}")
            except Exception as exc:
                lines.append(f"task {i}: failed: {type(exc).__name__}: {exc}")
        return "\n".join(lines)

    async def pre_reasoning_hook(
        self,
        messages: list[Any],
        system_prompt: str = "",
        compressed_summary: str = "",
        as_llm: Any = "default",
        as_llm_formatter: Any = "default",
        as_token_counter: Any = "default",
        toolkit: Any = None,
        language: str = "zh",
        max_input_length: int = 128 * 1024,
        compact_ratio: float = 0.7,
        memory_compact_reserve: int = 10000,
        enable_tool_result_compact: bool = True,
        tool_result_compact_keep_n: int = 3,
    ) -> tuple[list[Any], str]:
        """ReMe's hook before each reasoning step: truncate old tool results, and when the context is over the
        threshold, split it with the compact policy, summarise what leaves (synchronously) and write long-term
        memory from it (in the background). Returns ``(messages_to_keep, new_compressed_summary)``. When the split
        is invalid, or the summary fails, every message is kept and the previous summary returned."""
        from .messages import make_msg, prepared_counter

        self._require_started()
        threshold = self.calculate_memory_compact_threshold(max_input_length, compact_ratio)
        heads = [make_msg("system", text, "system") for text in (system_prompt, compressed_summary) if text]
        count = await prepared_counter(as_token_counter, heads)
        left = threshold - sum(count(text) for text in (system_prompt, compressed_summary) if text)
        if enable_tool_result_compact and len(messages) > tool_result_compact_keep_n:
            head = messages[: len(messages) - tool_result_compact_keep_n]
            await self.compact_tool_result(head)
        to_compact, to_keep, valid = await self.check_context(
            messages, max(left, 0), memory_compact_reserve, as_token_counter
        )
        if not to_compact or not valid:
            return messages, compressed_summary
        result = await self._summarise(
            to_compact, as_llm, as_llm_formatter, language, max_input_length, compact_ratio, compressed_summary, ""
        )
        if not result.is_valid:
            return messages, compressed_summary
        self.add_async_summary_task(
            to_compact, as_llm=as_llm, as_llm_formatter=as_llm_formatter, language=language,
            max_input_length=max_input_length, compact_ratio=compact_ratio,
        )  # fmt: skip
        return to_keep, result.summary

    # ------------------------------------------------------------------------------------------- search
    async def memory_search(self, query: str, max_results: int = 5, min_score: float = 0.1) -> Any:
        """Search ``MEMORY.md`` and ``memory/*.md``: an AgentScope ``ToolResponse`` (or its stand-in) with one text
        block holding a JSON list of ``{path, start_line, end_line, score, snippet, source, ...}``."""
        from .messages import make_tool_response

        memory = self._require_started()
        if not isinstance(query, str) or not query.strip():
            return make_tool_response("Error: query must be a non-empty string")
        limit = min(100, max(1, int(max_results)))
        floor = min(0.999, max(0.001, float(min_score)))
        memory.sync_markdown()
        hits = await asyncio.to_thread(memory.search, query, limit, _FILE_TARGET, min_score=floor)
        results = [
            {
                "path": hit.memory.metadata.get("path", ""),
                "start_line": hit.memory.metadata.get("start_line", 0),
                "end_line": hit.memory.metadata.get("end_line", 0),
                "score": round(float(hit.score), 6),
                "snippet": hit.memory.content,
                "source": hit.memory.metadata.get("source", "memory"),
                "raw_metric": {"vector": hit.vector_score, "keyword": hit.keyword_score},
                "metadata": {"memory_id": hit.memory.memory_id, "decision_id": hit.decision_id},
            }
            for hit in hits
        ]
        return make_tool_response(json.dumps(results, ensure_ascii=False, indent=2))


def _today(timezone: tzinfo | str | None) -> str:
    """Today in ``timezone`` (an IANA name or a ``tzinfo``); an unknown name falls back to local time, as in ReMe."""
    if isinstance(timezone, str):
        from zoneinfo import ZoneInfo

        try:
            timezone = ZoneInfo(timezone)
        except Exception as exc:
            log.warning("unknown timezone %r (%s): the local date is used", timezone, exc)
            timezone = None
    return datetime.now(timezone).strftime("%Y-%m-%d")
