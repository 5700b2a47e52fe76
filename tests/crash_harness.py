"""Crash harness: a child process works on a workspace and is killed (SIGKILL) at a random moment; the parent
reopens the workspace and checks it against what the child acknowledged.

The child (this file run as a script, ``python crash_harness.py SPEC_JSON``) opens a workspace with a fast
deterministic encoder (``RandomEncoder``: vectors seeded by each text's hash) and performs a seeded random
sequence of operations: ``add``, ``add_many`` (several batches), ``update`` (content, target, author, score),
``delete``, ``search`` and ``feedback`` (which append to the trajectory log), ``rebuild`` (an index rebuild and
save), ``reopen`` (close, which saves indexes, and open again) and, in the ``checkpoint`` group, policy
checkpoint saves over one checkpoint directory and their activation in the workspace's registry. Around each
operation it writes one JSON line to a separate acknowledgement file, each with ``write`` + ``fsync``:

* ``intent`` before the operation: the memory ids it may change, each with its new state (a hash of target,
  content, author and score; ``null`` for a delete), or the checkpoint version it is about to write;
* ``part`` after each committed batch of an ``add_many`` (``on_commit``);
* ``ack`` after the operation returned: with the decision id of a search, the reward id of a feedback.

Crash point groups (how the moment of death is chosen, from the trial's seed):

* ``timer``: the parent sends SIGKILL after a random delay, wherever the child is: inside SQLite's commit,
  inside FAISS writing an index, in the middle of a multi-page ``write(2)`` of a large decision record;
* ``io``: the child kills itself just before its N-th file-system call (opening a file for writing,
  ``write``, ``fsync``, ``rename``/``replace``, ``unlink``, ``rmdir``, ``mkdir``, ``ftruncate``): every
  window between two such calls is reachable, however short (SQLite's crash tests count I/O operations the
  same way). SQLite's and FAISS's own I/O is in C and is only reached by ``timer``;
* ``torn``: at its N-th ``os.write`` the child writes a random prefix of the buffer and kills itself: a torn
  trajectory record, as a kill in the middle of a multi-page write (or a power loss) leaves;
* ``checkpoint``: ``io`` crash points, with checkpoint saves and activations among the operations.

The parent (``run_group``) keeps a model of the acknowledged state, resolved after each trial to what it
observed for the one operation in flight. After each kill it reopens the workspace and counts:

* ``lost``: acknowledged writes missing or reverted (an acknowledged delete that came back counts too);
* ``phantom``: records that no operation (acknowledged or in flight) wrote;
* ``half``: in-flight changes that are neither fully old nor fully new, and records whose stored vector is
  not the vector of their text;
* ``index``: a target's loaded or rebuilt index (FAISS ids and vectors, BM25 ids and terms) that disagrees
  with its records, an on-disk copy that loads but disagrees, a failed SQLite ``integrity_check``, cached
  embeddings that are not the encoder's;
* ``log``: an unreadable trajectory line other than a torn last line of a segment, an acknowledged decision or
  reward missing, an acknowledged add without its write decision;
* ``checkpoint``: a checkpoint directory that does not load or holds neither the acknowledged nor the in-flight
  version; a ``reme.yaml`` naming a version that is neither; a workspace that does not open.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DIM = 32
MODEL_ID = f"random:{DIM}"
TARGETS = ("default", "user:ana", "user:bo")
GROUPS = ("timer", "io", "torn", "checkpoint")
CHECKPOINT_DIR = "checkpoints/rank"
WORDS = [
    "river", "lamp", "orange", "violin", "harbour", "pepper", "winter", "garden", "copper", "lantern", "meadow",
    "pilot", "saffron", "tunnel", "marble", "falcon", "cedar", "quartz", "ribbon", "canyon", "willow", "ember",
    "thistle", "maple", "orbit", "velvet", "glacier", "cobalt", "juniper", "harvest",
]  # fmt: skip
TOKEN_RE = re.compile(r"^k\d+n\d+$")
STARTUP_TIMEOUT_S = 60.0
"""A child that has not started its operations by then is a harness failure (a wedged import, a lock)."""


def token_of(text: str) -> str | None:
    """The unique token a harness text carries (``k<seed>n<counter>``), if any."""
    return next((w for w in text.split() if TOKEN_RE.match(w)), None)


def state_hash(target: str, content: str, author: str, score: float) -> str:
    """The state of one memory as the harness sees it: what the child wrote, and what the parent compares."""
    return hashlib.sha256(json.dumps([target, content, author, float(score)]).encode()).hexdigest()[:16]


# ============================================================================================== the child


class _Acks:
    """The child's acknowledgement file: one JSON line per event, written and fsynced before going on."""

    def __init__(self, path: str, write: Any, fsync: Any):
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._write = write  # the real os.write / os.fsync: the ack file is not a crash point
        self._fsync = fsync

    def put(self, **event: Any) -> None:
        self._write(self._fd, (json.dumps(event) + "\n").encode())
        self._fsync(self._fd)


