"""Dense candidates from PostgreSQL itself (``store.dense: pgvector``, issue 22.1-22.2), against a real server: the
exact plan returns what FAISS returns in SQLite mode, the HNSW plan (``reme hnsw``) keeps to the target through
pgvector's iterative scans, writes are searchable at once from every worker, and the worker holds no vectors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from reme.memory import Memory
from reme.retrieval.embedding import RandomEncoder

pytest.importorskip("psycopg")

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa").split()  # noqa: SIM905


def _texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=6)) + f" note {seed}-{i}" for i in range(n)]


def _workspace(path: Path, url: str | None, schema: str = "", **store: object) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if url is not None:
        settings = {"store": {"url": url, "schema": schema, **store}}
        (path / "reme.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def _fill(memory: Memory, n: int = 120) -> None:
    memory.add_many([{"content": t, "metadata": {"part": i % 3}} for i, t in enumerate(_texts(n, 1))], "user:a")
    memory.add_many(_texts(n // 2, 2), "user:b")


QUERIES = ["alpha delta golf", "kilo lima note", "oscar papa bravo echo", "hotel", "note 1-7"]


def _hits(memory: Memory, target: str = "user:a", limit: int = 10) -> list[list[tuple[str, float]]]:
    return [
        [(h.memory.content, round(h.score, 5)) for h in memory.search(q, limit, target, min_score=-1)] for q in QUERIES
    ]


def test_exact_plan_matches_sqlite_mode(tmp_path, postgres_url):
    schema = os.environ["REME_TEST_SCHEMA"]
    lite = Memory(_workspace(tmp_path / "lite", None), encoder=RandomEncoder(32))
    db = Memory(_workspace(tmp_path / "pg", postgres_url, schema, dense="pgvector"), encoder=RandomEncoder(32))
    try:
        _fill(lite)
        _fill(db)
        index = db.index_for("user:a")
        assert index.dense.kind == "pgvector" and index.dense.plan == "exact" and len(index.dense) == 120
        assert not hasattr(index.dense, "_index")  # the worker holds no vectors
        assert _hits(db) == _hits(lite) and _hits(db, "user:b") == _hits(lite, "user:b")
        # a filtered search scores the matching memories with their vectors read from the database
        for memory in (lite, db):
            assert {h.memory.metadata["part"] for h in memory.search("alpha", 10, "user:a", min_score=-1,
                                                                     filters={"part": [1]})} == {1}  # fmt: skip
        filtered = [
            [
                (h.memory.content, round(h.score, 5))
                for h in m.search(q, 10, "user:a", min_score=-1, filters={"part": [0, 2]})
            ]
            for m in (lite, db)
            for q in QUERIES
        ]
        assert filtered[: len(QUERIES)] == filtered[len(QUERIES) :]
    finally:
        lite.close()
        db.close()


def test_writes_and_deletes_are_seen_by_another_worker(tmp_path, postgres_url):
    schema = os.environ["REME_TEST_SCHEMA"]
    first = Memory(_workspace(tmp_path / "w1", postgres_url, schema, dense="pgvector"), encoder=RandomEncoder(32))
    second = Memory(_workspace(tmp_path / "w2", postgres_url, schema, dense="pgvector"), encoder=RandomEncoder(32))
    try:
        _fill(first, 40)
        assert len(second.search("alpha", 5, "user:a", min_score=-1)) == 5
        node = first.add("zulu yankee xray whiskey", "user:a")
        assert node is not None
        own = first.search("zulu yankee xray whiskey", 1, "user:a", min_score=-1)  # read-your-writes
        other = second.search("zulu yankee xray whiskey", 1, "user:a", min_score=-1)
        assert own[0].memory.memory_id == other[0].memory.memory_id == node.memory_id
        assert own[0].vector_score == pytest.approx(1.0, abs=1e-5)
        first.delete(node.memory_id)
        assert node.memory_id not in {
            h.memory.memory_id for h in second.search("zulu yankee", 10, "user:a", min_score=-1)
        }
        assert len(second.index_for("user:a").dense) == 40
    finally:
        first.close()
        second.close()


def test_hnsw_plan_keeps_to_the_target_and_finds_the_exact_neighbours(tmp_path, postgres_url):
    schema = os.environ["REME_TEST_SCHEMA"]
    ws = _workspace(tmp_path / "pg", postgres_url, schema, dense="pgvector", hnsw_min_rows=0, ef_search=200)
    memory = Memory(ws, encoder=RandomEncoder(32))
    try:
        memory.add_many(_texts(400, 3), "user:big")
        memory.add_many(_texts(30, 4), "user:small")  # most of the graph is another target's
        exact = {
            t: memory.index_for(t).dense.search(memory.encode_queries(QUERIES), 10) for t in ("user:big", "user:small")
        }
        assert memory.index_for("user:big").dense.plan == "exact"  # no HNSW index yet: exact, with a warning
        name = memory.records.build_hnsw(32)
        assert name == "memories_hnsw_32" and memory.records.build_hnsw(32) == name  # idempotent
        for target in ("user:big", "user:small"):
            dense = memory.index_for(target).dense
            assert dense.plan == "hnsw"
            scores, ids = dense.search(memory.encode_queries(QUERIES), 10)
            assert ids.shape == (len(QUERIES), 10)  # iterative scans fill the top 10 from the small target too
            mine = set(memory.records.id_map(target))
            assert set(ids.ravel().tolist()) <= mine
            overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids.tolist(), exact[target][1].tolist())])
            assert overlap >= 0.9
            assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
        hits = memory.search("alpha delta golf", 5, "user:small", min_score=-1)
        assert len(hits) == 5 and {h.memory.memory_target for h in hits} == {"user:small"}
        memory.records.drop_hnsw(32)
        assert memory.index_for("user:big").dense.plan == "exact"
    finally:
        memory.close()


def test_bad_dense_setting_is_refused(tmp_path, postgres_url):
    from pydantic import ValidationError

    from reme.settings import StoreSettings

    with pytest.raises(ValidationError):
        StoreSettings(url=postgres_url, dense="faiss")  # type: ignore[arg-type]


def test_reme_hnsw_builds_and_drops_the_index(tmp_path, postgres_url, monkeypatch):
    from typer.testing import CliRunner

    from reme.cli import app
    from reme.store import pgvector_search

    monkeypatch.setattr(pgvector_search, "HNSW_CHECK_S", 0.0)  # the command is another store: seen on the next check

    schema = os.environ["REME_TEST_SCHEMA"]
    ws = _workspace(tmp_path / "pg", postgres_url, schema, dense="pgvector", hnsw_min_rows=0)
    runner = CliRunner()
    empty = runner.invoke(app, ["hnsw", "-w", str(ws)])
    assert empty.exit_code != 0 and "no vectors yet" in empty.output
    memory = Memory(ws, encoder=RandomEncoder(32))
    try:
        memory.add_many(_texts(50, 5), "user:a")
        built = runner.invoke(app, ["hnsw", "-w", str(ws), "--json", "-"])
        assert built.exit_code == 0, built.output
        report = json.loads(built.output)
        assert report["built"] == [32] and report["indexes"] == ["memories_hnsw_32"] and report["rows"] == 50
        assert memory.index_for("user:a").dense.plan == "hnsw"
        assert runner.invoke(app, ["hnsw", "-w", str(ws), "--drop"]).exit_code == 0
        assert memory.index_for("user:a").dense.plan == "exact"
    finally:
        memory.close()
    lite = runner.invoke(app, ["hnsw", "-w", str(_workspace(tmp_path / "lite", None))])
    assert lite.exit_code != 0
