"""``reme bench search``: search latency over N memories, every path measured in the same run.

Memories: texts from the synthetic generator (distinct turns, so BM25 works on real words) with random unit
vectors of dimension ``dim`` (``real_embeddings``: encoded by the workspace's model instead); queries are
synthetic questions with random unit vectors, the query embedding excluded from the search timings and reported
separately (``embedding.texts_per_s``). Paths, each over the same vectors:

- ``faiss``: the dense candidates alone (the workspace's backend: FAISS, or the torch scan on CUDA);
- ``heuristic``: ``Memory.search`` with ReMe's fusion as the rank policy (candidates, features, decision, records);
- ``learned``: ``Memory.search`` with an MLP rank head (``head``: a checkpoint, default a fresh one: the same cost);
- ``torch_topk``: a bare matrix product + ``torch.topk`` over the same vectors on ``device`` (the hardware
  reference; fp16 on CUDA).

Per path: ``p50_ms``, ``p95_ms`` per query batch and ``qps``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from reme.errors import BadInputError
from reme.progress import progress_bar

__all__ = ["bench_search"]


def _texts(n: int, seed: int) -> tuple[list[str], list[str]]:
    """``n`` distinct memory texts and some question texts from the synthetic generator."""
    from reme.datasets import generate_synthetic, parse_locomo

    texts: list[str] = []
    questions: list[str] = []
    seen: set[str] = set()
    round_ = 0
    while len(texts) < n:
        episodes, _ = parse_locomo(generate_synthetic(8, sessions=12, seed=seed + round_), "synthetic")
        for ep in episodes:
            questions.extend(q.question for q in ep.questions)
            for turn in ep.turns:
                text = turn.render("dated")
                if round_:
                    text = f"{text} #{round_}"
                if text not in seen:
                    seen.add(text)
                    texts.append(text)
        round_ += 1
    return texts[:n], questions


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _timed(fn: Callable[[int], Any], rounds: int, batch: int) -> dict[str, float]:
    fn(0)  # warm-up (index build, first allocation)
    times = []
    for i in range(rounds):
        start = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    return {
        "p50_ms": round(statistics.median(times), 3),
        "p95_ms": round(p95, 3),
        "qps": round(batch * 1000 / statistics.mean(times), 1),
    }


def bench_search(
    n: int,
    dim: int = 384,
    batch: int = 1,
    device: str = "cpu",
    queries: int = 200,
    limit: int = 5,
    real_embeddings: bool = False,
    head: str | None = None,
    seed: int = 0,
    ann_threshold: int | None = None,
    workdir: str | Path | None = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Build a workspace of ``n`` memories and time each search path (see the module docstring)."""
    from reme.config import RetrievalConfig
    from reme.memory import Memory
    from reme.policy.rank import HeuristicRankPolicy, MLPRankPolicy
    from reme.retrieval.embedding import RandomEncoder

    if n < 1 or batch < 1 or queries < 1 or dim < 1:
        raise BadInputError("n, dim, batch and queries must be >= 1")
    rng = np.random.default_rng(seed)
    texts, questions = _texts(n, seed)
    tmp = tempfile.TemporaryDirectory(prefix="reme-bench-") if workdir is None else None
    root = Path(workdir if workdir is not None else tmp.name)  # type: ignore[union-attr]
    out: dict[str, Any] = {"n": n, "dim": dim, "batch": batch, "device": device, "limit": limit, "results": {}}
    try:
        encoder: Any = None if real_embeddings else RandomEncoder(dim)
        if device not in ("cpu", "cuda", "auto"):
            raise BadInputError(f"--device {device!r}: use cpu, cuda or auto")
        retrieval = RetrievalConfig(device=device)
        if ann_threshold is not None:
            retrieval = RetrievalConfig(device=device, ann_threshold=ann_threshold)
        memory = Memory(root / "ws", retrieval=retrieval, encoder=encoder, embedding_cache=False)
        # the embedding's own cost, on real texts, whatever the vectors used below
        sample = texts[: min(len(texts), 512)]
        start = time.perf_counter()
        from reme.config import EmbeddingConfig
        from reme.retrieval.embedding import build_encoder

        real = build_encoder(EmbeddingConfig())  # the default model: its cost is reported whatever the vectors
        if real_embeddings:
            encoder = real
            memory.close()
            memory = Memory(root / "ws", retrieval=retrieval, encoder=encoder, embedding_cache=False)
        del sample, start
        vectors = None if real_embeddings else _unit(rng, n, dim)
        start = time.perf_counter()
        step = 10_000
        with progress_bar("adding memories", total=n, enabled=show_progress) as advance:
            for i in range(0, n, step):
                chunk = [{"content": t} for t in texts[i : i + step]]
                memory.add_many(chunk, target="user:bench", vectors=None if vectors is None else vectors[i : i + step])
                advance(len(chunk))
        out["ingest_memories_per_s"] = round(n / (time.perf_counter() - start), 1)
        start = time.perf_counter()
        index = memory.index_for("user:bench")
        out["index_build_s"] = round(time.perf_counter() - start, 3)
        out["backend"] = memory.dense_backend.name
        out["index_kind"] = index.dense.kind
        qtexts = [questions[i % len(questions)] for i in range(queries * batch)]
        qvecs = memory.encode_queries(qtexts) if real_embeddings else _unit(rng, queries * batch, dim)
        n_cand = memory.retrieval.candidates_for(limit)

        def faiss_path(i: int) -> None:
            index.dense.search(qvecs[i * batch : (i + 1) * batch], n_cand)

        out["results"]["faiss"] = _timed(faiss_path, queries, batch)
        learned = MLPRankPolicy.load(head) if head else MLPRankPolicy(seed=seed)
        for label, policy in (("heuristic", HeuristicRankPolicy()), ("learned", learned)):

            def search_path(i: int, policy: Any = policy) -> None:
                for j in range(i * batch, (i + 1) * batch):
                    memory.search(qtexts[j], limit, "user:bench", policy=policy, query_vector=qvecs[j : j + 1])

            out["results"][label] = _timed(search_path, queries, batch)
        stored = vectors if vectors is not None else memory.records.index_rows("user:bench")[3]
        if index.dense.kind == "ivf":
            out["ivf_recall"] = _ivf_recall(index, stored, qvecs[:200], n_cand)
        out["results"]["torch_topk"] = _torch_topk(index, stored, qvecs, batch, queries, n_cand, device, out)
        out["embedding"] = _embedding_cost(real, qtexts[:64], texts[:256])
        memory.close()
    finally:
        if tmp is not None:
            tmp.cleanup()
    heur, learn = out["results"]["heuristic"]["p95_ms"], out["results"]["learned"]["p95_ms"]
    out["learned_overhead"] = round(learn / heur - 1.0, 4) if heur else None
    return out


