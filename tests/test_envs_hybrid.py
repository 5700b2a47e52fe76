"""The environments' in-memory search must rank exactly as a real workspace does."""

import numpy as np

from reme.datasets import generate_synthetic, parse_locomo
from reme.envs.hybrid import hybrid_top_k
from reme.memory import Memory
from reme.retrieval.keyword import tokenize
from reme.settings import TrajectorySettings, WorkspaceSettings


def test_hybrid_top_k_matches_memory_search(tmp_path, random_encoder):
    episodes, _ = parse_locomo(generate_synthetic(1, sessions=3, seed=5), "synthetic")
    episode = episodes[0]
    texts = list(dict.fromkeys(t.render("plain") for t in episode.turns))[:80]  # distinct texts: no exact ties
    rng = np.random.default_rng(0)
    stored = sorted(rng.choice(len(texts), 50, replace=False).tolist())
    mem = Memory(
        tmp_path / "ws",
        encoder=random_encoder,
        settings=WorkspaceSettings(trajectories=TrajectorySettings(enabled=False)),
    )
    try:
        mem.add_many([{"content": texts[i], "memory_id": f"m{i}"} for i in stored], show_progress=False)
        queries = [q.question for q in episode.questions[:25]] + ["zzzz no keyword hit", texts[stored[3]]]
        vectors = random_encoder.encode([texts[i] for i in stored])
        qvecs = random_encoder.encode(queries)
        got = hybrid_top_k(vectors, [tokenize(texts[i]) for i in stored], qvecs, [tokenize(q) for q in queries], k=10)
        for query, top in zip(queries, got):
            hits = mem.search(query, limit=10, min_score=0.0)
            assert [h.memory.memory_id for h in hits] == [f"m{stored[i]}" for i in top], query
    finally:
        mem.close()


def test_hybrid_top_k_empty_and_small():
    vecs = np.eye(3, dtype=np.float32)
    out = hybrid_top_k(vecs[:0], [], vecs[:1], [["a"]], k=5)
    assert len(out) == 1 and len(out[0]) == 0
    out = hybrid_top_k(vecs, [["a"], ["b"], []], vecs[:2], [["a"], []], k=5)
    assert sorted(out[0].tolist()) == [0, 1, 2] and out[0][0] == 0
    assert out[1][0] == 1  # no keyword hit: dense order
