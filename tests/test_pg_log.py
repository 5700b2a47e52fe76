"""The trajectory log in PostgreSQL (issue 22.1, 22.5), against a real server: replicas on two hosts (two workspace
folders naming one schema) append to one log, a reward sent through either joins a decision taken by the other, a
learner with nothing but the URL reads every decision, ``reme trajectories verify`` re-scores them, ``reme forget``
scrubs the rows, the NDJSON export is the rows, and pruning deletes old rows."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from reme.memory import Memory
from reme.retrieval.embedding import RandomEncoder

pytest.importorskip("psycopg")


def _folder(path: Path, url: str, schema: str, **extra: object) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    settings = {"store": {"url": url, "schema": schema}, **extra}
    (path / "reme.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def _segments(folder: Path) -> list[Path]:
    return [p for p in (folder / "trajectories").glob("segment-*.jsonl") if p.stat().st_size]


def test_replicas_share_one_log_and_a_learner_elsewhere_reads_it(tmp_path, postgres_url):
    from typer.testing import CliRunner

    from reme.cli import app
    from reme.train.logs import logged_rank_samples, logged_records

    schema = os.environ["REME_TEST_SCHEMA"]
    host_a = Memory(_folder(tmp_path / "a", postgres_url, schema, mode="sample"), encoder=RandomEncoder(16), seed=0)
    host_b = Memory(_folder(tmp_path / "b", postgres_url, schema, mode="sample"), encoder=RandomEncoder(16), seed=1)
    try:
        for i in range(12):
            host_a.add(f"ann keeps item {i} in box {i % 3}", "user:ann")
        taken = [host_a.search_with_decision(f"where is item {i}", 3, "user:ann", min_score=-1)[0] for i in range(4)]
        for decision in taken:  # the reward arrives at the other replica
            assert host_b.decision(decision.decision_id).target == "user:ann"
            host_b.feedback(1.0, decision_id=decision.decision_id)
        host_b.search("box 2", 3, "user:ann", min_score=-1)
    finally:
        host_a.close()
        host_b.close()
    assert _segments(tmp_path / "a") == [] and _segments(tmp_path / "b") == []  # nothing on either host's disk
    learner = _folder(tmp_path / "learner", postgres_url, schema)  # another machine: only the URL
    records = logged_records(learner)
    decisions = [r for r in records if r.type == "decision"]
    rewards = [r for r in records if r.type == "reward"]
    assert len(rewards) == 4 and {r.decision_id for r in rewards} == {d.decision_id for d in taken}
    assert sum(d.kind == "write" for d in decisions) == 12 and sum(d.kind == "rank" for d in decisions) == 5
    samples = logged_rank_samples(learner)
    assert {s.decision_id for s in samples} == {d.decision_id for d in taken}
    runner = CliRunner()
    verified = runner.invoke(app, ["trajectories", "verify", "-w", str(learner)])
    assert verified.exit_code == 0, verified.output
    assert "17 decisions re-scored" in verified.output and "4 rewards, 0 problems" in verified.output
    stats = json.loads(runner.invoke(app, ["trajectories", "stats", "-w", str(learner), "--json", "-"]).output)
    assert stats["decisions"] == {"write": 12, "rank": 5} and stats["rewards"] == 4


def test_forget_export_and_prune_work_on_the_rows(tmp_path, postgres_url):
    from reme.forget import forget
    from reme.service.ops import export_trajectories, trajectory_lines

    schema = os.environ["REME_TEST_SCHEMA"]
    memory = Memory(_folder(tmp_path / "ws", postgres_url, schema), encoder=RandomEncoder(16))
    try:
        secret = memory.add("the door code is 4417", "user:ann")
        assert secret is not None
        memory.add("the garden gate is green", "user:ann")
        memory.search("door code", 2, "user:ann", min_score=-1)
        # an LLM decision quoting the memory (as the vector ReMe's summariser logs its prompt and output)
        from reme.llm.decisions import llm_decision
        from reme.llm.types import ChatResult

        said = "Remember: the door code is 4417."
        result = ChatResult(text=said, tokens=[said], token_logprobs=[-0.5], model="m", backend="test")
        prompt = {"messages": [{"role": "user", "content": secret.content}]}
        memory.log_decision(llm_decision("write", "llm-vector-summarizer", "write", result, model="m", inputs=prompt))
        bodies = [body for _, body in memory.trajectory.rows()]
        assert any("4417" in b for b in bodies)
        lines = list(trajectory_lines(memory))
        assert [line.decode("utf-8") for line in lines] == [b + "\n" for b in bodies]  # the export is the rows
        assert len(export_trajectories(memory, None).records) == len(bodies) == 4
        report = forget(memory, memory_ids=[secret.memory_id])
        assert (
            report.memories == 1 and report.trajectory_records == 1 and report.trajectory_fields == 1
        )  # the prompt; its tokens dropped
        assert not any("4417" in body for _, body in memory.trajectory.rows())
        from reme.policy.audit import verify

        assert verify(memory.workspace.root, memory.trajectory).problems == []
        with memory.records._conn() as conn:  # the first two records were written long ago
            conn.execute(
                f"UPDATE {schema}.trajectory SET written = now() - interval '40 days' WHERE seq IN "
                f"(SELECT seq FROM {schema}.trajectory ORDER BY seq LIMIT 2)"
            )
        before = len(list(memory.trajectory.rows()))  # with the deletion's memory event
        assert memory.trajectory.prune(30) == 2 and len(list(memory.trajectory.rows())) == before - 2
    finally:
        memory.close()


def test_where_the_log_lives_is_a_setting(tmp_path, postgres_url):
    from reme.errors import WorkspaceError

    schema = os.environ["REME_TEST_SCHEMA"]
    files = _folder(tmp_path / "files", postgres_url, schema, trajectories={"location": "files"})
    with Memory(files, encoder=RandomEncoder(16)) as memory:
        memory.add("a fact kept in the folder's log", "user:ann")
        assert type(memory.trajectory).__name__ == "TrajectoryLog"
    assert len(_segments(files)) == 1
    lite = tmp_path / "lite"
    lite.mkdir()
    (lite / "reme.yaml").write_text(yaml.safe_dump({"trajectories": {"location": "database"}}), encoding="utf-8")
    with pytest.raises(WorkspaceError, match=r"needs store\.url"):
        Memory(lite, encoder=RandomEncoder(16))


def test_a_learner_elsewhere_publishes_and_a_running_replica_serves_it(tmp_path, postgres_url):
    import time

    from typer.testing import CliRunner

    from reme.cli import app
    from reme.errors import WorkspaceError
    from reme.service import create_app
    from reme.store.postgres_registry import epoch

    schema = os.environ["REME_TEST_SCHEMA"]
    replica = Memory(_folder(tmp_path / "replica", postgres_url, schema, policies={"poll_seconds": 0.2}),
                     encoder=RandomEncoder(16))  # fmt: skip
    shipped = replica.write_policy.version
    service = create_app(replica.workspace.root, memory=replica)
    try:
        assert service.state.policy_watch is not None and shipped != "" and replica.write_policy.name != "heuristic"
        learner = _folder(tmp_path / "learner", postgres_url, schema)  # another machine: only the URL
        runner = CliRunner()
        served = runner.invoke(app, ["policy", "activate", "write:heuristic", "-w", str(learner)])
        assert served.exit_code == 0, served.output
        assert "published to the database's registry" in served.output and epoch(replica.records) >= 1

        def waits_for(name: str) -> bool:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if type(replica.write_policy).__name__ == name:
                    return True
                time.sleep(0.05)
            return False

        assert waits_for("HeuristicWritePolicy")  # the replica follows without a restart
        back = runner.invoke(app, ["policy", "rollback", "--kind", "write", "-w", str(learner)])
        assert back.exit_code == 0, back.output
        assert waits_for(type(Memory(tmp_path / "plain", encoder=RandomEncoder(16)).write_policy).__name__)
        assert replica.write_policy.version == shipped
        # the version the replica registered is in the database: the learner's folder has it after a pull
        assert (learner / "policies" / shipped).is_dir()
        with replica.records.held_lock("learn"), pytest.raises(WorkspaceError, match="another process holds"):
            from reme.train.learn import learn

            learn(learner)  # a second learner, on any host, is refused at once
    finally:
        service.state.policy_watch.set()
        replica.close()


def test_a_dump_on_one_replica_loads_on_another(tmp_path, postgres_url):
    import httpx
    from loopback import serve

    from reme.service import create_app

    schema = os.environ["REME_TEST_SCHEMA"]
    one = Memory(_folder(tmp_path / "one", postgres_url, schema), encoder=RandomEncoder(16))
    two = Memory(_folder(tmp_path / "two", postgres_url, schema), encoder=RandomEncoder(16))
    try:
        one.add("use the staging key for deploys", "task:ops")
        with serve(create_app(tmp_path / "one", memory=one)) as a, serve(create_app(tmp_path / "two", memory=two)) as b:
            dumped = httpx.post(f"{a}/dump_memory", json={"workspace_id": "ops", "dump_file_path": "backup"}).json()
            assert dumped["metadata"] == {"dumped": 1, "path": "backup/ops.jsonl"}
            assert not (tmp_path / "one" / "dumps").exists()  # a row of the database, not a file of this host
            loaded = httpx.post(
                f"{b}/load_memory", json={"workspace_id": "ops", "load_file_path": "backup", "clear_existing": True}
            ).json()
            assert loaded["metadata"]["loaded"] == 1 and loaded["metadata"]["removed"] == 1
            missing = httpx.post(f"{b}/load_memory", json={"workspace_id": "ops", "load_file_path": "nothing"})
            assert missing.status_code == 422 and "no dump file" in missing.text
            hostile = httpx.post(f"{b}/load_memory", json={"workspace_id": "ops", "load_file_path": "../x.jsonl"})
            assert hostile.status_code == 422
        assert [n.content for n in two.list("task:ops")] == ["use the staging key for deploys"]
    finally:
        one.close()
        two.close()


def test_a_learner_with_nothing_but_the_url(tmp_path, postgres_url, monkeypatch):
    """``reme learn -w postgresql://...`` and ``reme train-policy --from-trajectories postgresql://...`` (issue 22.5):
    no folder, no reme.yaml; the learner's local state goes to the reme cache and the URL never into a file."""
    from typer.testing import CliRunner

    from reme.cli import app

    schema = os.environ["REME_TEST_SCHEMA"]
    replica = Memory(_folder(tmp_path / "replica", postgres_url, schema, mode="sample"), encoder=RandomEncoder(16))
    try:
        for i in range(10):
            replica.add(f"bo keeps item {i} in box {i % 3}", "user:bo")
        for i in range(6):
            decision = replica.search_with_decision(f"where is item {i}", 3, "user:bo", min_score=-1)[0]
            replica.feedback(1.0 if i % 2 else 0.0, decision_id=decision.decision_id)
        shipped = replica.write_policy.version
    finally:
        replica.close()
    cache = tmp_path / "cache"
    monkeypatch.setenv("REME_CACHE_DIR", str(cache))
    monkeypatch.setenv("REME_STORE__SCHEMA", schema)
    # the command puts the URL it was given into its process's REME_STORE_URL: a value that reaches no database
    # here (so only the command's own can work), which the test's teardown then removes
    monkeypatch.setenv("REME_STORE_URL", "postgresql://nobody@nowhere.invalid/none")
    runner = CliRunner()
    stats = runner.invoke(app, ["trajectories", "stats", "-w", postgres_url, "--json", "-"])
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.output)["decisions"] == {"write": 10, "rank": 6}
    learned = runner.invoke(app, ["learn", "-w", postgres_url, "-d", "rank", "--min-samples", "2", "--steps", "5",
                                  "--json", "-"])  # fmt: skip
    assert learned.exit_code == 0, learned.output
    assert [row["kind"] for row in json.loads(learned.output)] == ["rank"]
    (folder,) = (cache / "learners").iterdir()
    assert folder.name.endswith(schema) and (folder / "policies" / shipped).is_dir()  # the registry, pulled
    assert not (folder / "reme.yaml").exists() and not (folder / "reme.db").exists()
    trained = runner.invoke(app, ["train-policy", "--from-trajectories", postgres_url, "--steps", "3",
                                  "--out", str(tmp_path / "ppo"), "--json", "-"])  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert (tmp_path / "ppo" / "metrics.json").is_file()
    again = runner.invoke(app, ["learn", "-w", postgres_url, "-d", "rank", "--min-samples", "2", "--json", "-"])
    assert again.exit_code == 0 and list((cache / "learners").iterdir()) == [folder]  # the same folder: resumes