class _CrashPoints:
    """Wraps the file-system calls of the child's Python code (and, on a PostgreSQL workspace, its statements and
    commits); kills the process at the ``at``-th call (``torn``: at the ``at``-th ``os.write``, after writing a
    random prefix of its buffer)."""

    def __init__(self, at: int, torn: bool, rng: random.Random, acks: _Acks, database: bool = False):
        self.at = at
        self.database = database
        self.torn = torn
        self.rng = rng
        self.acks = acks
        self.count = 0
        self.paused = False

    def die(self, call: str) -> None:
        """Record where (the two innermost frames in ``reme/`` and the call about to run), then SIGKILL."""
        import traceback

        frames = [f for f in traceback.extract_stack() if f"{os.sep}reme{os.sep}" in f.filename]
        where = " > ".join(f"{Path(f.filename).name}:{f.name}" for f in frames[-2:]) or "harness"
        self.acks.put(t="crash", site=f"{where} before {call}")
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)  # not reached

    def hit(self, call: str) -> None:
        if self.paused:
            return
        self.count += 1
        if self.count >= self.at:
            self.die(call)

    def install(self) -> None:
        import builtins
        import shutil

        def point(fn: Any, call: str) -> Any:
            def wrapped(*args: Any, **kwargs: Any) -> Any:
                self.hit(call)
                return fn(*args, **kwargs)

            return wrapped

        real_write = os.write

        def write(fd: int, data: Any) -> int:
            if self.paused:
                return real_write(fd, data)
            self.count += 1
            if self.count >= self.at:
                view = bytes(data)
                if self.torn and len(view) > 1:
                    real_write(fd, view[: self.rng.randrange(1, len(view))])
                self.die("write (torn)" if self.torn else "write")
            return real_write(fd, data)

        os.write = write
        if self.torn:
            return
        for name in ("fsync", "replace", "rename", "unlink", "remove", "rmdir", "mkdir", "ftruncate"):
            setattr(os, name, point(getattr(os, name), name))
        shutil.rmtree = point(shutil.rmtree, "rmtree")  # type: ignore[assignment]
        real_os_open = os.open
        writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

        def os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if flags & writing:
                self.hit("open")
            return real_os_open(path, flags, *args, **kwargs)

        os.open = os_open
        real_open = io.open

        def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if any(c in mode for c in "wax+") and not isinstance(file, int):
                self.hit("open")
            return real_open(file, mode, *args, **kwargs)

        io.open = open_  # type: ignore[assignment]
        builtins.open = open_  # type: ignore[assignment]
        if self.database:  # a PostgreSQL workspace: a statement or a commit is a crash point too
            import psycopg

            for cls, names in ((psycopg.Cursor, ("execute", "executemany")), (psycopg.Connection, ("commit",))):
                for name in names:
                    setattr(cls, name, point(getattr(cls, name), f"database {name}"))


def _text(rng: random.Random, token: str) -> str:
    """A memory text with a unique token (BM25 must find the memory by it) among a few random words."""
    words = rng.choices(WORDS, k=rng.choice((2, 5, 12, 40)))
    words.insert(rng.randrange(len(words) + 1), token)
    return " ".join(words)