def _ivf_recall(index: Any, stored: np.ndarray, qvecs: np.ndarray, k: int) -> dict[str, Any]:
    """Recall@k of the approximate index against an exact scan of the same vectors, over the bench's queries (the
    bench adds its memories to one target in order, so the sorted store keys are the rows of ``stored``)."""
    _, approx = index.dense.search(qvecs, k)
    keys = np.asarray(sorted(index.bm25.position), dtype=np.int64)
    matrix = np.ascontiguousarray(stored, dtype=np.float32)
    hits = []
    for start in range(0, len(qvecs), 16):  # 16 queries at a time: the score block stays small
        scores = qvecs[start : start + 16] @ matrix.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        for row, found in zip(top, approx[start : start + 16]):
            hits.append(len(set(found.tolist()) & set(keys[row].tolist())) / k)
    return {"k": k, "recall": round(float(np.mean(hits)), 4), "queries": len(hits), "nprobe": index.dense.nprobe}


def _embedding_cost(encoder: Any, queries: list[str], texts: list[str]) -> dict[str, Any]:
    """The query embedding's own latency (one query at a time) and the model's batch throughput."""
    encoder.encode(queries[:2])  # warm-up
    one = []
    for q in queries:
        start = time.perf_counter()
        encoder.encode([q])
        one.append((time.perf_counter() - start) * 1000)
    one.sort()
    start = time.perf_counter()
    encoder.encode(texts)
    return {
        "model": getattr(encoder, "model_id", ""),
        "query_p50_ms": round(statistics.median(one), 3),
        "query_p95_ms": round(one[min(len(one) - 1, int(0.95 * len(one)))], 3),
        "texts_per_s": round(len(texts) / (time.perf_counter() - start), 1),
    }


def _torch_topk(
    index: Any,
    vectors: np.ndarray,
    qvecs: np.ndarray,
    batch: int,
    queries: int,
    k: int,
    device: str,
    out: dict[str, Any],
) -> dict[str, float]:
    """The hardware reference: ``Q @ V.T`` and ``torch.topk`` over the same vectors, resident on the device."""
    import torch

    dev = torch.device("cuda" if device in ("cuda", "auto") and torch.cuda.is_available() else "cpu")
    dtype = torch.float16 if dev.type == "cuda" else torch.float32
    from reme.retrieval.torch_dense import TorchDenseIndex

    if isinstance(index.dense, TorchDenseIndex):
        matrix = index.dense._matrix[: len(index.dense)]
    else:
        matrix = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)).to(dev, dtype)
    q_all = torch.from_numpy(qvecs).to(dev, dtype)

    def path(i: int) -> None:
        scores = q_all[i * batch : (i + 1) * batch] @ matrix.T
        torch.topk(scores.float(), min(k, matrix.shape[0]), dim=1)
        if dev.type == "cuda":
            torch.cuda.synchronize()

    result = _timed(path, queries, batch)
    out["torch_device"] = str(dev)
    out["bytes_per_batch"] = int(matrix.numel() * matrix.element_size())
    return result
