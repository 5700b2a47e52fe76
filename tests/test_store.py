import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from reme.errors import BadInputError, NotFoundError
from reme.memory import FILE_TARGET, Memory
from reme.retrieval.embedding import RandomEncoder
from reme.schema import make_memory_id
from reme.store.markdown import chunk_markdown


def test_add_search_get_update_delete(tmp_path, minilm):
    with Memory(tmp_path / "ws", encoder=minilm) as mem:
        a = mem.add("Alice moved to Lisbon in May.", target="user:alice", message_time="2024-05-08")
        mem.add("Alice is a nurse at the city hospital.", target="user:alice")
        # keyed by the workspace: the same text gets the same id here, and no one can compute it without the key
        key = mem.records.id_key
        assert len(key) == 32 and a.memory_id == make_memory_id("Alice moved to Lisbon in May.", "user:alice", key)
        assert a.memory_id == mem.memory_id_for("Alice moved to Lisbon in May.", "user:alice")
        assert a.memory_id != make_memory_id("Alice moved to Lisbon in May.", "user:alice")
        hits = mem.search("Where does Alice live?", target="user:alice")
        assert hits[0].memory.memory_id == a.memory_id
        assert hits[0].score == pytest.approx(0.7 * hits[0].vector_score + 0.3 * hits[0].keyword_score, abs=1e-5)
        assert [h.rank for h in hits] == list(range(len(hits)))
        updated = mem.update(a.memory_id, content="Alice moved to Porto in June.")
        assert updated.memory_id == a.memory_id and mem.get(a.memory_id).content.startswith("Alice moved to Porto")
        assert "Porto" in mem.search("Porto", target="user:alice")[0].memory.content
        mem.delete(a.memory_id)
        with pytest.raises(NotFoundError):
            mem.get(a.memory_id)
        with pytest.raises(NotFoundError):
            mem.delete(a.memory_id)
        assert all(h.memory.memory_id != a.memory_id for h in mem.search("Porto Lisbon", target="user:alice"))


def test_targets_are_isolated(tmp_path, minilm):
    with Memory(tmp_path, encoder=minilm) as mem:
        mem.add("My bank PIN is 4412.", target="user:alice")
        mem.add("I like hiking in the Alps.", target="user:bob")
        mem.add("I like hiking in the Alps.", target="user:alice")  # same text, two users: two memories
        assert mem.count() == 3
        for query in ("bank PIN", "hiking Alps", "4412"):
            assert {h.memory.memory_target for h in mem.search(query, target="user:bob", min_score=0.0)} <= {"user:bob"}
        assert [n.content for n in mem.list("user:bob")] == ["I like hiking in the Alps."]
        assert mem.search("bank PIN", target="task:other", min_score=0.0) == []
        assert mem.delete_target("user:alice") == 2
        assert mem.count() == 1


def test_readding_same_text_updates_instead_of_duplicating(tmp_path, random_encoder):
    with Memory(tmp_path, encoder=random_encoder) as mem:
        first = mem.add("same text")
        again = mem.add("same text", metadata={"n": 2})
        assert first.memory_id == again.memory_id and mem.count() == 1
        assert mem.get(first.memory_id).metadata == {"n": 2}


def test_bad_inputs_leave_workspace_unchanged(tmp_path, random_encoder):
    with Memory(tmp_path, encoder=random_encoder) as mem:
        mem.add("kept")
        bad_items = [
            "",
            "   ",
            "x" * 1_000_001,
            "nul\x00byte",
            "lone \udcff surrogate",
            b"\xff\xfe",
            {"text": "ok", "target": "bogus"},
            {"text": "ok", "time": "yesterday"},
            {"text": "ok", "metadata": "not a dict"},
            {"text": "ok", "score": float("nan")},
            42,
        ]
        for bad in bad_items:
            with pytest.raises(BadInputError):
                mem.add_many(["fine one", bad])
        with pytest.raises(BadInputError):
            mem.add_many(["a", "b"], vectors=np.full((2, 32), np.nan, dtype=np.float32))
        with pytest.raises(BadInputError):
            mem.search("", target="user:x")
        with pytest.raises(BadInputError):
            mem.search("q", limit=0)
        assert [n.content for n in mem.list()] == ["kept"]