def child_main(spec: dict[str, Any]) -> None:
    """Open the workspace and perform operations until killed."""
    rng = random.Random(spec["seed"])
    acks = _Acks(spec["ack"], os.write, os.fsync)
    from reme.settings import load_settings

    database = load_settings(spec["workspace"]).store.url is not None
    points = _CrashPoints(int(spec.get("at", 0)), spec["group"] == "torn", rng, acks, database)

    import reme.store.index_cache as index_cache
    from reme.memory import Memory
    from reme.retrieval.embedding import RandomEncoder

    index_cache.PERSIST_MIN = 4  # every rebuild and close saves indexes: their crash windows are reachable
    # torch is imported before the clock starts, in every group: opening a workspace loads the shipped
    # learned write head, and a second of import would otherwise eat the timer group's whole kill window
    # (0 to 1.2 s) before the first write.
    import torch  # noqa: F401

    checkpoints = spec["group"] == "checkpoint"
    if checkpoints:
        from reme.policy.rank import MLPRankPolicy
        from reme.policy.registry import activate
    ws = Path(spec["workspace"])
    acks.put(t="started")
    if spec["group"] != "timer":
        points.install()

    def open_memory() -> Any:
        return Memory(ws, encoder=RandomEncoder(DIM))

    mem = open_memory()
    acks.put(t="ready")
    known: dict[str, tuple[str, str, str, float]] = {
        n.memory_id: (n.memory_target, n.content, n.author, float(n.score)) for n in mem.list()
    }
    decisions: list[str] = []
    prefix = f"k{spec['seed']}n"
    counter = 0

    def fresh() -> tuple[str, str]:
        nonlocal counter
        counter += 1
        target = rng.choice(TARGETS)
        return target, _text(rng, f"{prefix}{counter}")

    ops = ["add"] * 25 + ["add_many"] * 10 + ["update"] * 15 + ["delete"] * 8 + ["search"] * 20
    ops += ["feedback"] * 8 + ["rebuild"] * 6 + ["reopen"] * 3
    if checkpoints:
        ops += ["checkpoint"] * 8 + ["activate"] * 4
    saved_version: str | None = None
    if checkpoints and (ws / CHECKPOINT_DIR / "policy.json").is_file():
        saved_version = json.loads((ws / CHECKPOINT_DIR / "policy.json").read_text())["version"]
    while True:
        op = rng.choice(ops)
        if op in ("update", "delete") and not known:
            op = "add"
        if op == "add":
            target, content = fresh()
            author, score = rng.choice(("", "ana", "bo")), round(rng.random(), 3)
            mid = mem.memory_id_for(content, target)
            acks.put(t="intent", op=op, items=[[mid, state_hash(target, content, author, score)]])
            node = mem.add(content, target, author=author, score=score)
            assert node is not None and node.memory_id == mid
            known[mid] = (target, content, author, score)
            acks.put(t="ack", op=op, writes=1)
        elif op == "add_many":
            items = []
            for _ in range(rng.randint(2, 12)):
                target, content = fresh()
                items.append({"content": content, "target": target, "author": "", "score": 0.0})
            states = [[mem.memory_id_for(i["content"], i["target"]), state_hash(i["target"], i["content"], "", 0.0)]
                      for i in items]  # fmt: skip
            acks.put(t="intent", op=op, items=states)
            written = mem.add_many(
                items,
                batch_size=rng.randint(1, 5),
                on_commit=lambda nodes: acks.put(t="part", ids=[n.memory_id for n in nodes]),
            )
            for node in written:
                known[node.memory_id] = (node.memory_target, node.content, "", 0.0)
            acks.put(t="ack", op=op, writes=len(items))
        elif op == "update":
            mid = rng.choice(sorted(known))
            target, content, author, score = known[mid]
            changes: dict[str, Any] = {}
            if rng.random() < 0.6:
                content = _text(rng, token_of(content) or f"{prefix}{counter}u")
                changes["content"] = content
            if rng.random() < 0.2:
                target = rng.choice(TARGETS)
                changes["target"] = target
            if rng.random() < 0.4 or not changes:
                author, score = rng.choice(("ana", "bo", "cy")), round(rng.random(), 3)
                changes.update(author=author, score=score)
            acks.put(t="intent", op=op, items=[[mid, state_hash(target, content, author, score)]])
            mem.update(mid, **changes)
            known[mid] = (target, content, author, score)
            acks.put(t="ack", op=op, writes=1)
        elif op == "delete":
            mid = rng.choice(sorted(known))
            acks.put(t="intent", op=op, items=[[mid, None]])
            mem.delete(mid)
            del known[mid]
            acks.put(t="ack", op=op, writes=1)
        elif op == "search":
            if known and rng.random() < 0.7:
                words = rng.choice(list(known.values()))[1].split()
                query = " ".join(rng.sample(words, min(3, len(words))))
            else:
                query = " ".join(rng.choices(WORDS, k=3))
            decision, _ = mem.search_with_decision(query, rng.choice((3, 10, 30)), rng.choice(TARGETS), min_score=0.0)
            decisions.append(decision.decision_id)
            acks.put(t="ack", op=op, decision_id=decision.decision_id)
        elif op == "feedback":
            if decisions and (rng.random() < 0.6 or not known):
                event = mem.feedback(rng.choice((-1.0, 1.0)), decision_id=rng.choice(decisions))
            elif known:
                event = mem.feedback(1.0, memory_id=rng.choice(sorted(known)))
            else:
                continue
            acks.put(t="ack", op=op, reward_id=event.reward_id)
        elif op == "rebuild":
            target = rng.choice(TARGETS)
            mem.rebuild_indexes(target)
            acks.put(t="ack", op=op, target=target)
        elif op == "reopen":
            mem.close()
            mem = open_memory()
            acks.put(t="ack", op=op)
        elif op == "checkpoint":
            policy = MLPRankPolicy(seed=rng.randrange(2**31), hidden=8)
            points.paused = True  # learn the version it will be saved under (outside the workspace)
            scratch = Path(spec["ack"] + ".scratch")
            version = policy.save(scratch)
            points.paused = False
            acks.put(t="intent", op=op, version=version)
            policy.save(ws / CHECKPOINT_DIR)
            saved_version = version
            acks.put(t="ack", op=op, version=version)
        elif op == "activate":
            if saved_version is None:
                continue
            acks.put(t="intent", op=op, version=saved_version)
            activate(ws, str(ws / CHECKPOINT_DIR))
            acks.put(t="ack", op=op, version=saved_version)


