"""ReMe 0.4.x's ``RegexTokenizer``, standalone: ``tokenize(texts) -> list[list[str]]``, this project's BM25 tokens
(lowercased words, CJK characters and their bigrams); with ``filter_stopwords=False`` stopwords are kept."""

from __future__ import annotations

import itertools
import re
from typing import Any

from reme.retrieval.keyword import tokenize

__all__ = ["RegexTokenizer"]

_WORD = re.compile(r"[^\W_]+", re.U)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class RegexTokenizer:
    """Tokens of texts; needs no application context and no ``start()``."""

    def __init__(self, filter_stopwords: bool = True, **_: Any) -> None:
        self.filter_stopwords = filter_stopwords

    def _one(self, text: str) -> list[str]:
        if self.filter_stopwords:
            return tokenize(text)
        out: list[str] = []
        for word in _WORD.findall(text.lower()):
            if _CJK.search(word):
                chars = [c for c in word if _CJK.match(c)]
                out += chars + [a + b for a, b in itertools.pairwise(chars)]
            else:
                out.append(word)
        return out

    def tokenize(self, texts: list[str]) -> list[list[str]]:
        return [self._one(str(t)) for t in texts]
