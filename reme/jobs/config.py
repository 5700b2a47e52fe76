"""ReMe 0.4.x's application configuration (``ApplicationConfig``) and the default jobs and components.

A host passes the config as keyword arguments of ``ReMe(...)``; ``jobs`` maps a job name to its ``backend``
(``base``, ``background``), ``description``, JSON-Schema ``parameters`` and ``steps`` (each a ``backend``, the
step's name, plus its options); extra keys of a job are keyword arguments every run of it gets.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["ApplicationConfig", "ComponentConfig", "JobConfig", "default_components", "default_jobs"]


class ComponentConfig(BaseModel):
    """One component (or step): its ``backend`` and any options."""

    model_config = ConfigDict(extra="allow")

    backend: str = ""


class JobConfig(ComponentConfig):
    """One job: ``description``, JSON-Schema ``parameters``, ``steps``, ``enable_serve`` (listed as an action)."""

    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)
    steps: list[ComponentConfig] = Field(default_factory=list)
    enable_serve: bool = True


class ApplicationConfig(BaseModel):
    """ReMe 0.4's application config. Folder names are relative to ``workspace_dir``."""

    model_config = ConfigDict(extra="ignore")

    app_name: str = "ReMe"
    workspace_dir: str = ".reme"
    metadata_dir: str = "metadata"
    session_dir: str = "session"
    """Conversation transcripts go to ``<session_dir>/dialog/<session_id>.jsonl``."""
    mem_session_dir: str = "mem_session"
    resource_dir: str = "resource"
    daily_dir: str = "daily"
    """Daily notes: ``<daily_dir>/<YYYY-MM-DD>/<name>.md`` and the day index ``<daily_dir>/<YYYY-MM-DD>.md``."""
    digest_dir: str = "digest"
    """Consolidated notes of ``auto_dream``: ``<digest_dir>/{procedure,personal,wiki}/<slug>.md``."""
    enable_logo: bool = True
    timezone: str | None = "Asia/Shanghai"
    language: str = ""
    log_to_console: bool = True
    log_to_file: bool = True
    plugins: list[str] = Field(default_factory=list)
    service: ComponentConfig = Field(default_factory=lambda: ComponentConfig(backend="http"))
    jobs: dict[str, JobConfig] = Field(default_factory=dict)
    components: dict[str, dict[str, ComponentConfig]] = Field(default_factory=dict)
    thread_pool_max_workers: int = 0

    @field_validator("components", mode="before")
    @classmethod
    def _type_names(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(getattr(k, "value", k)): v for k, v in value.items()}
        return value


def _params(required: list[str] | None = None, **props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required or []}


_S = {"type": "string"}
_I = {"type": "integer"}
_B = {"type": "boolean"}
_O = {"type": "object"}


