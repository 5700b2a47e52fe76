"""The record store's contract on both backends: the workspace's SQLite file and PostgreSQL with pgvector (issue 22),
against a real server (``postgres_server`` in conftest.py), never a mock."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from reme.errors import ConflictError, NotFoundError
from reme.schema import MemoryNode
from reme.store.records import RecordStore

pytest.importorskip("psycopg")


def node(i: int, target: str = "user:a", **kw) -> MemoryNode:
    return MemoryNode(**{"memory_id": f"m{i}", "memory_target": target, "content": f"memory {i}", **kw})


def vecs(n: int, dim: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, dim)).astype(np.float32)


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request, tmp_path: Path):
    """A function opening the same store again (a reopen is a new process's view)."""
    opened = []

    def make():
        if request.param == "sqlite":
            store = RecordStore(tmp_path / "reme.db")
        else:
            from reme.store.postgres import PostgresRecordStore

            url = request.getfixturevalue("postgres_url")
            store = PostgresRecordStore(url, os.environ["REME_TEST_SCHEMA"], pool_size=4)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def test_writes_reads_generations_and_deletes(open_store) -> None:
    store = open_store()
    assert store.generation("user:a") == 0 and store.count() == 0 and store.id_key
    seqs, gens, replaced = store.upsert_many([node(i) for i in range(3)], vecs(3), "model-a")
    assert len(set(seqs)) == 3 and gens == {"user:a": 1} and replaced == set()
    assert store.get("m1").content == "memory 1" and store.exists("m2") and not store.exists("m9")
    np.testing.assert_allclose(store.vector("m0"), vecs(3)[:1], rtol=1e-6)
    _, gens, replaced = store.upsert_many([node(1, content="changed")], vecs(1, seed=1), "model-a")
    assert gens == {"user:a": 2} and replaced == {"user:a"} and store.get("m1").content == "changed"
    with pytest.raises(ConflictError):  # an id of another target is not silently moved
        store.upsert_many([node(1, target="user:b")], vecs(1), "model-a")
    assert store.get("m1").memory_target == "user:a" and store.generation("user:a") == 2  # rolled back whole
    gone, gens = store.delete_many(["m0", "nope"])
    assert [t for _, t in gone] == ["user:a"] and gens == {"user:a": 3}
    with pytest.raises(NotFoundError):
        store.get("m0")
    assert [n.memory_id for n in store.list_nodes("user:a")] == ["m1", "m2"] and store.targets() == ["user:a"]
    assert store.targets_of(["m1", "m2", "m0"]) == {"m1": "user:a", "m2": "user:a"}
    assert set(store.get_by_seqs(seqs)) == set(seqs[1:])
    generation, keys, texts, vectors = store.index_rows("user:a")
    assert generation == 3 and list(keys) == seqs[1:] and texts == ["changed", "memory 2"] and vectors.shape == (2, 4)
    again = open_store()  # what another process reads
    assert again.id_key == store.id_key and again.generation("user:a") == 3 and again.count("user:a") == 2


def test_metadata_filters_stale_vectors_and_a_failed_transaction(open_store) -> None:
    store = open_store()
    nodes = [node(i, metadata={"topic": ["work", "home"][i % 2], "n": i}) for i in range(6)]
    seqs, _, _ = store.upsert_many(nodes, vecs(6), "old")
    assert list(store.seqs_matching("user:a", {"topic": ["work"]})) == seqs[0::2]
    assert list(store.seqs_matching("user:a", {"topic": ["home"], "n": [1, 5]})) == [seqs[1], seqs[5]]
    assert store.count_stale("new") == 6
    batches = list(store.stale_vectors("new", batch=4))
    assert [len(b) for b in batches] == [4, 2]
    store.set_vectors(seqs, vecs(6, seed=3), "new")
    assert store.count_stale("new") == 0 and store.generation("user:a") == 2
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert_many([node(10)], vecs(1), "new")
        raise RuntimeError("the caller failed mid-transaction")
    assert not store.exists("m10") and store.generation("user:a") == 2  # nothing of it stayed


def test_concurrent_writers_lose_nothing_and_generations_count_every_write(open_store) -> None:
    stores = [open_store() for _ in range(3)]  # three processes' views of one store
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for i in range(20):
                stores[w % 3].upsert_many([node(1000 * w + i, target=f"user:{w % 2}")], vecs(1, seed=i), "m")
        except BaseException as exc:  # the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    check = open_store()
    assert check.count() == 120 and check.count("user:0") == 60
    assert check.generation("user:0") == 60 and check.generation("user:1") == 60  # one bump per acknowledged write


def _memory(ws: Path, url: str | None, encoder):
    import yaml

    from reme.memory import Memory

    ws.mkdir(parents=True, exist_ok=True)
    if url is not None:
        store = {"url": url, "schema": os.environ["REME_TEST_SCHEMA"]}
        (ws / "reme.yaml").write_text(yaml.safe_dump({"store": store}), encoding="utf-8")
    return Memory(ws, encoder=encoder)


FACTS = [f"{who} keeps the {what} in the {where}" for who in ("Ann", "Bo", "Cy") for what in ("keys", "map", "tea")
         for where in ("drawer", "car", "attic")]  # fmt: skip


def test_memory_on_postgres_searches_as_on_sqlite_and_two_workers_see_each_others_writes(
    tmp_path: Path, postgres_url: str, random_encoder
) -> None:
    results = {}
    for backend in ("sqlite", "postgres"):
        with _memory(tmp_path / backend, postgres_url if backend == "postgres" else None, random_encoder) as mem:
            ids = [mem.add(f, "user:ann").memory_id for f in FACTS]
            assert mem.count("user:ann") == len(FACTS)
            hits = mem.search("where are the keys?", limit=5, target="user:ann", min_score=-1.0)
            results[backend] = [(h.memory.content, round(h.score, 5)) for h in hits]
            mem.update(ids[0], content="Ann keeps the keys in the shed")
            mem.delete(ids[1])
            assert mem.get(ids[0]).content.endswith("shed") and mem.count("user:ann") == len(FACTS) - 1
    assert results["postgres"] == results["sqlite"]  # the same memories, the same scores (ids are keyed per store)
    # a second worker (its own process caches) over the same database reads what the first acknowledged
    with _memory(tmp_path / "w1", postgres_url, random_encoder) as one, _memory(tmp_path / "w2", postgres_url,
                                                                              random_encoder) as two:  # fmt: skip
        assert two.count("user:ann") == len(FACTS) - 1
        two.search("keys", limit=3, target="user:ann", min_score=-1.0)  # builds two's index at this generation
        added = one.add("Bo keeps the violin under the bed", "user:ann")
        found = two.search("violin under the bed", limit=3, target="user:ann", min_score=-1.0)
        assert added.memory_id in [h.memory.memory_id for h in found]  # two's caches caught up by generation


def test_the_database_going_away_is_a_clear_error_and_the_store_recovers_by_itself(
    tmp_path: Path, random_encoder, monkeypatch
) -> None:
    if os.environ.get("REME_TEST_POSTGRES_URL"):
        pytest.skip("stops and restarts its own server")
    pgserver = pytest.importorskip("pgserver")
    from reme.errors import StoreUnavailableError

    data = tmp_path / "pgdata"
    server = pgserver.get_server(data, cleanup_mode="stop")
    monkeypatch.setenv("REME_TEST_SCHEMA", "recovery")
    try:
        with _memory(tmp_path / "ws", server.get_uri(), random_encoder) as mem:
            kept = mem.add("Ann keeps the keys in the drawer", "user:ann")
            server.cleanup()  # the database stops
            with pytest.raises(StoreUnavailableError, match="unavailable"):
                mem.search("keys", limit=3, target="user:ann", min_score=-1.0)
            with pytest.raises(StoreUnavailableError):
                mem.add("Bo keeps the map in the car", "user:ann")
            server = pgserver.get_server(data, cleanup_mode="stop")  # it comes back, with its data
            hits = mem.search("keys", limit=3, target="user:ann", min_score=-1.0)
            assert [h.memory.memory_id for h in hits] == [kept.memory_id]  # nothing acknowledged was lost
            assert mem.add("Bo keeps the map in the car", "user:ann") is not None  # and writes go on
    finally:
        server.cleanup()


def test_migrate_moves_a_workspace_to_postgres_and_back(tmp_path: Path, postgres_url: str, random_encoder) -> None:
    from typer.testing import CliRunner

    from reme.cli import app
    from reme.memory import Memory
    from reme.policy.audit import verify
    from reme.settings import load_settings

    ws = tmp_path / "ws"
    with Memory(ws, encoder=random_encoder) as mem:
        ids = [mem.add(f, "user:ann").memory_id for f in FACTS]
        decision, before = mem.search_with_decision("where are the keys?", 5, "user:ann", min_score=-1.0)
        mem.feedback(1.0, decision_id=decision.decision_id)
    schema = os.environ["REME_TEST_SCHEMA"]
    runner = CliRunner()
    moved = runner.invoke(app, ["migrate", "--from", str(ws), "--to", postgres_url, "--schema", schema, "--use"])
    assert moved.exit_code == 0, moved.output
    assert f"copied {len(FACTS)} memories" in moved.output
    assert load_settings(ws).store.url == postgres_url and load_settings(ws).store.schema_name == schema
    with Memory(ws, encoder=random_encoder) as mem:  # the same workspace, now on PostgreSQL
        assert type(mem.records).__name__ == "PostgresRecordStore" and mem.count("user:ann") == len(FACTS)
        after = mem.search("where are the keys?", limit=5, target="user:ann", min_score=-1.0)
        assert [(h.memory.memory_id, round(h.score, 5)) for h in after] == [
            (h.memory.memory_id, round(h.score, 5)) for h in before
        ]  # the same ids (the id key moved with them) and scores
        assert mem.get(ids[0]).content == FACTS[0]
    assert verify(ws).problems == []
    again = runner.invoke(app, ["migrate", "--from", str(ws), "--to", postgres_url, "--schema", schema])
    assert again.exit_code != 0 and "already holds" in again.output  # never onto a store with memories
    back = tmp_path / "back"
    returned = runner.invoke(app, ["migrate", "--from", postgres_url, "--schema", schema, "--to", str(back)])
    assert returned.exit_code == 0, returned.output
    with Memory(back, encoder=random_encoder) as mem:
        assert type(mem.records).__name__ == "RecordStore" and sorted(
            n.memory_id for n in mem.list("user:ann")
        ) == sorted(ids)
    # the trajectory log moved too: the same decisions and rewards, read from the table and, after the way back,
    # from the new folder's segments; both re-score
    from reme.policy.trajectory import read_records
    from reme.store.open import trajectory_source
    from reme.train.logs import logged_records

    def dumped(records):
        return [r.model_dump_json() for r in records]

    original = [e.record for e in read_records(ws / "trajectories")]  # the segments the migration read
    assert f"and {len(original)} trajectory records" in moved.output
    in_database = logged_records(ws)  # the copied records, then the search the workspace made on PostgreSQL
    assert len(original) >= 3 and dumped(in_database[: len(original)]) == dumped(original)
    assert len(in_database) == len(original) + 1 and in_database[-1].kind == "rank"
    source = trajectory_source(ws)
    try:
        assert type(source).__name__ == "PostgresTrajectoryLog" and verify(ws, source).problems == []
        assert verify(ws, source).checked >= 1
    finally:
        source.close()
    assert dumped(logged_records(back)) == dumped(in_database) and verify(back).checked >= 1
