"""Cost of the decision core on search and add: trajectory logging on vs off, and the pre-policy path.

Three search paths over the same workspace and queries, interleaved query by query so that machine noise hits
all of them alike:
- ``core_ranker``: candidates + ReMe's fused score (``reme.policy.fusion.fused_scores``; the core engine's path, no
  features, no decision, no log);
- ``policy_log_off``: ``Memory.search`` through the heuristic rank policy (features, Plackett-Luce
  log-probability, ``Decision`` record), logging off;
- ``policy_log_on``: the same with the trajectory log on (one JSON line appended per search).
And bulk adds (write decisions) with logging off and on. Random unit vectors (dim 384) over synthetic texts;
query embedding excluded.

    python benchmarks/bench_decisions.py --n 10000 --queries 500 --json benchmarks/results/decisions.json
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
from bench_store import corpus  # the same synthetic memory texts and questions

from reme.memory import Memory
from reme.policy.fusion import fused_scores
from reme.retrieval.embedding import RandomEncoder, normalize_rows
from reme.settings import TrajectorySettings, WorkspaceSettings


def _latency(samples: list[float]) -> dict[str, float]:
    arr = np.asarray(samples) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 4),
        "p95_ms": round(float(np.percentile(arr, 95)), 4),
        "mean_ms": round(float(arr.mean()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--limit", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    texts, questions = corpus(args.n, args.seed)
    vectors = normalize_rows(rng.standard_normal((args.n, 384)).astype(np.float32))
    qtexts = [questions[i % len(questions)] for i in range(args.queries)]
    qvecs = normalize_rows(rng.standard_normal((args.queries, 384)).astype(np.float32))
    on = WorkspaceSettings(trajectories=TrajectorySettings(enabled=True))
    off = WorkspaceSettings(trajectories=TrajectorySettings(enabled=False))
    report: dict[str, object] = {
        "benchmark": "decisions",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "n": args.n,
        "queries": args.queries,
        "limit": args.limit,
    }
    with tempfile.TemporaryDirectory(prefix="reme-bench-") as tmp:
        adds: dict[str, object] = {}
        for label, settings in (("log_off", off), ("log_on", on)):
            with Memory(
                Path(tmp) / f"add-{label}", encoder=RandomEncoder(384), settings=settings, embedding_cache=False
            ) as mem:
                t0 = time.perf_counter()
                mem.add_many([{"content": t} for t in texts], vectors=vectors, batch_size=1000)
                adds[label] = {"memories_per_s": round(args.n / (time.perf_counter() - t0), 1)}
        report["add_bulk"] = adds
        ws = Path(tmp) / "add-log_on"
        # one Memory (one copy of the index) for every path, logging toggled per call: only logging differs
        mem = Memory(ws, encoder=RandomEncoder(384), settings=on, embedding_cache=False)
        n_cand = mem.retrieval.candidates_for(args.limit)
        mem.search(qtexts[0], args.limit, query_vector=qvecs[0])  # build the indexes before timing
        samples: dict[str, list[float]] = {"core_ranker": [], "policy_log_off": [], "policy_log_on": []}
        for i in range(args.queries):
            t0 = time.perf_counter()
            cands = mem.candidates(qtexts[i], n_cand, query_vector=qvecs[i])
            vec, kw = np.nan_to_num(cands.vector_score, nan=0.0), np.nan_to_num(cands.keyword_score, nan=0.0)
            scores = fused_scores(vec, kw, cands.dense_rank >= 0, cands.keyword_rank >= 0)
            order = np.argsort(-scores, kind="stable")
            order = order[np.isfinite(scores[order])][: args.limit]
            mem.records.get_by_seqs(cands.ids[order].tolist())
            samples["core_ranker"].append(time.perf_counter() - t0)
            mem.trajectory.enabled = False
            t0 = time.perf_counter()
            mem.search(qtexts[i], args.limit, query_vector=qvecs[i])
            samples["policy_log_off"].append(time.perf_counter() - t0)
            mem.trajectory.enabled = True
            t0 = time.perf_counter()
            mem.search(qtexts[i], args.limit, query_vector=qvecs[i])
            samples["policy_log_on"].append(time.perf_counter() - t0)
        report["search"] = {k: _latency(v) for k, v in samples.items()}
        segment_bytes = sum(p.stat().st_size for p in (ws / "trajectories").glob("segment-*.jsonl"))
        report["log_bytes_per_decision"] = round(segment_bytes / (args.n + args.queries + 1), 1)
        report["note"] = "search paths interleaved per query on one Memory; logging toggled per call"
        mem.close()
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
