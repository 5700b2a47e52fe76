from datetime import UTC
from typing import ClassVar

import numpy as np
import pytest
from fusion_ranker import FusionRanker, load_ranker, rank, save_ranker

from reme.errors import BadInputError
from reme.retrieval.cache import CachedEncoder, EmbeddingCache
from reme.retrieval.candidates import CandidateSet
from reme.retrieval.dense import DenseIndex
from reme.retrieval.embedding import RandomEncoder, normalize_rows
from reme.retrieval.keyword import BM25Index, tokenize


def _cands():
    # dense: ids 1, 2, 3 with cosines 0.9, 0.5, 0.2; keyword: ids 3, 4 with BM25 4.0, 2.0
    return CandidateSet.merge(
        "q",
        np.array([1, 2, 3]),
        np.array([0.9, 0.5, 0.2], dtype=np.float32),
        np.array([3, 4]),
        np.array([4.0, 2.0], dtype=np.float32),
    )


def test_fusion_matches_hand_computed_example():
    cands = _cands()
    assert cands.ids.tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(cands.keyword_score[2:], [1.0, 0.5])  # bm25 / max(bm25)
    order, scores = rank(FusionRanker(), cands, 10)
    # fused = 0.7 * cos + 0.3 * kw:  1 -> 0.63, 2 -> 0.35, 3 -> 0.14 + 0.30 = 0.44, 4 -> 0.15
    assert cands.ids[order].tolist() == [1, 3, 2, 4]
    np.testing.assert_allclose(scores, [0.63, 0.44, 0.35, 0.15], atol=1e-6)
    order, _ = rank(FusionRanker(), cands, 2)
    assert cands.ids[order].tolist() == [1, 3]


def test_fusion_falls_back_to_one_side_like_reme():
    dense_only = CandidateSet.merge("q", np.array([5, 6]), np.array([0.4, 0.3]), np.array([]), np.array([]))
    order, scores = rank(FusionRanker(), dense_only, 5)
    assert dense_only.ids[order].tolist() == [5, 6]
    np.testing.assert_allclose(scores, [0.4, 0.3], atol=1e-6)  # raw cosines, not 0.7 * cosine
    kw_only = CandidateSet.merge("q", np.array([]), np.array([]), np.array([7, 8]), np.array([3.0, 1.5]))
    order, scores = rank(FusionRanker(), kw_only, 5)
    np.testing.assert_allclose(scores, [1.0, 0.5], atol=1e-6)


def test_fusion_dedups_ids_present_on_both_sides():
    cands = CandidateSet.merge("q", np.array([1, 1, -1]), np.array([0.5, 0.4, 0.0]), np.array([1]), np.array([2.0]))
    assert cands.ids.tolist() == [1]
    assert cands.dense_rank.tolist() == [0] and cands.keyword_rank.tolist() == [0]


def test_ranker_checkpoint_roundtrip(tmp_path):
    path = save_ranker(FusionRanker(vector_weight=0.5), tmp_path / "w05")
    ranker = load_ranker(path)
    assert ranker.name == "w05"
    cands = _cands()
    order, scores = rank(ranker, cands, 1)
    # with weight 0.5: id 1 -> 0.45, id 3 -> 0.5 * 0.2 + 0.5 * 1.0 = 0.6
    assert cands.ids[order].tolist() == [3] and scores[0] == pytest.approx(0.6)
    with pytest.raises(BadInputError, match=r"policy\.json"):
        load_ranker(tmp_path)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "policy.json").write_text("{not json")
    with pytest.raises(BadInputError, match="unreadable"):
        load_ranker(tmp_path / "bad")


def test_tokenizer_words_stopwords_and_cjk():
    assert tokenize("The cat SAT on a mat, I think") == ["cat", "sat", "mat", "think"]
    assert tokenize("我喜欢猫") == ["我", "喜", "欢", "猫", "我喜", "喜欢", "欢猫"]
    mixed = tokenize("Alice 去了 東京タワー")
    assert "alice" in mixed and "東京" in mixed and "去了" in mixed
    assert tokenize("") == [] and tokenize("!!! ?") == []


def test_bm25_finds_cjk_and_ranks_by_term_weight():
    index = BM25Index([10, 11, 12], ["我喜欢猫和狗", "今天天气很好", "the weather is nice today"])
    ids, _ = index.search("喜欢猫", 3)
    assert ids.tolist() == [10]
    ids, _ = index.search("nice weather", 3)
    assert ids.tolist() == [12]
    ids, _ = index.search("the a of", 3)  # only stop words
    assert ids.tolist() == []
    assert BM25Index([], []).search("anything", 5)[0].tolist() == []


def test_dense_index_is_exact_and_incremental():
    rng = np.random.default_rng(0)
    vecs = normalize_rows(rng.standard_normal((50, 16)))
    index = DenseIndex.build(np.arange(100, 150), vecs)
    scores, ids = index.search(vecs[:3], 5)
    assert ids[:, 0].tolist() == [100, 101, 102]
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    index.remove(np.array([100]))
    _, ids = index.search(vecs[:1], 5)
    assert 100 not in ids[0].tolist()
    index.add(np.array([999]), vecs[:1])
    _, ids = index.search(vecs[:1], 1)
    assert ids[0].tolist() == [999]