# ============================================================================================= the parent


@dataclass
class GroupStats:
    """What one crash point group measured over its trials."""

    group: str
    trials: int = 0
    killed: int = 0
    """Children that died of SIGKILL (the rest ran past the time limit and were killed by the parent)."""
    ops_acked: int = 0
    writes_acked: int = 0
    """Acknowledged memory writes: memories added, updates, deletes."""
    lost: int = 0
    phantom: int = 0
    half: int = 0
    index: int = 0
    log: int = 0
    checkpoint: int = 0
    child: int = 0
    """Children that failed on their own (an exception, e.g. a workspace that no longer opens)."""
    torn_tails: int = 0
    """Torn last lines of trajectory segments found (and skipped) after a kill."""
    recovery_logs: int = 0
    """Log lines of the parent's reopen saying a saved index was stale or unreadable and is rebuilt."""
    sites: dict[str, int] = field(default_factory=dict)
    """Where self-kills landed: ``file:function before call`` -> count."""
    wall_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def anomalies(self) -> int:
        return self.lost + self.phantom + self.half + self.index + self.log + self.checkpoint + self.child

    def row(self) -> str:
        return (
            f"{self.group}: {self.trials} trials ({self.killed} self-killed), {self.ops_acked} ops acknowledged, "
            f"{self.writes_acked} writes acknowledged, lost {self.lost}, phantom {self.phantom}, half {self.half}, "
            f"index {self.index}, log {self.log}, checkpoint {self.checkpoint}, child errors {self.child}; "
            f"torn log tails skipped {self.torn_tails}, index recoveries logged {self.recovery_logs}; "
            f"{len(self.sites)} distinct crash sites; {self.wall_s:.1f} s"
        )


