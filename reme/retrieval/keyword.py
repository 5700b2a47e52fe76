"""Keyword candidates: real BM25 (bm25s, Lucene variant) over a tokenizer that also handles CJK text.

Tokenizer: lower-cased words of two or more word characters (bm25s's own default pattern), English stop words
removed (bm25s's list); runs of Chinese characters and Japanese kana become unigrams plus bigrams, since those
scripts do not separate words with spaces. Hangul is space-separated and goes through the word rule.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df]+")
_WORD = re.compile(r"(?u)\b\w\w+\b")

_STOPWORDS: frozenset[str] | None = None


def _stopwords() -> frozenset[str]:
    global _STOPWORDS
    if _STOPWORDS is None:
        from bm25s.stopwords import STOPWORDS_EN

        _STOPWORDS = frozenset(STOPWORDS_EN)
    return _STOPWORDS


def tokenize(text: str) -> list[str]:
    """BM25 tokens of a text.

    >>> tokenize("Caroline went to the LGBTQ support group")
    ['caroline', 'went', 'lgbtq', 'support', 'group']
    >>> tokenize("我喜欢猫")
    ['我', '喜', '欢', '猫', '我喜', '喜欢', '欢猫']
    """
    tokens: list[str] = []
    stop = _stopwords()
    rest = text
    for run in _CJK_RUN.findall(text):
        tokens.extend(run)
        tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
    if tokens:
        rest = _CJK_RUN.sub(" ", text)
    words = [w for w in _WORD.findall(rest.lower()) if w not in stop]
    return words + tokens


class BM25Index:
    """BM25 over one target's memories. bm25s builds a static sparse matrix, so the index is rebuilt from
    the records after changes (lazily, on the next search); ids are the store's integer keys."""

    def __init__(self, ids: Sequence[int] | np.ndarray, texts: Sequence[str], k1: float = 1.5, b: float = 0.75):
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self.ids = np.asarray(ids, dtype=np.int64)
        self.position = {int(i): p for p, i in enumerate(self.ids.tolist())}
        """Store key -> row of the score vector."""
        self.retriever: Any = None
        tokens = [tokenize(t) for t in texts]
        if any(tokens):  # a target whose memories hold no keyword token ("👍", "I", "No.") searches by vector alone
            self.retriever = bm25s.BM25(k1=k1, b=b)
            self.retriever.index(tokens, show_progress=False)

    @classmethod
    def from_retriever(cls, ids: np.ndarray, retriever: Any, k1: float = 1.5, b: float = 0.75) -> BM25Index:
        """Wrap a bm25s index loaded from disk."""
        index = cls([], [], k1, b)
        index.ids = np.asarray(ids, dtype=np.int64)
        index.position = {int(i): p for p, i in enumerate(index.ids.tolist())}
        index.retriever = retriever
        return index

    def __len__(self) -> int:
        return len(self.ids)

    def score_all(self, query: str) -> np.ndarray:
        """Raw BM25 score of every indexed memory (row order of ``ids``)."""
        tokens = tokenize(query)
        if self.retriever is None or not tokens:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self.retriever.get_scores(tokens), dtype=np.float32)

    def search(self, query: str, n: int, scores: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` ``(ids, raw BM25 scores)`` with a positive score, best first (``scores``: a precomputed
        ``score_all(query)``)."""
        if scores is None:
            scores = self.score_all(query)
        n = min(n, len(scores))
        if n <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
        top = top[scores[top] > 0]
        order = top[np.lexsort((top, -scores[top]))]  # best first; ties by insertion order
        return self.ids[order], scores[order]