def _job(description: str, step: str, parameters: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {
        "backend": "base",
        "description": description,
        "parameters": parameters,
        "steps": [{"backend": step, **options}],
    }


def default_jobs() -> dict[str, Any]:
    """ReMe 0.4's jobs with their defaults (used when a config names no ``jobs``)."""
    jobs: dict[str, Any] = {
        "index_update_loop": {
            "backend": "background",
            "watch_dirs": ["daily_dir", "digest_dir"],
            "watch_suffixes": ["md"],
            "steps": [{"backend": "init_changes_step"}, {"backend": "watch_changes_step"}],
        },
        "version": _job("The version of the ReMe API.", "version_step", _params()),
        "health_check": _job("Whether the components answer.", "health_check_step", _params()),
        "status": _job("Memory use of the components.", "status_step", _params()),
        "graph_snapshot": _job("The digest notes and their links.", "graph_snapshot_step", _params()),
        "reindex": _job(
            "Rebuild the search index.",
            "reindex_step",
            _params(scope={"type": "string", "enum": ["all", "bm25", "embedding"], "default": "all"}),
        ),
        "search": _job(
            "Search the notes: keyword and vector candidates, ranked by the workspace's rank policy.",
            "search_step",
            _params(
                ["query"],
                query=_S,
                limit={"type": "integer", "default": 5},
                min_score={"type": "number", "default": 0.0},
                search_filter={"type": "object"},
                start_date=_S,
                end_date=_S,
                strict_date_filter={"type": "boolean", "default": False},
            ),
            vector_weight=0.7,
            candidate_multiplier=3.0,
            expand_links=True,
            max_links_per_direction=10,
        ),
        "node_search": _job(
            "Search the digest notes, one row per file.",
            "node_search_step",
            _params(["query"], query=_S, limit={"type": "integer", "default": 20}),
            candidate_multiplier=5.0,
        ),
        "daily_list": _job("The notes of a day.", "daily_list_step", _params(date={"type": "string", "default": ""})),
        "daily_reindex": _job("Rebuild a day's index note.", "daily_reindex_step", _params(date=_S)),
        "frontmatter_read": _job("A note's front matter.", "frontmatter_read_step", _params(["path"], path=_S)),
        "frontmatter_update": _job(
            "Merge keys into a note's front matter.",
            "frontmatter_update_step",
            _params(["path", "metadata"], path=_S, metadata=_O),
        ),
        "frontmatter_delete": _job(
            "Remove keys from a note's front matter.",
            "frontmatter_delete_step",
            _params(["path", "keys"], path=_S, keys={"type": "array", "items": _S}),
        ),
        "stat": _job("A file's size and times.", "stat_step", _params(["path"], path=_S)),
        "list": _job(
            "The files of a folder.",
            "list_step",
            _params(
                path={"type": "string", "default": ""}, recursive={**_B, "default": False}, limit={**_I, "default": 100}
            ),
        ),
        "move": _job(
            "Move a note, retargeting the links to it.",
            "move_step",
            _params(
                ["src_path", "dst_path"],
                src_path=_S,
                dst_path=_S,
                overwrite={**_B, "default": False},
                retarget={**_B, "default": True},
            ),
        ),
        "delete": _job("Delete a file or a folder.", "delete_step", _params(["path"], path=_S)),
        "read": _job(
            "Read a note (a line range).",
            "read_step",
            _params(["path"], path=_S, start_line=_I, end_line=_I),
        ),
        "read_image": _job("An image as base64.", "read_image_step", _params(["path"], path=_S), max_bytes=5242880),
        "write": _job(
            "Write a note (front matter name, description, metadata; then the content).",
            "write_step",
            _params(["path", "content"], path=_S, name=_S, description=_S, content=_S, metadata=_O),
        ),
        "daily_write": _job(
            "Write today's note of a session.",
            "daily_write_step",
            _params(
                ["name", "description", "session_id", "content"],
                name=_S,
                description=_S,
                session_id=_S,
                content=_S,
                metadata=_O,
                date=_S,
            ),
        ),
        "edit": _job(
            "Replace every occurrence of old by new in a note's body.",
            "edit_step",
            _params(["path", "old", "new"], path=_S, old=_S, new={"type": "string", "default": ""}),
        ),
        "auto_memory": _job(
            "Write or update the session's daily note from a conversation (an LLM write decision).",
            "auto_memory_step",
            _params(
                ["messages"],
                messages={"type": "array", "items": _O},
                session_id={"type": "string", "default": ""},
                memory_hint=_S,
            ),
        ),
        "auto_dream": {
            "backend": "base",
            "description": "Consolidate recent daily notes into digest notes and topics (LLM write decisions).",
            "parameters": _params(
                date={"type": "string", "default": ""},
                hint={"type": "string", "default": ""},
                scan_days={**_I, "default": 2},
                max_units={**_I, "default": 5},
                topic_count={**_I, "default": 3},
                topic_diversity_days={**_I, "default": 7},
            ),
            "steps": [
                {"backend": "dream_extract_step"},
                {"backend": "dream_integrate_step"},
                {"backend": "dream_topics_step"},
                {"backend": "dream_finish_step"},
            ],
        },
        "traverse": _job(
            "The wikilink graph around notes: nodes up to depth hops away, directed edges.",
            "traverse_step",
            _params(
                ["path"],
                path={"oneOf": [_S, {"type": "array", "items": _S, "minItems": 1}]},
                depth={"type": "integer", "minimum": 0, "default": 1},
                direction={"type": "string", "enum": ["forward", "backward", "both"], "default": "both"},
            ),
        ),
        "auto_resource": _job(
            "Turn changed files under resource/ into daily notes that link their source (an LLM write decision).",
            "auto_resource_step",
            _params(["changes"], changes={"type": "array", "items": _O}),
        ),
        "proactive": _job(
            "The topics auto_dream chose for a day.",
            "proactive_step",
            _params(date={"type": "string", "default": ""}, include_content={**_B, "default": True}),
        ),
    }
    return jobs


def default_components() -> dict[str, Any]:
    """ReMe 0.4's default components: a regex tokenizer, the local file store, no LLM until one is configured or
    injected (``update_component("as_llm", "default", model=...)``)."""
    return {
        "tokenizer": {"default": {"backend": "regex"}},
        "as_llm": {"default": {"backend": "openai", "model": None}},
        "file_graph": {"default": {"backend": "local"}},
        "file_catalog": {"default": {"backend": "local"}, "dream": {"backend": "local"}},
        "keyword_index": {"default": {"backend": "bm25", "tokenizer": "default"}},
        "file_store": {"default": {"backend": "local", "keyword_index": "default", "file_graph": "default"}},
    }