@dataclass
class _Model:
    """The parent's view of one workspace: acknowledged memory states and log records."""

    states: dict[str, str] = field(default_factory=dict)
    """memory id -> state hash of every memory that must be present."""
    decisions: set[str] = field(default_factory=set)
    rewards: set[str] = field(default_factory=set)
    written: set[str] = field(default_factory=set)
    """Ids whose add was acknowledged: each needs a write decision in the log."""
    checkpoint: str | None = None
    active: str = "default"  # PolicySettings().rank: a new workspace serves the shipped default


def _read_events(path: Path) -> list[dict[str, Any]]:
    """The child's acknowledgement lines (a torn last line is ignored: its event never completed)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_bytes().split(b"\n")[:-1]:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


class _LogCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _dense_ids(dense: Any) -> list[int]:
    import faiss

    if len(dense) == 0:
        return []
    return sorted(int(i) for i in faiss.vector_to_array(dense.faiss_index.id_map))


def _check_workspace(ws: Path, model: _Model, inflight: dict[str, str | None], stats: GroupStats) -> None:
    """Reopen the workspace, compare it with the model (resolving the in-flight operation), count problems."""
    import sqlite3

    import numpy as np

    from reme.memory import Memory
    from reme.policy.trajectory import read_records
    from reme.retrieval.cache import EmbeddingCache, text_key
    from reme.retrieval.embedding import RandomEncoder
    from reme.store.open import trajectory_source

    def problem(kind: str, text: str) -> None:
        setattr(stats, kind, getattr(stats, kind) + 1)
        if len(stats.problems) < 50:
            stats.problems.append(f"{kind}: {text}")

    encoder = RandomEncoder(DIM)
    counter = _LogCounter()
    logger = logging.getLogger("reme")
    logger.addHandler(counter)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        try:
            mem = Memory(ws, encoder=encoder)
        except Exception as exc:
            problem("checkpoint", f"workspace does not open: {exc!r}")
            return
        with mem:
            # records: acknowledged present, deleted absent, in-flight fully old or fully new
            observed = {n.memory_id: n for n in mem.list()}
            for mid in set(model.states) | set(observed) | set(inflight):
                node = observed.get(mid)
                seen = None if node is None else state_hash(node.memory_target, node.content, node.author, node.score)
                expected = model.states.get(mid)
                if mid in inflight:
                    if seen not in (expected, inflight[mid]):
                        problem("half", f"{mid} is {seen}, neither old {expected} nor new {inflight[mid]}")
                elif seen != expected:
                    if expected is not None:
                        problem("lost", f"acknowledged {mid} = {expected} is {seen}")
                    else:
                        problem("phantom", f"{mid} = {seen} was never written")
                if seen is None:
                    model.states.pop(mid, None)
                else:
                    model.states[mid] = seen
            for mid, node in observed.items():
                stored = mem.records.vector(mid)[0]
                if not np.allclose(stored, encoder.encode([node.index_text])[0], atol=1e-6):
                    problem("half", f"{mid}: stored vector is not the vector of its text")
            # indexes: whatever index_for returns (a saved copy when current, else a rebuild) matches the records
            for target in sorted(set(mem.records.targets()) | set(TARGETS)):
                generation, seqs, texts, vectors = mem.records.index_rows(target)
                index = mem.index_for(target)
                assert index.bm25 is not None
                if index.generation != generation:
                    problem("index", f"{target}: index at generation {index.generation}, records {generation}")
                if _dense_ids(index.dense) != sorted(seqs.tolist()) or sorted(index.bm25.ids.tolist()) != sorted(
                    seqs.tolist()
                ):
                    problem("index", f"{target}: index ids differ from the records")
                    continue
                if len(seqs) and not np.allclose(index.dense.vectors(seqs), vectors, atol=1e-6):
                    problem("index", f"{target}: FAISS vectors differ from the records")
                for seq, text in zip(seqs.tolist(), texts):
                    token = token_of(text)
                    if token is None:
                        continue
                    ids, _ = index.bm25.search(token, 1)
                    if len(ids) != 1 or int(ids[0]) != seq:
                        problem("index", f"{target}: BM25 does not find memory {seq} by its token {token}")
            on_sqlite = not (ws / "reme.yaml").is_file() or "postgresql" not in (ws / "reme.yaml").read_text()
            check = (
                sqlite3.connect(ws / "reme.db").execute("PRAGMA integrity_check").fetchone()[0] if on_sqlite else "ok"
            )
            if check != "ok":
                problem("index", f"reme.db integrity_check: {check}")
            cache = EmbeddingCache(ws / "embedding_cache" / "embeddings.db")
            try:
                texts = [n.index_text for n in observed.values()]
                cached = cache.get_many(MODEL_ID, [text_key(t) for t in texts])
                for text in texts:
                    vec = cached.get(text_key(text))
                    if vec is not None and not np.allclose(vec, encoder.encode([text])[0], atol=1e-6):
                        problem("index", "embedding cache holds a wrong vector")
            finally:
                cache.close()
            # trajectory log: readable up to the last complete record of each segment
            source = trajectory_source(ws)  # the segments, or (PostgreSQL) the schema's table
            try:
                entries = list(read_records(source))
            finally:
                if not isinstance(source, Path):
                    source.close()
            last_line: dict[Path, int] = {}
            for entry in entries:
                last_line[entry.path] = max(last_line.get(entry.path, 0), entry.line)
            decisions: set[str] = set()
            rewards: set[str] = set()
            written: set[str] = set()
            for entry in entries:
                if entry.record is None:
                    if entry.error == "truncated record (no end of line)" and entry.line == last_line[entry.path]:
                        stats.torn_tails += 1
                    else:
                        problem("log", f"{entry.path.name}:{entry.line}: {entry.error}")
                    continue
                record = entry.record
                if record.type == "decision":
                    decisions.add(record.decision_id)  # type: ignore[union-attr]
                    if record.kind == "write":  # type: ignore[union-attr]
                        written.update(record.memory_ids)  # type: ignore[union-attr]
                elif record.type == "reward":  # "memory" records (deletions) are not acknowledged operations
                    rewards.add(record.reward_id)  # type: ignore[union-attr]
            for kind, want, have in (
                ("decision", model.decisions, decisions),
                ("reward", model.rewards, rewards),
                ("write decision of", model.written, written),
            ):
                for missing in sorted(want - have)[:5]:
                    problem("log", f"acknowledged {kind} {missing} is not in the log")
                stats.log += max(0, len(want - have) - 5)
            # checkpoints: whole, and the acknowledged or the in-flight version
            _check_checkpoints(ws, model, inflight, problem)
    finally:
        logger.removeHandler(counter)
        logger.setLevel(old_level)
    stats.recovery_logs += sum(("rebuilding" in m or "ignoring the saved index" in m) for m in counter.messages)


def _check_checkpoints(ws: Path, model: _Model, inflight: dict[str, str | None], problem: Any) -> None:
    from reme.settings import load_settings

    folder = ws / CHECKPOINT_DIR
    allowed = {model.checkpoint, inflight.get("checkpoint")} - {None}
    if allowed:
        from reme.policy.checkpoint import load_checkpoint

        try:
            spec, _ = load_checkpoint(folder)
            version = str(spec["version"])
        except Exception as exc:
            if model.checkpoint is not None or folder.exists():
                problem("checkpoint", f"{folder} does not load: {exc}")
            version = None
        if version is not None and version not in allowed:
            problem("checkpoint", f"{folder} holds {version}, neither {sorted(allowed)}")
        model.checkpoint = version or model.checkpoint
    active = load_settings(ws).policies.rank
    if active not in {model.active, inflight.get("activate")}:
        problem("checkpoint", f"reme.yaml serves rank {active}, neither {model.active} nor {inflight.get('activate')}")
    model.active = active


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REME_")}
    env.update(
        PYTHONPATH=str(REPO),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
        REME_TRAJECTORIES__SEGMENT_BYTES="65536",  # rotations happen, and so do crashes inside them
    )
    return env


def run_trial(ws: Path, model: _Model, group: str, seed: int, trial: int, stats: GroupStats, scratch: Path) -> None:
    """One child: start it, let it (or a timer) kill it, fold its acknowledgements into ``model``, check."""
    rng = random.Random(seed * 1_000_003 + trial)
    ack = scratch / f"acks-{group}-{seed}-{trial}.jsonl"
    spec: dict[str, Any] = {"workspace": str(ws), "ack": str(ack), "seed": rng.randrange(2**31), "group": group}
    if group != "timer":
        spec["at"] = rng.randint(1, 400 if group != "torn" else 60)
    err_path = scratch / f"stderr-{group}-{seed}-{trial}.txt"
    with err_path.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), json.dumps(spec)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=_child_env(),
            cwd=str(scratch),
        )
        started = time.monotonic()
        while proc.poll() is None and not any(e.get("t") == "started" for e in _read_events(ack)):
            if time.monotonic() - started > STARTUP_TIMEOUT_S:
                break
            time.sleep(0.01)
        deadline = rng.uniform(0.0, 1.2) if group == "timer" else 8.0
        try:
            proc.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    stats.trials += 1
    if proc.returncode == -signal.SIGKILL and group != "timer":
        stats.killed += 1
    elif proc.returncode != -signal.SIGKILL:
        stats.problems.append(
            f"trial {trial}: child exited with {proc.returncode}: {err_path.read_text(errors='replace')[-2000:]}"
        )
        stats.child += 1
    inflight: dict[str, str | None] = {}
    for event in _read_events(ack):
        kind = event.get("t")
        if kind == "crash":
            stats.sites[event["site"]] = stats.sites.get(event["site"], 0) + 1
        elif kind == "intent":
            inflight = {mid: state for mid, state in event.get("items", [])}
            if event["op"] in ("checkpoint", "activate"):
                inflight[event["op"]] = event["version"]
        elif kind == "part":
            for mid in event["ids"]:
                model.states[mid] = str(inflight.pop(mid))
                model.written.add(mid)
        elif kind == "ack":
            stats.ops_acked += 1
            stats.writes_acked += int(event.get("writes", 0))
            op = event["op"]
            for mid, state in inflight.items():
                if op in ("checkpoint", "activate"):
                    continue
                if state is None:
                    model.states.pop(mid, None)
                else:
                    model.states[mid] = state
                    if op in ("add", "add_many"):
                        model.written.add(mid)
            if op == "checkpoint":
                model.checkpoint = event["version"]
            elif op == "activate":
                model.active = event["version"]
            elif op == "search":
                model.decisions.add(event["decision_id"])
            elif op == "feedback":
                model.rewards.add(event["reward_id"])
            inflight = {}
    _check_workspace(ws, model, inflight, stats)


def run_group(
    group: str, trials: int, seed: int, root: Path, chain: int = 10, store: dict[str, str] | None = None
) -> GroupStats:
    """``trials`` crash trials of one group; the workspace is kept across ``chain`` consecutive trials (each
    child recovers from the previous kill) and then started afresh. ``store``: ``reme.yaml``'s ``store`` settings of
    each workspace (PostgreSQL; one schema per workspace, suffixed with its number)."""
    if group not in GROUPS:
        raise ValueError(f"unknown crash point group {group!r}: one of {GROUPS}")
    stats = GroupStats(group)
    started = time.monotonic()
    scratch = root / f"scratch-{group}"
    scratch.mkdir(parents=True, exist_ok=True)
    model = _Model()
    ws = root / f"ws-{group}-0"
    for trial in range(trials):
        if trial % chain == 0:
            ws = root / f"ws-{group}-{trial // chain}"
            model = _Model()
            if store is not None:
                import yaml

                ws.mkdir(parents=True, exist_ok=True)
                own = {**store, "schema": f"{store['schema']}_{trial // chain}"}
                (ws / "reme.yaml").write_text(yaml.safe_dump({"store": own}), encoding="utf-8")
        run_trial(ws, model, group, seed, trial, stats, scratch)
    stats.wall_s = time.monotonic() - started
    return stats


if __name__ == "__main__":
    child_main(json.loads(sys.argv[1]))