def test_another_process_writes_are_seen(tmp_path, random_encoder):
    a = Memory(tmp_path, encoder=random_encoder)
    b = Memory(tmp_path, encoder=random_encoder)
    a.add("alpha beta")
    assert [h.memory.content for h in b.search("alpha", min_score=0.0)] == ["alpha beta"]
    a.add("gamma delta")  # b's index is now stale: its generation lags the database
    assert "gamma delta" in [h.memory.content for h in b.search("gamma", min_score=0.0)]
    b.delete(b.memory_id_for("alpha beta", "default"))
    assert "alpha beta" not in [h.memory.content for h in a.search("alpha", min_score=0.0)]
    a.close()
    b.close()


def test_incremental_index_matches_a_rebuild(tmp_path, random_encoder):
    rng = np.random.default_rng(0)
    with Memory(tmp_path, encoder=random_encoder) as mem:
        mem.add_many([f"memory number {i} about topic {i % 7}" for i in range(60)])
        mem.search("topic 3", min_score=0.0)  # build the index, then change it incrementally
        mem.add_many([f"late memory {i} about topic 3" for i in range(10)])
        ids = [n.memory_id for n in mem.list()]
        mem.delete_many([ids[i] for i in rng.choice(len(ids), 15, replace=False)])
        mem.update(mem.list()[0].memory_id, content="rewritten memory about topic 3")
        incremental = [(h.memory.memory_id, round(h.score, 5)) for h in mem.search("topic 3", 20, min_score=0.0)]
    with Memory(tmp_path, encoder=random_encoder) as fresh:
        rebuilt = [(h.memory.memory_id, round(h.score, 5)) for h in fresh.search("topic 3", 20, min_score=0.0)]
    assert incremental == rebuilt


def test_changing_the_model_reindexes(tmp_path):
    with Memory(tmp_path, encoder=RandomEncoder(16)) as mem:
        mem.add_many(["one", "two", "three"])
    with Memory(tmp_path, encoder=RandomEncoder(24)) as mem:  # another model id: every vector is re-encoded
        assert mem.records.count_stale(mem.model_id) == 0
        assert mem.records.get_meta("embedding_model_id") == "random:24"
        hits = mem.search("two", min_score=0.0)
        assert hits and mem.index_for("default").dense.dim == 24


def test_workspace_layout_and_markdown_chunks(tmp_path, random_encoder):
    with Memory(tmp_path, encoder=random_encoder) as mem:
        for sub in ("memory", "dialog", "tool_result", "index", "embedding_cache", "trajectories"):
            assert (tmp_path / sub).is_dir()
        assert (tmp_path / "reme.db").is_file()
        (tmp_path / "MEMORY.md").write_text("# Profile\nAlice likes tea.\n")
        (tmp_path / "memory" / "2024-05-08.md").write_text("\n".join(f"- fact {i} " + "x" * 60 for i in range(80)))
        stats = mem.sync_markdown()
        assert stats["files"] == 2 and stats["chunks_added"] >= 4
        assert mem.sync_markdown() == {"files": 0, "chunks_added": 0, "chunks_removed": 0}  # unchanged: skipped
        chunk = mem.search("Alice likes tea", target=FILE_TARGET, min_score=0.0)[0].memory
        assert chunk.metadata["path"] == "MEMORY.md" and chunk.metadata["start_line"] == 1
        (tmp_path / "MEMORY.md").unlink()
        assert mem.sync_markdown()["chunks_removed"] == 1
        assert mem.count("default") == 0  # file chunks never mix with API memories


def test_chunking_follows_reme_sizes():
    text = "\n".join(f"line {i:03d} " + "y" * 90 for i in range(100))  # 100 lines of 99 chars
    chunks = chunk_markdown(text)
    assert all(len(c.text) <= 1600 for c in chunks)
    assert chunks[0].start_line == 1 and chunks[-1].end_line == 100
    for prev, nxt in itertools.pairwise(chunks):
        overlap = prev.end_line - nxt.start_line + 1
        assert overlap * 100 >= 320  # >= 80 tokens of 4 chars carried over
    long_line = chunk_markdown("z" * 4000)
    assert len(long_line[0].text) == 1600 and all(c.start_line == 1 for c in long_line)
    assert chunk_markdown("\n\n  \n") == []


_WRITER = textwrap.dedent(
    """
    import sys
    from reme.memory import Memory
    from reme.retrieval.embedding import RandomEncoder
    mem = Memory(sys.argv[1], encoder=RandomEncoder(32), embedding_cache=False)
    mode, start = sys.argv[2], int(sys.argv[3])
    i = start
    while True:
        if mode == "single":
            node = mem.add(f"memory {i} " + "w" * (i % 50))
            print("ACK", node.memory_id, flush=True)
            i += 1
        else:
            batch = [f"batched memory {j}" for j in range(i, i + 37)]
            mem.add_many(batch, batch_size=7,
                         on_commit=lambda nodes: print("ACK", *[n.memory_id for n in nodes], flush=True))
            i += 37
    """
)


