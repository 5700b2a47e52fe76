"""ReMe 0.4.x's ``BM25Index``, standalone and in memory: ``await add_docs({id: text})``, ``await retrieve(query,
limit) -> [id, ...]`` best first (this project's BM25 over ``bm25s``). A ``tokenizer`` with ``tokenize(texts)`` may
be assigned; without one (``""``) this project's BM25 tokens are used. Nothing is persisted."""

from __future__ import annotations

from typing import Any

__all__ = ["BM25Index"]


class BM25Index:
    """An in-memory BM25 index of documents by id; needs no application context and no ``start()``."""

    def __init__(self, tokenizer: Any = "", **_: Any) -> None:
        self.tokenizer = tokenizer or None
        self.docs: dict[str, str] = {}
        self._index: Any = None

    async def add_docs(self, docs: dict[str, str]) -> None:
        self.docs.update({str(k): str(v) for k, v in docs.items()})
        self._index = None

    async def delete_docs(self, ids: list[str]) -> None:
        for key in ids:
            self.docs.pop(str(key), None)
        self._index = None

    def _text(self, text: str) -> str:
        if self.tokenizer is not None and hasattr(self.tokenizer, "tokenize"):
            return " ".join(self.tokenizer.tokenize([text])[0])
        return text

    async def retrieve(self, query: str, limit: int = 10) -> list[str]:
        from reme.retrieval.keyword import BM25Index as Index

        if not self.docs or not query.strip():
            return []
        keys = list(self.docs)
        if self._index is None:
            self._index = Index(list(range(len(keys))), [self._text(self.docs[k]) for k in keys])
        rows, _ = self._index.search(self._text(query), max(1, int(limit)))
        return [keys[int(i)] for i in rows]
