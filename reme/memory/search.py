"""A search of one target, read straight down: validate the request once, take FAISS and BM25 candidates from the
target's index, build the rank policy's view of them (``RankState``), let the policy decide the order (a logged
decision), drop the hits under ReMe's fused-score floor, fetch the records.

The keyword options of ``Memory.search`` / ``search_with_decision`` / ``search_many`` are declared once, in the
``TypedDict``s below; ``search`` here is the one implementation behind all three.

Two different scores are in play, each computed once per search: the *policy's* scores order the hits
(``SearchHit.policy_score``); ReMe's *fused score* ``w * cosine + (1 - w) * bm25_norm`` (``reme.policy.fusion``) is
``SearchHit.score`` and what ``min_score`` applies to, whatever the policy: one documented scale (at most 1).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from reme.errors import BadInputError
from reme.memory.checks import check_filters, check_limit, check_min_score
from reme.policy.decision import Decision, Mode
from reme.policy.explore import explore_rank
from reme.policy.fusion import linear_fusion
from reme.policy.rank import RankState
from reme.policy.rank_features import RANK_FEATURES
from reme.policy.registry import ensure_registered
from reme.retrieval.candidates import CandidateSet
from reme.retrieval.features import build_features, context_features, neighbour_text_features
from reme.schema import MemoryNode, SearchHit, check_text, normalize_target

if TYPE_CHECKING:
    from reme.memory.facade import Memory
    from reme.memory.indexes import TargetIndex

__all__ = ["DecisionSearchOptions", "RankOptions", "SearchOptions", "candidates", "rank_state", "search", "search_many"]


class RankOptions(TypedDict, total=False):
    """How the candidates of a search are ranked and filtered (every search method takes these)."""

    min_score: float | None
    """Floor on ReMe's fused score (default ``RetrievalConfig.min_score``, 0.1; ``-inf``: none), whatever the policy."""
    policy: Any | None
    """The rank policy (default the workspace's); a learned one is registered so that its decisions stay replayable."""
    mode: Mode | None
    """``greedy`` or ``sample`` (default the workspace's setting)."""
    filters: dict[str, Any] | None
    """Metadata filter, ``{key: value}`` or ``{key: [values]}`` (``checks.check_filters``): only memories whose
    metadata matches are candidates. Both sides are then searched exactly over the matching memories, so a narrow
    filter still finds its best matches (not the few that survive a wider search)."""


class SearchOptions(RankOptions, total=False):
    """The options of ``Memory.search``."""

    query_vector: np.ndarray | None
    """The query's embedding (skips encoding it)."""
    episode_id: str | None
    group_id: str | None
    step: int | None
    """Stamped on the logged decision (episodes, GRPO groups, steps of a rollout)."""


class DecisionSearchOptions(SearchOptions, total=False):
    """The options of ``Memory.search_with_decision``."""

    query_time: datetime | None
    """When the question is asked (default now): memory ages are measured from it."""
    dense_hits: tuple[np.ndarray, np.ndarray] | None
    """``(scores, ids)`` of this query from a batched dense search (skips the dense search)."""


def candidates(
    memory: Memory,
    query: str,
    n: int,
    target: str | None = None,
    query_vector: np.ndarray | None = None,
    dense_hits: tuple[np.ndarray, np.ndarray] | None = None,
    allowed: np.ndarray | None = None,
) -> CandidateSet:
    """FAISS and BM25 candidates of a checked ``query`` (``n`` from each side) in one target, merged, with both
    exact scores for every candidate and the neighbour features. ``allowed``: the store keys a metadata filter
    keeps; each side is then an exact search over those alone."""
    target = normalize_target(target)
    if query_vector is None:
        query_vector = memory.encode_queries([query])
    query_vector = np.asarray(query_vector, dtype=np.float32).reshape(1, -1)
    with memory._lock:  # a consistent index: another thread's write must not change it mid-search
        index = memory.index_for(target)
        if len(index.dense) and query_vector.shape[1] != index.dense.dim:
            raise BadInputError(f"query vector has {query_vector.shape[1]} dims, the index {index.dense.dim}")
        bm25 = index.bm25
        assert bm25 is not None  # index_for always returns a complete index
        bm25_all = bm25.score_all(query)
        if allowed is not None:
            dense_scores, dense_ids, kw_ids, kw_scores = _filtered_sides(index, allowed, query_vector, bm25_all, n)
        elif dense_hits is not None:
            dense_scores, dense_ids = dense_hits[0][None, :n], dense_hits[1][None, :n]
        else:
            dense_scores, dense_ids = index.dense.search(query_vector, n)
        if allowed is None:
            kw_ids, kw_scores = bm25.search(query, n, scores=bm25_all)
        cands = CandidateSet.merge(query, dense_ids[0], dense_scores[0], kw_ids, kw_scores)
        # both exact scores for every candidate: cosine of keyword-only ones, BM25 of dense-only ones
        vec = np.full(len(cands), np.nan, dtype=np.float32)
        need = np.flatnonzero(cands.dense_rank < 0)
        if len(need):
            vec[need] = index.dense.vectors(cands.ids[need]) @ query_vector[0]
        raw = np.asarray([bm25_all[bm25.position[int(i)]] for i in cands.ids], dtype=np.float32)
        cands.fill(vec, raw)
        cands.context = _neighbour_context(cands, index, bm25_all, query_vector[0])
    return cands