def test_dense_index_switches_to_ivf_above_threshold():
    rng = np.random.default_rng(1)
    centers = normalize_rows(rng.standard_normal((20, 16)))
    vecs = normalize_rows(centers[rng.integers(0, 20, 3000)] + 0.05 * rng.standard_normal((3000, 16)))
    index = DenseIndex.build(np.arange(3000), vecs, ann_threshold=1000, nprobe=8)
    assert index.kind == "ivf"
    exact = vecs @ vecs[:50].T
    _, ids = index.search(vecs[:50], 10)
    truth = np.argsort(-exact, axis=0)[:10].T
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids.tolist(), truth.tolist())])
    assert recall > 0.8


def test_embedding_cache_never_reencodes(tmp_path):
    class Counting(RandomEncoder):
        calls = 0

        def encode(self, texts, show_progress=False):
            Counting.calls += len(texts)
            return super().encode(texts)

    cache = EmbeddingCache(tmp_path / "c.db")
    enc = CachedEncoder(Counting(8), cache)
    a = enc.encode(["x", "y", "x"])
    assert Counting.calls == 2  # "x" once
    b = CachedEncoder(Counting(8), EmbeddingCache(tmp_path / "c.db")).encode(["y", "x"])
    assert Counting.calls == 2
    np.testing.assert_allclose(a[[1, 0]], b)
    assert cache.delete_texts(["x"]) == 1


