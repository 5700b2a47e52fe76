"""Crash safety: kill a writer at random moments and check what the workspace kept (``crash_harness.py``), plus
deterministic tests of each recovery path the harness relies on.

Default size fits CI; ``pytest tests/test_crash.py --long`` runs 200 trials per crash point group, and
``--crash-trials N`` / ``--crash-seed S`` set the size and the seed.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from crash_harness import GROUPS, run_group

from reme.memory import Memory
from reme.retrieval.embedding import RandomEncoder

DEFAULT_TRIALS = {"timer": 10, "io": 12, "torn": 8, "checkpoint": 5}
"""Trials per group in CI (every child imports torch before its clock starts: about 1 s each)."""
PG_TRIALS = {"timer": 6, "io": 8, "checkpoint": 4}
LONG_TRIALS = 200


@pytest.mark.parametrize("group", GROUPS)
def test_no_acknowledged_write_is_lost_after_sigkill(group: str, tmp_path: Path, request: pytest.FixtureRequest):
    trials = request.config.getoption("--crash-trials") or (
        LONG_TRIALS if request.config.getoption("--long") else DEFAULT_TRIALS[group]
    )
    stats = run_group(group, trials, int(request.config.getoption("--crash-seed")), tmp_path)
    print("\n" + stats.row())
    for site, count in sorted(stats.sites.items(), key=lambda kv: -kv[1]):
        print(f"    {count:4d}  {site}")
    assert stats.anomalies == 0, "\n".join(stats.problems[:20])
    assert stats.writes_acked > trials  # the children got work done before they died
    if group != "timer":
        assert stats.killed >= 0.8 * trials  # the crash points were reached
    if group == "torn":
        assert stats.torn_tails > 0  # torn records were left, found, skipped, and cut off by the next writer


@pytest.mark.parametrize("group", [g for g in GROUPS if g != "torn"])
def test_no_acknowledged_write_is_lost_after_sigkill_on_postgres(
    group: str, tmp_path: Path, request: pytest.FixtureRequest
):
    """The crash groups with the records and the log in PostgreSQL: an acknowledged write is a committed
    transaction, found by the next child and by the checks. The io group's crash points include every statement
    and commit the child sends (a kill before it, or between a commit and its acknowledgement); torn file records
    have no counterpart there (the log is rows)."""
    pytest.importorskip("psycopg")
    trials = request.config.getoption("--crash-trials") or (
        LONG_TRIALS if request.config.getoption("--long") else PG_TRIALS[group]
    )
    store = {"url": request.getfixturevalue("postgres_url"), "schema": os.environ["REME_TEST_SCHEMA"]}
    stats = run_group(group, trials, int(request.config.getoption("--crash-seed")), tmp_path, store=store)
    print("\n" + stats.row())
    for site, count in sorted(stats.sites.items(), key=lambda kv: -kv[1]):
        print(f"    {count:4d}  {site}")
    assert stats.anomalies == 0, "\n".join(stats.problems[:20])
    assert stats.writes_acked > trials
    if group != "timer":
        assert stats.killed >= 0.8 * trials
    if group == "io":
        assert any("database" in site for site in stats.sites)  # kills inside the database calls were reached


# ------------------------------------------------------------------------------------ recovery paths


def test_torn_last_record_is_skipped_and_cut_off_by_the_next_writer(tmp_path: Path, caplog):
    """A writer killed mid-record leaves a torn last line: readers skip it, and the next append (here by a
    log that was already open, as in a long-running process beside the killed one) cuts it off first."""
    from reme.policy.trajectory import RewardEvent, TrajectoryLog, read_records

    def reward(i: int) -> RewardEvent:
        return RewardEvent(reward_id=f"r{i}", decision_id=f"d{i}", value=1.0)

    alive = TrajectoryLog(tmp_path)
    alive.append(reward(1))
    segment = tmp_path / "segment-000001.jsonl"
    torn = (reward(2).model_dump_json() + "\n").encode()[:37]
    with segment.open("ab") as fh:  # what a SIGKILL inside write(2) leaves
        fh.write(torn)
    entries = list(read_records(tmp_path))
    assert [e.error for e in entries] == [None, "truncated record (no end of line)"]
    with caplog.at_level(logging.WARNING, logger="reme.policy.trajectory"):
        alive.append(reward(3))
    assert "torn record" in caplog.text
    entries = list(read_records(tmp_path))
    assert all(e.error is None for e in entries)
    assert [e.record.reward_id for e in entries] == ["r1", "r3"]  # type: ignore[union-attr]
    fresh = TrajectoryLog(tmp_path)  # a new process after a kill: same
    with segment.open("ab") as fh:
        fh.write(b"\x00" * 100)  # a power loss can leave zeros instead
    fresh.append(reward(4))
    assert all(e.error is None for e in read_records(tmp_path))
    assert len(list(read_records(tmp_path))) == 3
    alive.close()
    fresh.close()


def _index_agrees(mem: Memory, target: str = "default") -> None:
    generation, seqs, texts, vectors = mem.records.index_rows(target)
    index = mem.index_for(target)
    assert index.bm25 is not None and index.generation == generation
    assert sorted(index.bm25.ids.tolist()) == sorted(seqs.tolist()) and len(index.dense) == len(seqs)
    assert np.allclose(index.dense.vectors(seqs), vectors)
    for seq, text in zip(seqs.tolist(), texts):
        ids, _ = index.bm25.search(text.split()[1], 1)
        assert ids.tolist() == [seq]


def test_stale_or_torn_saved_index_is_rebuilt_with_a_log_line(tmp_path: Path, caplog, monkeypatch):
    import reme.store.index_cache as index_cache

    monkeypatch.setattr(index_cache, "PERSIST_MIN", 10)
    encoder = RandomEncoder(32)
    with Memory(tmp_path, encoder=encoder) as mem:
        mem.add_many([f"fact tok{i} about river {i % 5}" for i in range(30)])
        mem.search("river", 5)
    folder = next((tmp_path / "index").iterdir())
    saved = folder / "manifest.json"
    assert saved.is_file()

    with Memory(tmp_path, encoder=encoder) as other:  # another process writes: the saved copy is stale
        other.add("fact tok30 about river 0")
    with caplog.at_level(logging.INFO, logger="reme"), Memory(tmp_path, encoder=encoder) as mem:
        _index_agrees(mem)
    assert "is at generation" in caplog.text and "rebuilding" in caplog.text

    # what a crash inside the old save left (it deleted the folder in place): a manifest, no keyword index
    shutil.rmtree(folder / "bm25")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="reme"), Memory(tmp_path, encoder=encoder) as mem:
        _index_agrees(mem)
    assert "ignoring the saved index" in caplog.text

    for name, data in (("dense.faiss", b"garbage"), ("ids.npy", b"")):
        with Memory(tmp_path, encoder=encoder) as mem:
            mem.rebuild_indexes()  # a whole, current copy again
        (folder / name).write_bytes(data)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="reme"), Memory(tmp_path, encoder=encoder) as mem:
            _index_agrees(mem)
        assert "ignoring the saved index" in caplog.text, name

    # a crash between the two renames of a save: no folder, the old one aside; readers rebuild, a save restores
    with Memory(tmp_path, encoder=encoder) as mem:
        mem.rebuild_indexes()
    aside = folder.with_name(f".{folder.name}.old-4194304-1")  # pid 4194304 is above any pid_max: dead
    os.rename(folder, aside)
    with Memory(tmp_path, encoder=encoder) as mem:
        _index_agrees(mem)
        mem.rebuild_indexes()
    assert saved.is_file() and not aside.exists()


def test_checkpoint_save_is_whole_old_or_whole_new(tmp_path: Path):
    from reme.policy.checkpoint import load_checkpoint
    from reme.policy.rank import MLPRankPolicy

    folder = tmp_path / "ckpt"
    v1 = MLPRankPolicy(seed=1, hidden=4).save(folder)
    assert load_checkpoint(folder)[0]["version"] == v1
    v2 = MLPRankPolicy(seed=2, hidden=4).save(folder)  # an overwrite swaps the whole folder
    assert load_checkpoint(folder)[0]["version"] == v2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]

    # a crash between the swap's renames: the new folder is still temporary, the old one is aside
    aside = tmp_path / ".ckpt.old-4194304-1"
    os.rename(folder, aside)
    (tmp_path / ".ckpt.tmp-4194304-1").mkdir()
    (tmp_path / ".ckpt.tmp-4194304-1" / "policy.safetensors").write_bytes(b"half")
    assert load_checkpoint(folder)[0]["version"] == v2  # readers find the old version, without moving it
    v3 = MLPRankPolicy(seed=3, hidden=4).save(folder)  # the next save puts it back, then replaces it
    assert load_checkpoint(folder)[0]["version"] == v3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # leftovers of the dead writer removed