def _filtered_sides(
    index: TargetIndex, allowed: np.ndarray, query_vector: np.ndarray, bm25_all: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both sides' top ``n`` among the ``allowed`` store keys, exactly: cosines of their stored vectors, and their
    BM25 scores (positive only), best first with ties in store order, as the unfiltered sides give them."""
    assert index.bm25 is not None
    position = index.bm25.position
    keys = np.asarray([k for k in allowed.tolist() if k in position], dtype=np.int64)  # indexed (not deleted since)
    cosine = index.dense.vectors(keys) @ query_vector[0] if len(keys) else np.zeros(0, dtype=np.float32)
    top = np.lexsort((keys, -cosine))[:n]
    raw = bm25_all[[position[int(k)] for k in keys]] if len(keys) else np.zeros(0, dtype=np.float32)
    hit = np.flatnonzero(raw > 0)
    best = hit[np.lexsort((keys[hit], -raw[hit]))][:n]
    return cosine[top][None, :].astype(np.float32), keys[top][None, :], keys[best], raw[best].astype(np.float32)


def _neighbour_context(cands: CandidateSet, index: TargetIndex, bm25_all: np.ndarray, qvec: np.ndarray) -> np.ndarray:
    """Neighbour features: query scores of the memories stored just before and after each candidate."""
    assert index.bm25 is not None
    present = index.bm25.position
    cosine_of = {int(i): float(c) for i, c in zip(cands.ids, cands.vector_score)}
    neighbours = {int(i) + o for i in cands.ids for o in (-2, -1, 1, 2)}
    extra = sorted(key for key in neighbours - set(cosine_of) if key in present)  # never set(present): 100k keys
    if extra:
        cosine_of.update(zip(extra, (index.dense.vectors(np.asarray(extra)) @ qvec).tolist()))
    retrieved = cands.keyword_rank >= 0
    best = float(cands.keyword_raw[retrieved].max()) if retrieved.any() else 0.0
    bm25_norm_of = {
        key: (float(bm25_all[present[key]]) / best if best > 0 else 0.0) for key in cosine_of if key in present
    }
    return context_features(cands.ids, present, cosine_of, bm25_norm_of)


def rank_state(
    memory: Memory,
    query: str,
    n: int,
    k: int,
    target: str | None = None,
    query_vector: np.ndarray | None = None,
    query_time: datetime | None = None,
    dense_hits: tuple[np.ndarray, np.ndarray] | None = None,
    allowed: np.ndarray | None = None,
) -> tuple[CandidateSet, RankState, builtins.list[MemoryNode | None]]:
    """Candidates of a checked query and the ranking policy's view of them (``RANK_FEATURES`` per candidate), with
    the candidates' records (``None`` for one deleted meanwhile); ``allowed`` as in ``candidates``."""
    cands = candidates(memory, query, n, target, query_vector, dense_hits, allowed)
    wanted = {int(i) + o for i in cands.ids for o in (-1, 0, 1)}
    nodes = memory.records.get_by_seqs(sorted(wanted))
    memories = [nodes.get(int(i)) for i in cands.ids]
    own_target = normalize_target(target)

    def text_of(key: int) -> str | None:
        node = nodes.get(key)
        return node.index_text if node is not None and node.memory_target == own_target else None

    neighbours = [(text_of(int(i) - 1), text_of(int(i) + 1)) for i in cands.ids]
    features = np.concatenate(
        [build_features(cands, memories, query_time), cands.context, neighbour_text_features(query, neighbours)],
        axis=1,
    )
    ids = [m.memory_id if m is not None else "" for m in memories]
    return cands, RankState(features, k, ids, RANK_FEATURES), memories


def search(
    memory: Memory,
    query: str,
    limit: int = 5,
    target: str | None = None,
    *,
    min_score: float | None = None,
    policy: Any | None = None,
    query_vector: np.ndarray | None = None,
    mode: Mode | None = None,
    episode_id: str | None = None,
    group_id: str | None = None,
    step: int | None = None,
    query_time: datetime | None = None,
    dense_hits: tuple[np.ndarray, np.ndarray] | None = None,
    filters: dict[str, Any] | None = None,
) -> tuple[Decision, builtins.list[SearchHit]]:
    """The ranking decision of one search and its hits (see ``Memory.search_with_decision``)."""
    check_limit(limit)
    query = check_text(query, "query")
    _check_ranking(memory, min_score, policy)
    wanted = check_filters(filters)
    return _ranked(
        memory, query, limit, target, min_score, policy, query_vector, mode, episode_id, group_id, step, query_time,
        None if wanted else dense_hits, wanted,
    )  # fmt: skip


def _check_ranking(memory: Memory, min_score: float | None, policy: Any | None) -> None:
    if policy is not None:
        ensure_registered(memory.workspace.root, policy)  # its decisions must stay replayable
    check_min_score(min_score)


def _ranked(
    memory: Memory,
    query: str,
    limit: int,
    target: str | None,
    min_score: float | None,
    policy: Any | None,
    query_vector: np.ndarray | None,
    mode: Mode | None,
    episode_id: str | None,
    group_id: str | None,
    step: int | None,
    query_time: datetime | None,
    dense_hits: tuple[np.ndarray, np.ndarray] | None,
    filters: dict[str, builtins.list[Any]] | None = None,
) -> tuple[Decision, builtins.list[SearchHit]]:
    """A search whose arguments are checked: decide (under ``policies.exploration.rank``), filter, build the hits,
    log the decision with the positions it returned (``extra["returned"]``) and its metadata filter."""
    threshold = memory.retrieval.min_score if min_score is None else float(min_score)
    allowed = memory.records.seqs_matching(normalize_target(target), filters) if filters else None
    cands, state, memories = rank_state(
        memory, query, memory.retrieval.candidates_for(limit), limit, target, query_vector, query_time, dense_hits,
        allowed,
    )  # fmt: skip
    ranker = policy or memory.rank_policy
    rule = memory.settings.policies.exploration
    canary = memory.rank_canary if policy is None else None  # a policy given to this search is compared with none
    decision = explore_rank(ranker, state, ranker.decide(state, mode or memory.settings.mode, memory._rng),
                            rule.rank, rule.seed, canary, rule.canary)  # fmt: skip
    scores = decision.scores if decision.scores is not None else ranker.scores(state)  # asked once
    fused = linear_fusion(
        np.nan_to_num(cands.vector_score, nan=0.0), np.nan_to_num(cands.keyword_score, nan=0.0),
        memory.retrieval.vector_weight,
    )  # fmt: skip
    hits: builtins.list[SearchHit] = []
    returned: builtins.list[int] = []
    for pos in decision.action:
        node = memories[pos]
        if node is None or fused[pos] < threshold:  # deleted meanwhile, or below ReMe's score floor
            continue
        vec = float(cands.vector_score[pos])
        kw = float(cands.keyword_score[pos])
        hits.append(
            SearchHit(
                memory=node,
                score=float(fused[pos]),
                policy_score=float(scores[pos]),
                vector_score=None if np.isnan(vec) else vec,
                keyword_score=None if np.isnan(kw) else kw,
                rank=len(hits),
                decision_id=decision.decision_id,
            )
        )
        returned.append(int(pos))
    decision.extra["returned"] = returned  # what the caller got: the top k the credit rules read
    if filters:
        decision.extra["filters"] = filters
    memory.log_decision(
        decision, ranker, episode_id=episode_id, group_id=group_id, step=step, target=normalize_target(target)
    )
    return decision, hits


def search_many(
    memory: Memory,
    queries: Sequence[str],
    limit: int = 5,
    target: str | None = None,
    *,
    query_vectors: np.ndarray | None = None,
    min_score: float | None = None,
    policy: Any | None = None,
    mode: Mode | None = None,
    filters: dict[str, Any] | None = None,
) -> builtins.list[builtins.list[SearchHit]]:
    """The hits of each query (see ``Memory.search_many``): one batched encode and one batched dense search, then
    the per-query ranking of ``search``."""
    if not queries:
        return []
    checked = [check_text(q, "query") for q in queries]
    vectors = memory.encode_queries(checked) if query_vectors is None else np.asarray(query_vectors, np.float32)
    if vectors.shape[0] != len(checked):
        raise BadInputError(f"{len(checked)} queries but {vectors.shape[0]} query vectors")
    check_limit(limit)
    _check_ranking(memory, min_score, policy)
    wanted = check_filters(filters)
    if wanted:  # each query searches the matching memories exactly: no shared dense search to batch
        return [
            _ranked(memory, q, limit, target, min_score, policy, vectors[i : i + 1], mode, None, None, None, None,
                    None, wanted)[1]
            for i, q in enumerate(checked)
        ]  # fmt: skip
    n = memory.retrieval.candidates_for(limit)
    with memory._lock:
        index = memory.index_for(normalize_target(target))
        if len(index.dense) and vectors.shape[1] != index.dense.dim:
            raise BadInputError(f"query vectors have {vectors.shape[1]} dims, the index {index.dense.dim}")
        scores, ids = index.dense.search(vectors, n)
    return [
        _ranked(
            memory, q, limit, target, min_score, policy, vectors[i : i + 1], mode, None, None, None, None,
            (scores[i], ids[i]),
        )[1]
        for i, q in enumerate(checked)
    ]  # fmt: skip