def test_minilm_encoder_is_offline_and_normalised(minilm):
    vecs = minilm.encode(["Caroline went to a support group.", "Melanie likes painting."])
    assert vecs.shape == (2, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert "all-MiniLM-L6-v2" in minilm.model_id


def test_exact_fill_versus_reme_zero_fill():
    cands = _cands()
    # the store knows every candidate's true scores: id 4's cosine is 0.6, id 1's BM25 is 2.0
    cands.fill(np.array([np.nan, np.nan, np.nan, 0.6]), np.array([2.0, 0.0, np.nan, np.nan]))
    np.testing.assert_allclose(cands.keyword_score, [0.5, 0.0, 1.0, 0.5])
    order, scores = rank(FusionRanker(), cands, 4)
    # exact: 1 -> 0.63 + 0.15 = 0.78, 4 -> 0.42 + 0.15 = 0.57, 3 -> 0.44, 2 -> 0.35
    assert cands.ids[order].tolist() == [1, 4, 3, 2]
    np.testing.assert_allclose(scores, [0.78, 0.57, 0.44, 0.35], atol=1e-6)
    order, scores = rank(FusionRanker(missing="zero"), cands, 4)  # ReMe: a side that did not retrieve adds 0
    assert cands.ids[order].tolist() == [1, 3, 2, 4]
    np.testing.assert_allclose(scores, [0.63, 0.44, 0.35, 0.15], atol=1e-6)


def test_features_are_finite_named_and_per_query_normalised():
    from datetime import datetime

    from reme.policy.rank_features import FEATURE_NAMES
    from reme.retrieval.features import build_features
    from reme.schema import MemoryNode

    cands = _cands()
    memories = [
        MemoryNode(content="a" * 10, message_time="2024-05-01"),
        MemoryNode(content="b" * 100, message_time="2024-05-08T12:00:00+00:00"),
        MemoryNode(content="c"),
        None,
    ]
    x = build_features(cands, memories, query_time=datetime(2024, 5, 11, tzinfo=UTC))
    assert x.shape == (4, len(FEATURE_NAMES)) and np.isfinite(x).all()
    col = {name: x[:, i] for i, name in enumerate(FEATURE_NAMES)}
    np.testing.assert_allclose(col["cosine_gap"][:3], [0.0, -0.4, -0.7], atol=1e-6)
    np.testing.assert_allclose(col["in_dense"], [1, 1, 1, 0])
    np.testing.assert_allclose(col["in_keyword"], [0, 0, 1, 1])
    np.testing.assert_allclose(col["keyword_rr"], [0, 0, 1 / 60, 1 / 61], atol=1e-7)
    np.testing.assert_allclose(col["fused"], [0.63, 0.35, 0.44, 0.15], atol=1e-6)
    np.testing.assert_allclose(col["fused_gap"].max(), 0.0)
    assert col["age_days_log"][0] == pytest.approx(np.log1p(10) / 10)
    assert col["has_time"][3] == 0.0 and col["log_length"][3] == 0.0
    assert build_features(CandidateSet.merge("q", *[np.zeros(0)] * 4)).shape == (0, len(FEATURE_NAMES))
    with pytest.raises(ValueError):
        build_features(cands, memories[:2])


def test_openai_encoder_batches_normalises_and_retries(monkeypatch):
    from reme.config import EmbeddingConfig
    from reme.errors import ReMeError
    from reme.retrieval.embedding import OpenAIEmbeddingEncoder

    class Item:
        def __init__(self, index, embedding):
            self.index, self.embedding = index, embedding

    class FakeEmbeddings:
        calls: ClassVar[list] = []
        fail_first = 1

        def create(self, model, input):
            FakeEmbeddings.calls.append((model, list(input)))
            if FakeEmbeddings.fail_first:
                FakeEmbeddings.fail_first -= 1
                raise ConnectionError("transient")
            # returned out of order, as some servers do; vectors of norm 2
            return type("R", (), {"data": [Item(i, [2.0, 0.0, 0.0]) for i in reversed(range(len(input)))]})

    monkeypatch.setattr("time.sleep", lambda s: None)
    cfg = EmbeddingConfig(backend="openai", model="text-embedding-v4", base_url="http://127.0.0.1:9/v1", batch_size=2)
    enc = OpenAIEmbeddingEncoder(cfg)
    enc._client = type("C", (), {"embeddings": FakeEmbeddings()})()
    vecs = enc.encode(["a", "b", "c"])
    assert vecs.shape == (3, 3) and np.allclose(vecs[:, 0], 1.0)
    assert [len(c[1]) for c in FakeEmbeddings.calls] == [2, 2, 1]  # one failed try, then batches of 2 and 1
    assert enc.model_id == "openai:text-embedding-v4" and "api_key" not in repr(cfg)
    FakeEmbeddings.fail_first = 99
    with pytest.raises(ReMeError, match="failed after"):
        enc.encode(["d"])
    with pytest.raises(ReMeError):
        OpenAIEmbeddingEncoder(EmbeddingConfig(backend="openai"))  # no endpoint, no key


def test_session_features_group_candidates_of_one_session():
    from reme.policy.rank_features import FEATURE_NAMES
    from reme.retrieval.features import build_features
    from reme.schema import MemoryNode

    cands = _cands()  # cosines 0.9, 0.5, 0.2, (none)
    memories = [
        MemoryNode(content="a", metadata={"session_id": "s1"}),
        MemoryNode(content="b", metadata={"session_id": "s2"}),
        MemoryNode(content="c", metadata={"session_id": "s1"}),
        MemoryNode(content="d", message_time="2024-05-01T10:00:00"),
    ]
    x = build_features(cands, memories)
    col = {name: x[:, i] for i, name in enumerate(FEATURE_NAMES)}
    np.testing.assert_allclose(col["session_max_cosine"], [0.9, 0.5, 0.9, 0.0], atol=1e-6)
    np.testing.assert_allclose(col["session_candidates_log"], [np.log(2), 0, np.log(2), 0], atol=1e-6)


def test_empty_dense_index_takes_the_dimension_of_its_first_vectors():
    import numpy as np

    from reme.retrieval.dense import DenseIndex

    index = DenseIndex.build(np.zeros(0, dtype=np.int64), np.zeros((0,), dtype=np.float32))
    vectors = np.eye(3, 8, dtype=np.float32)
    index.add(np.arange(3), vectors)
    scores, ids = index.search(vectors[:1], 2)
    assert index.dim == 8 and ids[0, 0] == 0 and scores[0, 0] == 1.0


def test_the_settings_vector_weight_weights_the_rules_ordering_as_well_as_its_score(tmp_path):
    """``retrieval.vector_weight`` in reme.yaml is ReMe's fusion weight: of the score shown and of the order."""
    import yaml

    from reme.memory import Memory
    from reme.policy.audit import verify
    from reme.policy.rank import HeuristicRankPolicy

    ws = tmp_path / "ws"
    Memory(ws, encoder=RandomEncoder(16)).close()
    (ws / "reme.yaml").write_text(yaml.safe_dump({"retrieval": {"vector_weight": 1.0}}), encoding="utf-8")
    with Memory(ws, encoder=RandomEncoder(16)) as mem:
        assert isinstance(mem.rank_policy, HeuristicRankPolicy) and mem.rank_policy.params["vector_weight"] == 1.0
        for i in range(30):
            mem.add(f"alpha beta note {i}" if i % 3 else f"gamma delta {i}", "user:a")
        decision, hits = mem.search_with_decision("alpha gamma", 10, "user:a", min_score=-1.0)
        cosines = [h.vector_score if h.vector_score is not None else -1.0 for h in hits]
        assert cosines == sorted(cosines, reverse=True)  # cosine alone orders them
        assert all(h.score == pytest.approx(c) for h, c in zip(hits, cosines) if h.vector_score is not None)
        assert decision.extra["params"]["vector_weight"] == 1.0  # the log says which rule took it
        assert mem.reload_policies()["rank"] == str(mem.rank_policy.version)
        assert mem.rank_policy.params["vector_weight"] == 1.0
    report = verify(ws)  # re-scored by the rule with the weight each decision recorded
    assert report.problems == [] and report.checked >= 1