@pytest.mark.parametrize("mode", ["single", "batch"])
def test_kill_during_adds_keeps_every_acknowledged_memory(tmp_path, mode):
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    ws = tmp_path / "ws"
    acked: set[str] = set()
    rng = np.random.default_rng(7)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    for round_ in range(4):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(ws), mode, str(round_ * 100_000)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()  # wait until the writer is up and writing
        acked.update(first.split()[1:])
        time.sleep(float(rng.uniform(0.05, 0.4)))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        for line in out.splitlines():
            if line.startswith("ACK"):
                acked.update(line.split()[1:])
    assert len(acked) > 10
    with Memory(ws, encoder=RandomEncoder(32), embedding_cache=False) as mem:
        stored = {n.memory_id for n in mem.list()}
        assert acked <= stored
        for node in mem.list():  # nothing half-written: every row is whole and searchable
            assert node.content.startswith(("memory", "batched memory"))
        assert len(mem.index_for("default").dense) == len(stored)


def test_saved_indexes_are_reused_only_when_current(tmp_path, random_encoder, monkeypatch):
    import reme.store.index_cache as index_cache

    monkeypatch.setattr(index_cache, "PERSIST_MIN", 10)
    with Memory(tmp_path, encoder=random_encoder) as mem:
        mem.add_many([f"fact {i} about river {i % 5}" for i in range(40)])
        expected = [h.memory.memory_id for h in mem.search("river 3", 10, min_score=0.0)]
    saved = list((tmp_path / "index").glob("*/manifest.json"))
    assert len(saved) == 1

    def no_rebuild(*args, **kwargs):
        raise AssertionError("rebuilt although a current saved index exists")

    with Memory(tmp_path, encoder=random_encoder) as mem:
        monkeypatch.setattr(mem.records, "index_rows", no_rebuild)
        assert [h.memory.memory_id for h in mem.search("river 3", 10, min_score=0.0)] == expected
    with Memory(tmp_path, encoder=random_encoder) as mem:  # a write makes the saved copy stale
        mem.add("fact 99 about river 3")
        assert mem.search("fact 99", 1, min_score=0.0)[0].memory.content == "fact 99 about river 3"
    (saved[0].parent / "dense.faiss").write_bytes(b"garbage")  # torn or foreign files are ignored
    with Memory(tmp_path, encoder=random_encoder) as mem:
        assert len(mem.search("river 3", 10, min_score=0.0)) == 10


def test_threads_adding_and_searching_one_memory(tmp_path, random_encoder):
    from concurrent.futures import ThreadPoolExecutor

    with Memory(tmp_path, encoder=random_encoder) as mem:

        def work(worker: int) -> int:
            for i in range(40):
                mem.add(f"worker {worker} note {i}", target=f"user:w{worker % 2}")
                mem.search(f"note {i}", target=f"user:w{worker % 2}", min_score=0.0)
                mem.list(f"user:w{worker % 2}", limit=5)
            return worker

        with ThreadPoolExecutor(4) as pool:
            assert sorted(pool.map(work, range(4))) == [0, 1, 2, 3]
        assert mem.count() == 160
        assert mem.count("user:w0") == 80
        hits = mem.search("worker 3 note 39", 1, target="user:w1", min_score=0.0)
        assert hits[0].memory.content == "worker 3 note 39"


def test_re_adding_a_memory_keeps_what_the_new_write_does_not_say(tmp_path):
    """Issue 24.9: the same text again without a time kept the memory but blanked its time; now its time, creation
    time and unsaid metadata stay, and what the new write says wins."""
    from reme.memory import Memory
    from reme.retrieval.embedding import RandomEncoder

    with Memory(tmp_path / "ws", encoder=RandomEncoder(16)) as mem:
        first = mem.add("Alice moved to Lisbon", "user:alice", message_time="2024-05-08", metadata={"source": "chat"})
        again = mem.add("Alice moved to Lisbon", "user:alice", metadata={"seen": 2})
        assert first is not None and again is not None and again.memory_id == first.memory_id
        (stored,) = mem.list(target="user:alice")
        assert stored.message_time == "2024-05-08" and stored.time_created == first.time_created
        assert stored.metadata == {"source": "chat", "seen": 2}
        mem.add("Alice moved to Lisbon", "user:alice", message_time="2024-06-01")
        assert mem.list(target="user:alice")[0].message_time == "2024-06-01"
