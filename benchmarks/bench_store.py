"""Store benchmark: add and search throughput and search latency at 10k and 100k memories, plus embedding speed.

Index figures use random unit vectors (embedding 100k texts on 2 cores takes about 20 minutes) over texts from
the synthetic generator, so BM25 works on real words; queries are synthetic questions, their vectors random
too. The baseline in the same run is exact brute-force cosine in numpy over the same vectors, and the pieces
of a hybrid search (FAISS alone, BM25 alone) are timed separately. Embedding throughput is measured on a few
thousand real texts with the default model.

    python benchmarks/bench_store.py --sizes 10000,100000 --json bench.json

Prints one JSON object (and writes it to --json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from reme.datasets.synthetic import generate_synthetic
from reme.memory import Memory
from reme.retrieval.embedding import RandomEncoder, normalize_rows


def corpus(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` unique memory texts and a pool of questions, from synthetic conversations."""
    convs = generate_synthetic(n_conversations=8, sessions=10, seed=seed)
    turns = [
        t["text"]
        for c in convs
        for k, s in c["conversation"].items()
        if k.startswith("session_") and isinstance(s, list)
        for t in s
    ]
    questions = [q["question"] for c in convs for q in c["qa"]]
    texts = [f"{turns[i % len(turns)]} (note {i})" for i in range(n)]
    return texts, questions


def latency(samples: list[float]) -> dict[str, float]:
    arr = np.asarray(samples) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 3),
        "p95_ms": round(float(np.percentile(arr, 95)), 3),
        "qps": round(len(arr) / (arr.sum() / 1000.0), 1),
    }


def bench_size(n: int, dim: int, queries: int, limit: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    texts, questions = corpus(n, seed)
    vectors = normalize_rows(rng.standard_normal((n, dim)).astype(np.float32))
    qtexts = [questions[i % len(questions)] for i in range(queries)]
    qvecs = normalize_rows(rng.standard_normal((queries, dim)).astype(np.float32))
    out: dict[str, object] = {"n": n}
    with tempfile.TemporaryDirectory(prefix="reme-bench-") as tmp:
        mem = Memory(tmp, encoder=RandomEncoder(dim), embedding_cache=False)
        # bulk add: 1,000 per transaction (each transaction fsynced)
        t0 = time.perf_counter()
        mem.add_many([{"content": t} for t in texts], vectors=vectors, batch_size=1000)
        bulk_s = time.perf_counter() - t0
        out["add_bulk"] = {"memories_per_s": round(n / bulk_s, 1), "seconds": round(bulk_s, 2), "batch": 1000}
        # single adds: one acknowledged (fsynced) transaction each
        single: list[float] = []
        for i in range(200):
            v = vectors[i : i + 1] * -1.0
            t0 = time.perf_counter()
            mem.add(f"single add {i} {texts[i]}", vector=v)
            single.append(time.perf_counter() - t0)
        out["add_single"] = latency(single)
        # the first search builds the target's FAISS and BM25 indexes from the records
        t0 = time.perf_counter()
        mem.candidates(qtexts[0], 15, query_vector=qvecs[0])
        out["index_build_s"] = round(time.perf_counter() - t0, 3)
        index = mem.index_for("default")
        out["index_kind"] = index.dense.kind
        n_cand = mem.retrieval.candidates_for(limit)

        def timed(fn: object) -> list[float]:
            samples = []
            for i in range(queries):
                t0 = time.perf_counter()
                fn(i)  # type: ignore[operator]
                samples.append(time.perf_counter() - t0)
            return samples

        results: dict[str, object] = {}
        # full hybrid path with the heuristic ranker: FAISS + BM25 candidates, fusion, record fetch
        results["hybrid_search"] = latency(
            timed(lambda i: mem.search(qtexts[i], limit=limit, min_score=0.0, query_vector=qvecs[i]))
        )
        results["faiss_only"] = latency(timed(lambda i: index.dense.search(qvecs[i : i + 1], n_cand)))
        results["bm25_only"] = latency(timed(lambda i: index.bm25.search(qtexts[i], n_cand)))
        all_vectors = np.concatenate([vectors, vectors[:200] * -1.0])
        results["numpy_bruteforce_baseline"] = latency(
            timed(lambda i: np.argpartition(-(all_vectors @ qvecs[i]), n_cand)[:n_cand])
        )
        out["search"] = results
        mem.close()
    return out


def bench_embedding(n_texts: int, seed: int) -> dict[str, object]:
    from reme.config import EmbeddingConfig
    from reme.retrieval.cache import CachedEncoder, EmbeddingCache
    from reme.retrieval.embedding import build_encoder

    texts, _ = corpus(n_texts, seed)
    texts = [t.rsplit(" (note", 1)[0] + f" #{i}" for i, t in enumerate(texts)]
    enc = build_encoder(EmbeddingConfig())
    enc.encode(["warm up"])
    t0 = time.perf_counter()
    enc.encode(texts)
    cold = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        cached = CachedEncoder(enc, EmbeddingCache(Path(tmp) / "c.db"))
        cached.encode(texts)
        t0 = time.perf_counter()
        cached.encode(texts)
        warm = time.perf_counter() - t0
    return {
        "model": EmbeddingConfig().model,
        "texts": n_texts,
        "texts_per_s": round(n_texts / cold, 1),
        "cached_texts_per_s": round(n_texts / warm, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--limit", type=int, default=5)
    parser.add_argument("--embed-texts", type=int, default=3000, help="0 skips the embedding benchmark")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    report: dict[str, object] = {
        "benchmark": "store",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "dim": args.dim,
        "limit": args.limit,
        "queries": args.queries,
        "sizes": [bench_size(int(n), args.dim, args.queries, args.limit, args.seed) for n in args.sizes.split(",")],
    }
    if args.embed_texts:
        report["embedding"] = bench_embedding(args.embed_texts, args.seed)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
