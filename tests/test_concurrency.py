"""Several processes, each with several threads sharing one ``Memory``, write and search one workspace at once.

Mechanism under test (see docs/reliability.md): SQLite in WAL mode orders writers across processes
(``BEGIN IMMEDIATE``, 60 s busy timeout); a read-modify-write (``Memory.update``, an ``add`` that supersedes a
memory) runs inside one such transaction; the trajectory log appends one line per ``write(2)`` under an
exclusive ``flock``; saved indexes are swapped into place whole and checked against their manifest by readers.

Each worker owns some (memory, field) pairs of a set of shared memories and is their only writer, so the final
value of each pair must be the last value its owner acknowledged: any other value is a *lost update*. Workers
also add and delete their own memories, delete "doomed" shared memories that other workers keep updating (an
acknowledged delete must stay deleted), search, give feedback and rebuild indexes (with the save threshold
lowered, so processes replace each other's saved indexes while others load them). Anomalies counted: lost
updates, resurrected deletes, missing or phantom memories, indexes that disagree with their records (checked
online by the workers and at the end), unreadable trajectory lines, acknowledged decisions missing from the
log, and unexpected worker errors.

Run as a script (``python test_concurrency.py SPEC_JSON``) this file is one worker process.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DIM = 32
FIELDS = ("author", "score", "when_to_use", "message_time", "ref_memory_id", "content")
TARGETS = ("default", "user:ana", "user:bo")


def _value(name: str, worker: int, i: int) -> Any:
    """The ``i``-th value a worker writes into a field (distinct per worker and step)."""
    if name == "score":
        return float(worker * 100_000 + i)
    if name == "message_time":
        return f"2024-05-{1 + worker % 28:02d}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}"
    return f"{name} w{worker} v{i}"


def _layout(workers: int) -> tuple[int, dict[int, tuple[str, list[int]]]]:
    """How many shared memories there are, and for each worker its field and the shared memories it owns that
    field of (every (memory, field) pair has exactly one owner)."""
    per_field = math.ceil(workers / len(FIELDS))
    shared = 2 * per_field
    owners = {}
    for w in range(workers):
        owners[w] = (FIELDS[w % len(FIELDS)], [m for m in range(shared) if m % per_field == w // len(FIELDS)])
    return shared, owners


# ================================================================================================= worker


def _worker_thread(mem: Any, spec: dict[str, Any], worker: int, out: dict[str, Any]) -> None:
    from reme.errors import NotFoundError

    rng = random.Random(spec["seed"] * 7919 + worker)
    shared_ids: list[str] = spec["shared"]
    doomed_ids: list[str] = spec["doomed"]
    field_name, mine = _layout(spec["workers"])[1][worker]
    my_doomed = [d for i, d in enumerate(doomed_ids) if i % spec["workers"] == worker]
    last: dict[str, Any] = {}
    added: list[str] = []
    deleted: list[str] = []
    decisions: list[str] = []
    errors: list[str] = []
    index_checks = index_anomalies = 0
    ops = ["update"] * 30 + ["add"] * 20 + ["search"] * 20 + ["delete"] * 6 + ["doomed"] * 6
    ops += ["feedback"] * 5 + ["rebuild"] * 3 + ["check"] * 10
    for i in range(spec["ops"]):
        op = rng.choice(ops)
        try:
            if op == "update":
                m = rng.choice(mine)
                value = _value(field_name, worker, i)
                mem.update(shared_ids[m], **{field_name: value})
                last[shared_ids[m]] = value
            elif op == "add":
                node = mem.add(f"own w{worker} i{i} " + " ".join(rng.sample(spec["words"], 4)), rng.choice(TARGETS))
                added.append(node.memory_id)
            elif op == "delete" and len(added) > len(deleted) + 1:
                victim = rng.choice(sorted(set(added) - set(deleted)))
                mem.delete(victim)
                deleted.append(victim)
            elif op == "doomed":
                if my_doomed and rng.random() < 0.3:
                    victim = my_doomed.pop()
                    mem.delete(victim)
                    deleted.append(victim)
                else:  # update someone's doomed memory: a delete that happened first makes this NotFoundError
                    with contextlib.suppress(NotFoundError):
                        mem.update(rng.choice(doomed_ids), **{field_name: _value(field_name, worker, i)})
            elif op == "search":
                words = " ".join(rng.sample(spec["words"], 2))
                decision, _ = mem.search_with_decision(words, rng.choice((3, 10)), rng.choice(TARGETS))
                decisions.append(decision.decision_id)
            elif op == "feedback" and decisions:
                mem.feedback(1.0, decision_id=rng.choice(decisions))
            elif op == "rebuild":
                mem.rebuild_indexes(rng.choice(TARGETS))
            elif op == "check":  # the index this process uses agrees with the records at its generation
                target = rng.choice(TARGETS)
                with mem._lock:
                    index = mem.index_for(target)
                    generation, seqs, _, _ = mem.records.index_rows(target)
                    if generation == index.generation:
                        index_checks += 1
                        assert index.bm25 is not None
                        if len(index.dense) != len(seqs) or sorted(index.bm25.ids.tolist()) != sorted(seqs.tolist()):
                            index_anomalies += 1
        except Exception as exc:  # any failure is an anomaly the parent reports
            errors.append(f"worker {worker} op {op}: {exc!r}")
    out[str(worker)] = {
        "last": last,
        "added": added,
        "deleted": deleted,
        "decisions": decisions,
        "errors": errors,
        "index_checks": index_checks,
        "index_anomalies": index_anomalies,
    }


def worker_main(spec: dict[str, Any]) -> None:
    """One process: open the workspace, run its threads, write what each acknowledged to ``spec["out"]``."""
    import reme.store.index_cache as index_cache
    from reme.memory import Memory
    from reme.retrieval.embedding import RandomEncoder

    index_cache.PERSIST_MIN = 4  # processes save, replace and load each other's index copies
    mem = Memory(spec["workspace"], encoder=RandomEncoder(DIM))
    out: dict[str, Any] = {}
    threads = [threading.Thread(target=_worker_thread, args=(mem, spec, w, out)) for w in spec["thread_workers"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    mem.close()
    Path(spec["out"]).write_text(json.dumps(out))


# ================================================================================================= parent


@dataclass
class ConcurrencyStats:
    """What one concurrent run measured."""

    processes: int
    threads: int
    ops: int = 0
    lost_updates: int = 0
    resurrected: int = 0
    missing: int = 0
    phantom: int = 0
    index: int = 0
    log: int = 0
    errors: int = 0
    index_checks: int = 0
    wall_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def anomalies(self) -> int:
        return self.lost_updates + self.resurrected + self.missing + self.phantom + self.index + self.log + self.errors


def run_concurrent(
    root: Path, processes: int, threads: int, ops: int, seed: int, store: dict[str, str] | None = None
) -> ConcurrencyStats:
    """Start ``processes`` workers of ``threads`` threads, ``ops`` operations each, on one new workspace (its
    records in PostgreSQL when ``store`` gives ``reme.yaml``'s ``store`` settings)."""
    import numpy as np

    from reme.memory import Memory
    from reme.policy.trajectory import read_records
    from reme.retrieval.embedding import RandomEncoder
    from reme.store.open import trajectory_source

    workers = processes * threads
    shared_count, owners = _layout(workers)
    words = [f"word{i}" for i in range(60)]
    ws = root / "ws"
    if store is not None:
        import yaml

        ws.mkdir(parents=True)
        (ws / "reme.yaml").write_text(yaml.safe_dump({"store": store}), encoding="utf-8")
    with Memory(ws, encoder=RandomEncoder(DIM)) as mem:
        shared = [mem.add(f"shared memory {m} word{m}", TARGETS[m % 3]) for m in range(shared_count)]
        doomed = [mem.add(f"doomed memory {d} word{d}", TARGETS[d % 3]) for d in range(2 * workers)]
    shared_ids = [n.memory_id for n in shared if n is not None]
    doomed_ids = [n.memory_id for n in doomed if n is not None]
    env = {k: v for k, v in os.environ.items() if not k.startswith("REME_")}
    env.update(PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    env["REME_TRAJECTORIES__SEGMENT_BYTES"] = "65536"  # concurrent rotations too
    started = time.monotonic()
    procs = []
    for p in range(processes):
        spec = {
            "workspace": str(ws),
            "out": str(root / f"out-{p}.json"),
            "seed": seed,
            "ops": ops,
            "workers": workers,
            "thread_workers": list(range(p * threads, (p + 1) * threads)),
            "shared": shared_ids,
            "doomed": doomed_ids,
            "words": words,
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), json.dumps(spec)],
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    stats = ConcurrencyStats(processes, threads)
    results: dict[str, Any] = {}
    for p, proc in enumerate(procs):
        _, err = proc.communicate(timeout=900)
        if proc.returncode != 0:
            stats.errors += 1
            stats.problems.append(f"process {p} exited with {proc.returncode}: {err[-2000:]}")
            continue
        results.update(json.loads((root / f"out-{p}.json").read_text()))
    stats.wall_s = time.monotonic() - started
    stats.ops = workers * ops
    for res in results.values():
        stats.errors += len(res["errors"])
        stats.problems.extend(res["errors"][:5])
        stats.index += res["index_anomalies"]
        stats.index_checks += res["index_checks"]

    with Memory(ws, encoder=RandomEncoder(DIM)) as mem:
        present = {n.memory_id: n for n in mem.list()}
        deleted = {mid for res in results.values() for mid in res["deleted"]}
        added = {mid for res in results.values() for mid in res["added"]}
        for w in range(workers):  # lost updates: each owned (memory, field) holds its owner's last value
            res = results.get(str(w))
            if res is None:
                continue
            name = owners[w][0]
            for mid, value in res["last"].items():
                node = present.get(mid)
                if node is None or getattr(node, name) != value:
                    stats.lost_updates += 1
                    stats.problems.append(f"{mid}.{name}: {None if node is None else getattr(node, name)} != {value}")
        stats.resurrected = len(deleted & set(present))
        stats.missing = len((added | set(shared_ids)) - deleted - set(present))
        stats.phantom = len(set(present) - added - set(shared_ids) - set(doomed_ids))
        for target in TARGETS:
            _, seqs, _, vectors = mem.records.index_rows(target)
            index = mem.index_for(target)
            assert index.bm25 is not None
            if sorted(index.bm25.ids.tolist()) != sorted(seqs.tolist()) or len(index.dense) != len(seqs):
                stats.index += 1
                stats.problems.append(f"{target}: final index disagrees with the records")
            elif len(seqs) and not np.allclose(index.dense.vectors(seqs), vectors, atol=1e-6):
                stats.index += 1
                stats.problems.append(f"{target}: final FAISS vectors differ from the records")
            rebuilt = mem.rebuild_indexes(target)[target]
            if rebuilt != len(seqs):
                stats.index += 1
        for mid, node in present.items():
            if not np.allclose(mem.records.vector(mid)[0], RandomEncoder(DIM).encode([node.index_text])[0], atol=1e-6):
                stats.index += 1
                stats.problems.append(f"{mid}: vector is not the vector of its text")
        # SQLite's own check of its file (PostgreSQL keeps no file of the workspace's to check)
        check = mem.records._read("PRAGMA integrity_check")[0][0] if store is None else "ok"
        if check != "ok":
            stats.index += 1
            stats.problems.append(f"integrity_check: {check}")
    logged: set[str] = set()
    source = trajectory_source(ws)  # the segments, or (PostgreSQL) the schema's table read as a learner would
    for entry in read_records(source):
        if entry.record is None:
            stats.log += 1
            stats.problems.append(f"{entry.path.name}:{entry.line}: {entry.error}")
        elif entry.record.type == "decision":
            logged.add(entry.record.decision_id)  # type: ignore[union-attr]
    if not isinstance(source, Path):
        source.close()
    acked = {d for res in results.values() for d in res["decisions"]}
    stats.log += len(acked - logged)
    return stats


def _size(request: pytest.FixtureRequest) -> tuple[int, int, int]:
    """(processes, threads per process, operations per thread): small for CI, bigger with ``--long``."""
    if request.config.getoption("--long"):
        return 6, 4, 1000
    return 3, 2, 100


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_concurrent_writers_and_searchers_lose_nothing(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    processes, threads, ops = _size(request)
    seed = int(request.config.getoption("--crash-seed"))
    store = None
    if backend == "postgres":
        pytest.importorskip("psycopg")
        store = {"url": request.getfixturevalue("postgres_url"), "schema": os.environ["REME_TEST_SCHEMA"]}
    stats = run_concurrent(tmp_path, processes, threads, ops, seed, store)
    print(
        f"\nconcurrency ({backend}): {processes} processes x {threads} threads, {stats.ops} operations, "
        f"{stats.anomalies} anomalies (lost updates {stats.lost_updates}, resurrected {stats.resurrected}, "
        f"missing {stats.missing}, phantom {stats.phantom}, index {stats.index} of {stats.index_checks} online "
        f"checks + final, log {stats.log}, errors {stats.errors}); {stats.wall_s:.1f} s"
    )
    assert stats.anomalies == 0, "\n".join(stats.problems[:20])
    assert stats.index_checks > 0


def test_update_keeps_a_concurrent_update_of_another_field(tmp_path: Path) -> None:
    """The read-modify-write of ``update`` applies its changes to the memory as it is when it writes: a change
    that lands between its read and its write (here: by the encoder, i.e. while the new text is encoded) is
    kept, and a delete in that window is not undone."""
    from reme.errors import NotFoundError
    from reme.memory import Memory
    from reme.retrieval.embedding import RandomEncoder

    class Interleaving(RandomEncoder):
        """Runs ``during`` once, inside the next encode (after ``update`` has read the memory)."""

        during: Any = None

        def encode(self, texts: Any, show_progress: bool = False) -> Any:
            if self.during is not None:
                action, self.during = self.during, None
                action()
            return super().encode(texts, show_progress)

    encoder = Interleaving(DIM)
    with (
        Memory(tmp_path / "a", encoder=encoder, embedding_cache=False) as mem,
        Memory(tmp_path / "a", encoder=RandomEncoder(DIM), embedding_cache=False) as other,
    ):
        node = mem.add("the kettle is in the left cupboard")
        assert node is not None
        encoder.during = lambda: other.update(node.memory_id, author="bo", score=0.5)
        mem.update(node.memory_id, content="the kettle is in the right cupboard")
        final = other.get(node.memory_id)
        assert (final.content, final.author, final.score) == ("the kettle is in the right cupboard", "bo", 0.5)
        hit = mem.search("kettle right cupboard", 1, min_score=0.0)[0]
        assert hit.memory.content == "the kettle is in the right cupboard"

        encoder.during = lambda: other.delete(node.memory_id)
        with pytest.raises(NotFoundError):
            mem.update(node.memory_id, content="the kettle is gone")
        assert not other.records.exists(node.memory_id)


if __name__ == "__main__":
    worker_main(json.loads(sys.argv[1]))
