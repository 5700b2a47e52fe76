"""``ReMeClient``: the HTTP service (``reme serve``) with the local ``Memory`` method names.

    client = ReMeClient("http://127.0.0.1:8002", token="...")
    node = client.add("Alice moved to Lisbon.", target="user:alice")
    hits = client.search("Where does Alice live?", target="user:alice")
    client.feedback(1.0, decision_id=hits[0].decision_id)

Results are the library's own records (``MemoryNode``, ``SearchHit``, ``RewardEvent``). Errors map to the library's
exceptions: 404 -> ``NotFoundError``, 401 / 403 / 413 / 422 -> ``BadInputError``, anything else -> ``ReMeError``.
"""

from __future__ import annotations

import builtins
import json
from typing import Any

from reme.errors import BadInputError, ConflictError, NotFoundError, ReMeError
from reme.policy.trajectory import RewardEvent
from reme.schema import MemoryNode, SearchHit

__all__ = ["ReMeClient"]


class ReMeClient:
    """A synchronous client of ``reme serve`` (httpx; the ``service`` extra)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8002", token: str | None = None, timeout: float = 30.0):
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ReMeClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code < 400:
            return response
        try:
            detail = response.json().get("detail", response.text)
        except (ValueError, AttributeError):
            detail = response.text
        message = f"{method} {path}: HTTP {response.status_code}: {detail}"
        if response.status_code == 404:
            raise NotFoundError(message)
        if response.status_code == 409:
            raise ConflictError(message)
        if response.status_code in (401, 403, 413, 421, 422, 429):
            raise BadInputError(message)
        raise ReMeError(message)

    def health(self) -> dict[str, Any]:
        return dict(self._call("GET", "/health").json())

    def add(
        self,
        content: str,
        target: str | None = None,
        *,
        time: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> MemoryNode | None:
        """The memory written, or ``None`` when the write policy discarded it."""
        body = {"content": content, "target": target, "time": time, "metadata": metadata}
        out = self._call("POST", "/v1/memories", json=body).json()
        return MemoryNode.model_validate(out["memory"]) if out["stored"] else None

    def list(self, target: str | None = None, limit: int | None = None) -> list[MemoryNode]:
        params = {k: v for k, v in (("target", target), ("limit", limit)) if v is not None}
        return [MemoryNode.model_validate(m) for m in self._call("GET", "/v1/memories", params=params).json()]

    def get(self, memory_id: str) -> MemoryNode:
        return MemoryNode.model_validate(self._call("GET", f"/v1/memories/{memory_id}").json())

    def update(
        self,
        memory_id: str,
        content: str | None = None,
        *,
        when_to_use: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> MemoryNode:
        body = {"content": content, "when_to_use": when_to_use, "metadata": metadata}
        return MemoryNode.model_validate(self._call("PATCH", f"/v1/memories/{memory_id}", json=body).json())

    def delete(self, memory_id: str) -> None:
        self._call("DELETE", f"/v1/memories/{memory_id}")

    def search(
        self,
        query: str,
        limit: int = 5,
        target: str | None = None,
        *,
        min_score: float | None = None,
        filters: dict[str, Any] | None = None,
    ) -> builtins.list[SearchHit]:
        """Ranked hits; each carries the ranking decision's id (for ``feedback``). ``filters``: only memories whose
        metadata matches (``{key: value}`` or ``{key: [values]}``)."""
        body = {"query": query, "limit": limit, "target": target, "min_score": min_score, "filters": filters}
        out = self._call("POST", "/v1/search", json=body).json()
        return [
            SearchHit(
                memory=MemoryNode.model_validate(r["memory"]),
                score=r["score"],
                policy_score=r.get("policy_score"),
                vector_score=r["vector_score"],
                keyword_score=r["keyword_score"],
                rank=r["rank"],
                decision_id=out["decision_id"],
            )
            for r in out["results"]
        ]

    def feedback(self, value: float, *, decision_id: str | None = None, memory_id: str | None = None) -> RewardEvent:
        body = {"value": value, "decision_id": decision_id, "memory_id": memory_id}
        return RewardEvent.model_validate(self._call("POST", "/v1/feedback", json=body).json())

    def compact(
        self,
        messages: builtins.list[dict[str, Any]],
        *,
        memory_compact_threshold: int | None = None,
        memory_compact_reserve: int = 10000,
        summarize: bool = True,
        previous_summary: str = "",
        language: str = "en",
    ) -> dict[str, Any]:
        """The server's compaction of ``messages``: ``{decision_id, policy, valid, compacted (positions), kept
        (the messages to keep verbatim), summary, summary_error}``."""
        body = {
            "messages": messages,
            "memory_compact_threshold": memory_compact_threshold,
            "memory_compact_reserve": memory_compact_reserve,
            "summarize": summarize,
            "previous_summary": previous_summary,
            "language": language,
        }
        return dict(self._call("POST", "/v1/compact", json=body).json())

    def task_flow(self, name: str, workspace_id: str, **params: Any) -> dict[str, Any]:
        """One of ReMe 0.3.x's task-memory flows (``retrieve_task_memory``, ``summary_task_memory``,
        ``add_task_memory``, ``record_task_memory``, ``delete_task_memory``, ``load_memory``, ``dump_memory``):
        ReMe's response ``{answer, success, messages, metadata}``."""
        return dict(self._call("POST", f"/{name}", json={"workspace_id": workspace_id, **params}).json())

    def trajectories(self) -> builtins.list[dict[str, Any]]:
        """The workspace's trajectory log, one dict per record (needs a token with target ``*``)."""
        text = self._call("GET", "/v1/trajectories").text
        return [json.loads(line) for line in text.splitlines() if line.strip()]
