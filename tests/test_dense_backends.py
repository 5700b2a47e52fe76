"""Dense-candidate backends: the choice (CPU tests cover every branch with the probes overridden), the exact torch
scan against FAISS, the CLI's doctor and search benchmark; the CUDA paths run only where a GPU is visible."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reme.errors import BadInputError
from reme.retrieval.backend import build_dense, choose_backend
from reme.retrieval.dense import DenseIndex
from reme.retrieval.torch_dense import TorchDenseIndex

CUDA = pytest.mark.skipif(
    not __import__("torch").cuda.is_available(), reason="needs CUDA (run on a GPU machine with the device tool)"
)


def unit(rng, n, d=16):
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_backend_choice_covers_every_branch():
    assert choose_backend("cpu").name == "faiss-cpu"
    assert choose_backend("auto", faiss_gpus=2, cuda=True).name == "faiss-gpu"
    assert choose_backend("cuda", faiss_gpus=0, cuda=True).name == "torch-cuda"
    assert choose_backend("auto", faiss_gpus=0, cuda=False).name == "faiss-cpu"
    with pytest.raises(BadInputError):
        choose_backend("cuda", faiss_gpus=0, cuda=False)
    with pytest.raises(BadInputError):
        choose_backend("tpu")


def test_torch_scan_matches_faiss_with_adds_and_removals():
    rng = np.random.default_rng(0)
    ids = np.arange(100, 400, dtype=np.int64)
    vectors = unit(rng, len(ids))
    exact = DenseIndex.build(ids, vectors)
    scan = TorchDenseIndex.build(ids, vectors, device="cpu")
    queries = unit(rng, 7)
    for step in range(3):
        fs, fi = exact.search(queries, 10)
        ts, ti = scan.search(queries, 10)
        assert np.array_equal(fi, ti) and np.allclose(fs, ts, atol=1e-5)
        gone = ids[rng.choice(len(ids), 20, replace=False)]
        exact.remove(gone)
        scan.remove(gone)
        ids = np.setdiff1d(ids, gone)
        extra = np.arange(1000 + 50 * step, 1050 + 50 * step, dtype=np.int64)
        more = unit(rng, len(extra))
        exact.add(extra, more)
        scan.add(extra, more)
        ids = np.concatenate([ids, extra])
    assert len(scan) == len(exact) == len(ids)
    assert np.allclose(scan.vectors(ids[:5]), exact.vectors(ids[:5]), atol=1e-6)
    assert scan.bytes_per_scan == len(ids) * 16 * 4
    assert len(TorchDenseIndex(16, device="cpu")) == 0
    assert TorchDenseIndex(16, device="cpu").search(queries, 5)[1].shape == (7, 0)


def test_memory_serves_the_chosen_backend(tmp_path, random_encoder):
    from reme.config import RetrievalConfig
    from reme.memory import Memory

    with Memory(tmp_path / "ws", retrieval=RetrievalConfig(device="auto"), encoder=random_encoder) as mem:
        mem.add_many(["alpha beta", "gamma delta", "epsilon"], target="user:a")
        assert mem.dense_backend.name in ("faiss-cpu", "faiss-gpu", "torch-cuda")
        assert mem.search("alpha", 2, "user:a", min_score=-1.0)


def test_doctor_and_bench_search_cli(tmp_path):
    from typer.testing import CliRunner

    from reme.cli import app

    doctor = CliRunner().invoke(app, ["doctor", "--json", "-"])
    assert doctor.exit_code == 0, doctor.output
    report = json.loads(doctor.output)
    assert "torch" in report["packages"] and report["dense_backend[cpu]"].startswith("faiss-cpu")
    out = CliRunner().invoke(app, ["bench", "search", "--n", "300", "--dim", "32", "--queries", "5", "--json", "-"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output[out.output.index("{") :])
    assert set(result["results"]) == {"faiss", "heuristic", "learned", "torch_topk"}
    assert all(v["p95_ms"] >= v["p50_ms"] > 0 for v in result["results"].values())
    assert result["backend"] == "faiss-cpu" and result["embedding"]["texts_per_s"] > 0


@CUDA
def test_cuda_scan_matches_faiss_in_fp16():
    rng = np.random.default_rng(1)
    ids = np.arange(5000, dtype=np.int64)
    vectors = unit(rng, len(ids), 64)
    scan = build_dense(choose_backend("cuda"), ids, vectors, 200_000, 32)
    exact = DenseIndex.build(ids, vectors)
    queries = unit(rng, 8, 64)
    _, fi = exact.search(queries, 10)
    _, ti = scan.search(queries, 10)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(fi, ti)])
    assert overlap >= 0.9  # fp16 ties may swap near-equal neighbours


def test_search_many_equals_one_search_per_query(tmp_path, random_encoder):
    from reme.memory import Memory

    texts = [f"memory number {i} about topic {i % 7} and place {i % 5}" for i in range(300)]
    queries = ["topic 3 place 2", "memory number 17", "place 4", "topic 6"]
    with Memory(tmp_path / "ws", encoder=random_encoder) as mem:
        mem.add_many(texts, target="user:a")
        batched = mem.search_many(queries, 5, "user:a", min_score=-1.0)
        single = [mem.search(q, 5, "user:a", min_score=-1.0) for q in queries]
        assert [[h.memory.memory_id for h in hits] for hits in batched] == [
            [h.memory.memory_id for h in hits] for hits in single
        ]
        assert all(len(hits) == 5 for hits in batched)
        assert mem.search_many([], 5, "user:a") == []
        with pytest.raises(BadInputError):
            mem.search_many(["a", "b"], 5, "user:a", query_vectors=np.zeros((1, random_encoder.dim), np.float32))


def test_bench_reports_ivf_recall_against_exact():
    from reme.bench import bench_search

    result = bench_search(3000, dim=32, queries=5, ann_threshold=1000)
    assert result["index_kind"] == "ivf"
    recall = result["ivf_recall"]
    assert recall["k"] == 15 and recall["queries"] == 5 and 0.0 < recall["recall"] <= 1.0
