"""The feature columns of the compaction environment's states (``COMPACTION_ENV_FEATURES``): what each message is
(its content columns), whether the offline extractor found a fact in it, and how it relates to the turns and facts
before it (``HISTORY_FEATURES``, computed once per episode by ``static_features``). ``reme.envs.compaction``
appends them to ``compact_features`` of each state; definitions are also in ``docs/evaluation.md``.

``HISTORY_FEATURES`` are the message against the conversation's past; ``reme.retrieval.features``'
``context_features`` (a candidate against a query's other candidates) are another thing."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from reme.policy.compact import COMPACT_FEATURES
from reme.policy.write_features import WRITE_FEATURES, write_features
from reme.retrieval.keyword import tokenize
from reme.schema import Episode

__all__ = ["COMPACTION_ENV_FEATURES", "CONTENT_FEATURES", "HISTORY_FEATURES", "history_features", "static_features"]

CONTENT_FEATURES: tuple[str, ...] = ("log_numbers", "log_entities", "has_date", "is_question", "first_person")
"""Columns taken from ``write_features`` of a message's plain rendering (``speaker: text``)."""

HISTORY_FEATURES: tuple[str, ...] = (
    "prev_has_observation",
    "fact_coverage",
    "redundancy",
    "fact_crowding",
    "prior_fact_similarity",
    "has_image",
    "log_turn_index",
    "session_opening",
    "mean_idf",
    "max_idf",
    "new_words",
    "answers_question",
    "relative_length",
)
"""Columns that relate a message to what came before it (never after: every one is known when the message
arrives). With ``v`` the unit vectors of the rendered turns and ``f`` those of the observations:

- ``prev_has_observation``: the previous turn has observations;
- ``fact_coverage``: ``max v_i . f`` over the facts of the three previous turns (is the message already said by a
  fact nearby?);
- ``redundancy``: mean of the five largest ``v_i . v_j``, ``j < i`` (does the conversation repeat it?);
- ``fact_crowding``: ``log(1 + c)``, ``c`` the mean over the turn's facts of the number of earlier facts with
  cosine > 0.6 (crowded facts compete for the store's top k);
- ``prior_fact_similarity``: ``max v_i . f`` over all earlier turns' facts;
- ``has_image``: the turn shares an image (caption);
- ``log_turn_index``: ``log(1 + position in its session)``; ``session_opening``: position < 2 (greetings);
- ``mean_idf`` / ``max_idf``: over the message's distinct BM25 tokens, ``log((i + 1) / (1 + df))`` with ``df``
  the number of earlier turns holding the token (how specific the message is to the conversation so far);
- ``new_words``: ``log(1 + number of its tokens no earlier turn used)``;
- ``answers_question``: the previous turn asks a question;
- ``relative_length``: ``log(1 + tokens)`` minus its mean over the (up to ten) previous turns of the session.
"""

COMPACTION_ENV_FEATURES: tuple[str, ...] = (
    *COMPACT_FEATURES,
    *CONTENT_FEATURES,
    "has_observation",
    *HISTORY_FEATURES,
    "age_fraction",
)
"""The feature columns of a compaction state in this environment, one row per verbatim message:

- the 11 ``COMPACT_FEATURES`` of ``compact_features(state)`` (tokens, position, role, budget shares);
- ``log_numbers``, ``log_entities``, ``has_date``, ``is_question``, ``first_person``: ``write_features`` of the
  message's ``plain`` rendering (the dated prefix would make every message "have a date");
- ``has_observation``: 1 when the dataset lists observations for the turn (the offline extractor's output: the
  analogue of an LLM compactor's "this holds a fact" signal);
- the ``HISTORY_FEATURES`` (the message against the turns and facts before it);
- ``age_fraction``: ``(t_now - t_msg) / max(t_now, 1)`` with ``t`` the turn's index in the conversation and
  ``t_now`` the newest turn streamed so far: 0 for the newest, near 1 for the first turn.
"""


def history_features(
    vectors: np.ndarray,
    fact_vectors: np.ndarray,
    fact_turn: np.ndarray,
    has_observation: np.ndarray,
    turn_index: Sequence[int],
    has_image: Sequence[bool],
    words: Sequence[Sequence[str]],
    is_question: np.ndarray,
    tokens: np.ndarray,
    session: Sequence[str],
) -> np.ndarray:
    """``(n, len(HISTORY_FEATURES))`` float32 columns (documented at ``HISTORY_FEATURES``); causal: row ``i``
    reads only turns ``<= i``."""
    n = len(vectors)
    out = np.zeros((n, len(HISTORY_FEATURES)), dtype=np.float64)
    if n == 0:
        return out.astype(np.float32)
    out[1:, 0] = has_observation[:-1]
    turn_sims = vectors @ vectors.T
    fact_sims = vectors @ fact_vectors.T if len(fact_vectors) else np.zeros((n, 0))
    fact_fact = fact_vectors @ fact_vectors.T if len(fact_vectors) else np.zeros((0, 0))
    for i in range(n):
        near = np.flatnonzero((fact_turn >= i - 3) & (fact_turn < i))
        if len(near):
            out[i, 1] = fact_sims[i, near].max()
        if i:
            out[i, 2] = np.sort(turn_sims[i, :i])[-5:].mean()
        prior = np.flatnonzero(fact_turn < i)
        mine = np.flatnonzero(fact_turn == i)
        if len(prior):
            out[i, 4] = fact_sims[i, prior].max()
            if len(mine):
                out[i, 3] = np.log1p((fact_fact[np.ix_(mine, prior)] > 0.6).sum(axis=1).mean())
    out[:, 5] = np.asarray(has_image, dtype=np.float64)
    index = np.asarray(turn_index, dtype=np.float64)
    out[:, 6] = np.log1p(index)
    out[:, 7] = index < 2
    seen: Counter[str] = Counter()
    log_tokens = np.log1p(np.asarray(tokens, dtype=np.float64))
    for i in range(n):
        distinct = set(words[i])
        if distinct:
            idf = [math.log((i + 1) / (1 + seen[w])) for w in distinct]
            out[i, 8], out[i, 9] = float(np.mean(idf)), max(idf)
            out[i, 10] = math.log1p(sum(1 for w in distinct if not seen[w]))
        seen.update(distinct)
        out[i, 11] = is_question[i - 1] if i else 0.0
        earlier = [j for j in range(max(0, i - 10), i) if session[j] == session[i]]
        out[i, 12] = log_tokens[i] - log_tokens[earlier].mean() if earlier else 0.0
    return out.astype(np.float32)


_CONTENT_COLS = [WRITE_FEATURES.index(name) for name in CONTENT_FEATURES]


def static_features(
    episode: Episode,
    facts: Sequence[Sequence[object]],
    texts: Sequence[str],
    tokens: np.ndarray,
    vectors: np.ndarray,
    fact_vectors: np.ndarray,
    fact_turn: np.ndarray,
) -> np.ndarray:
    """``(n, len(CONTENT_FEATURES) + 1 + len(HISTORY_FEATURES))`` float32 per turn of ``episode``: the content
    columns of its plain rendering, ``has_observation`` (``facts[i]`` is non-empty) and the history columns.
    ``texts`` / ``tokens`` / ``vectors`` are the rendered turns, their token counts and unit vectors;
    ``fact_vectors`` / ``fact_turn`` the observations' vectors and turns."""
    turns = episode.turns
    static = np.zeros((len(turns), len(CONTENT_FEATURES) + 1), dtype=np.float32)
    for i, turn in enumerate(turns):
        static[i, : len(CONTENT_FEATURES)] = write_features(turn.render("plain"), None, None)[_CONTENT_COLS]
        static[i, -1] = 1.0 if facts[i] else 0.0
    history = history_features(
        vectors,
        fact_vectors,
        fact_turn,
        static[:, -1],
        [turn.turn_index for turn in turns],
        [bool(turn.image_caption) for turn in turns],
        [tokenize(t) for t in texts],
        static[:, CONTENT_FEATURES.index("is_question")],
        tokens,
        [turn.session_id for turn in turns],
    )
    return np.concatenate([static, history], axis=1)
