import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from reme.cli import app

runner = CliRunner()


def _run(*args, env=None):
    return runner.invoke(app, list(args), env=env)


def test_help_does_not_import_torch():
    heavy = "{'torch', 'faiss', 'sentence_transformers'}"
    code = f"import sys, reme.cli, reme.memory; sys.exit(1 if {heavy} & set(sys.modules) else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    assert _run("--help").exit_code == 0


def test_add_search_list_delete_with_workspace_anywhere(tmp_path, monkeypatch):
    ws = str(tmp_path / "ws")
    r = _run("--workspace", ws, "add", "Alice moved to Lisbon in May.", "--target", "user:alice")
    assert r.exit_code == 0, r.output
    alice_id = r.stdout.strip()
    r = _run("add", "Bob has a beagle named Pixel.", "--workspace", ws, "--target", "user:bob", "--time", "2024-05-08")
    assert r.exit_code == 0, r.output
    monkeypatch.setenv("REME_WORKSPACE", ws)
    r = _run("search", "Where does Alice live?", "--target", "user:alice", "--json", "-")
    assert r.exit_code == 0
    payload = json.loads(r.stdout)  # nothing but JSON on stdout
    assert [h["memory_id"] for h in payload["results"]] == [alice_id] and len(payload["decision_id"]) == 32
    r = _run("list", "--json", "-")
    assert {m["memory_target"] for m in json.loads(r.stdout)} == {"user:alice", "user:bob"}
    out = tmp_path / "list.json"
    assert _run("list", "--target", "user:bob", "--json", str(out)).exit_code == 0
    assert [m["message_time"] for m in json.loads(out.read_text())] == ["2024-05-08"]
    assert _run("delete", alice_id).exit_code == 0
    assert json.loads(_run("search", "Lisbon", "--target", "user:alice", "--json", "-").stdout)["results"] == []


def test_add_file_jsonl(tmp_path):
    ws = str(tmp_path / "ws")
    lines = [
        {"text": "First memory about tea."},
        {"text": "Second memory about coffee.", "target": "user:zoe", "time": "2024-01-02"},
        {"text": "Third memory.", "metadata": {"source": "test"}},
    ]
    f = tmp_path / "m.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    r = _run("-w", ws, "add", "--file", str(f))
    assert r.exit_code == 0, r.output
    assert "added 3 memories" in r.stdout
    listed = json.loads(_run("-w", ws, "list", "--json", "-").stdout)
    assert sorted(m["memory_target"] for m in listed) == ["default", "default", "user:zoe"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"text": "ok"}\n{"text": ""}\n', "empty"),
        ('{"text": "ok"}\nnot json\n', ":2: invalid JSON"),
        ('{"txt": "ok"}\n', "'text' field"),
        ('{"text": "ok", "target": "nobody"}\n', "invalid target"),
        ('{"text": "ok", "colour": 1}\n', "unknown field"),
        ("", "no memories"),
    ],
)
def test_bad_jsonl_is_rejected_whole(tmp_path, content, needle):
    ws = tmp_path / "ws"
    f = tmp_path / "bad.jsonl"
    f.write_text(content)
    r = _run("-w", str(ws), "add", "--file", str(f))
    assert r.exit_code == 2
    assert needle in r.stderr and "Traceback" not in r.output
    assert not ws.exists()  # the workspace was never touched


def test_bad_inputs_exit_2_with_one_line(tmp_path):
    ws = str(tmp_path / "ws")
    assert _run("-w", ws, "add", "keep me").exit_code == 0
    cases = [
        ("add", ""),
        ("add", "x" * 1_000_001),
        ("add", "bad \udcff utf8"),
        ("add", "x", "--time", "soon"),
        ("add", "x", "--target", "../etc"),
        ("add",),
        ("search", ""),
        ("search", "q", "--limit", "0"),
        ("delete", "no-such-id"),
    ]
    for args in cases:
        r = _run("-w", ws, *args)
        assert r.exit_code == 2, (args, r.output)
        assert "Traceback" not in r.output
    invalid_utf8 = tmp_path / "latin1.jsonl"
    invalid_utf8.write_bytes(b'{"text": "caf\xe9"}\n')
    r = _run("-w", ws, "add", "--file", str(invalid_utf8))
    assert r.exit_code == 2 and "UTF-8" in r.stderr
    assert _run("-w", ws, "add", "--file", str(tmp_path / "missing.jsonl")).exit_code == 2
    assert [m["content"] for m in json.loads(_run("-w", ws, "list", "--json", "-").stdout)] == ["keep me"]


def test_corrupt_workspace_database_is_an_operation_error(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "reme.db").write_bytes(b"this is not a database" * 100)
    r = _run("-w", str(ws), "list")
    assert r.exit_code == 1 and "cannot open the memory database" in r.stderr


def test_bad_search_never_creates_a_workspace(tmp_path):
    ws = tmp_path / "never"
    for args in (("search", ""), ("search", "q", "--limit", "0"), ("search", "q", "--target", "nobody")):
        assert _run("-w", str(ws), *args).exit_code == 2
    assert not ws.exists()


def test_a_read_on_a_missing_workspace_is_an_error_and_creates_nothing(tmp_path):
    """Issue 24.8: `reme -w nonexistent_ws search hello` used to print "no results", exit 0 and create the folder."""
    missing = tmp_path / "nonexistent_ws"
    for command in (["search", "hello"], ["list"], ["delete", "ff506fda0a941915"], ["feedback", "--decision", "x",
                    "--value", "1"]):  # fmt: skip
        r = runner.invoke(app, ["-w", str(missing), *command])
        assert r.exit_code == 2 and "is not a reme workspace" in r.stderr, (command, r.output)
        assert not missing.exists()


def test_datasets_synth_rejects_a_workspace_after_the_subcommand(tmp_path):
    """cli.md says so (issue 24.11): the generator writes --out and uses no workspace."""
    r = runner.invoke(app, ["datasets", "synth", "--out", str(tmp_path / "s.json"), "-w", str(tmp_path / "ws")])
    assert r.exit_code == 2 and "uses no workspace" in r.stderr
    assert not (tmp_path / "s.json").exists() and not (tmp_path / "ws").exists()


def test_evaluating_some_conversations_warns_only_about_those(tmp_path):
    """Issue 24.11: `eval --conversations A` printed the loader's warnings about every other conversation too."""
    import contextlib
    import io

    from reme.cli.datasets import select_episodes
    from reme.datasets.synthetic import write_synthetic

    path = write_synthetic(tmp_path / "two.json", n_conversations=2, sessions=2, seed=3)
    data = json.loads(path.read_text())
    data[1]["qa"][0]["evidence"] = ["D:oops"]  # a malformed id in the second conversation only
    path.write_text(json.dumps(data))
    first, second = data[0]["sample_id"], data[1]["sample_id"]
    for chosen, warned in ((first, False), (second, True)):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            episodes = select_episodes(str(path), "auto", chosen, None)
        assert [e.episode_id for e in episodes] == [chosen]
        assert ("malformed evidence id" in err.getvalue()) is warned, err.getvalue()


def test_update_changes_a_memory_in_place(tmp_path):
    """Issue 24.15: `reme update MEMORY_ID` beside the service's PATCH and MCP's update_memory."""
    ws = str(tmp_path / "ws")
    r = runner.invoke(app, ["-w", ws, "add", "Alice lives in Lisbon", "-t", "user:alice", "--json", "-"])
    assert r.exit_code == 0, r.output
    memory_id = json.loads(r.stdout)[0]["memory_id"]
    r = runner.invoke(app, ["-w", ws, "update", memory_id, "--content", "Alice lives in Berlin", "--time",
                            "2025-02-01", "--metadata", '{"source": "chat"}', "--json", "-"])  # fmt: skip
    assert r.exit_code == 0, r.output
    node = json.loads(r.stdout)
    assert node["memory_id"] == memory_id and node["content"] == "Alice lives in Berlin"
    assert node["message_time"].startswith("2025-02-01") and node["metadata"]["source"] == "chat"
    r = runner.invoke(app, ["-w", ws, "search", "Where does Alice live?", "-t", "user:alice", "--json", "-"])
    assert json.loads(r.stdout)["results"][0]["content"] == "Alice lives in Berlin"
    assert runner.invoke(app, ["-w", ws, "update", memory_id]).exit_code == 2  # nothing to change
    assert runner.invoke(app, ["-w", ws, "update", "ffffffffffffffff", "--content", "x"]).exit_code == 2
    assert runner.invoke(app, ["-w", ws, "update", memory_id, "--metadata", "[1]"]).exit_code == 2


def test_progress_is_written_as_rate_limited_lines_when_stderr_is_not_a_terminal() -> None:
    """Under ``> log 2>&1`` a long job still says how far it got: a line every ``interval`` seconds and one at the
    end, with the count, the share, the time and the time left; short work writes nothing."""
    import io

    from reme.progress import progress_bar

    now = [0.0]
    out = io.StringIO()
    with progress_bar("train rank", 100, interval=10.0, stream=out, clock=lambda: now[0]) as advance:
        for step in range(100):
            now[0] = step * 0.5  # one step per half second: a line every 20 steps
            advance(1, status=f"val {step / 100:.2f}" if step % 10 == 0 else None)
        now[0] = 50.0
    lines = out.getvalue().splitlines()
    assert lines[0] == "train rank: 21/100 (21%), 10 s, about 38 s left, val 0.20"
    assert lines[1] == "train rank: 41/100 (41%), 20 s, about 29 s left, val 0.40"
    assert len(lines) == 5 and lines[-1] == "train rank: 100/100 (100%), 50 s, val 0.90"
    # short work writes nothing
    out = io.StringIO()
    with progress_bar("adding memories", 5, stream=out, clock=lambda: 0.0) as advance:
        advance(5)
    assert out.getvalue() == ""
    # a failure still leaves where it stopped
    out = io.StringIO()
    clock = iter([0.0, 4.0, 12.0, 13.0])
    with pytest.raises(RuntimeError), progress_bar("index", 10, stream=out, clock=lambda: next(clock)) as advance:
        advance(3)
        advance(1)
        raise RuntimeError("disk full")
    assert out.getvalue().splitlines() == [
        "index: 4/10 (40%), 12 s, about 18 s left",
        "index: 4/10 (40%), 13 s, about 20 s left",
    ]


def test_thread_count_precedence_and_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """--threads, then REME_THREADS, then the user's OMP_NUM_THREADS, else half the usable cores (1 to 8)."""
    from reme.errors import BadInputError
    from reme.threads import ENV, choose_threads, configure_process_threads, usable_cores

    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert choose_threads() == (max(1, min(8, usable_cores() // 2)), "default")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert choose_threads() == (3, "OMP_NUM_THREADS")
    monkeypatch.setenv(ENV, "2")
    assert choose_threads() == (2, ENV) and choose_threads(5) == (5, "--threads")
    import torch

    before = torch.get_num_threads()
    try:
        assert configure_process_threads(1) == 1 and torch.get_num_threads() == 1
        assert os.environ["OMP_NUM_THREADS"] == "1"
    finally:
        torch.set_num_threads(before)
    for bad in ("two", "0"):
        monkeypatch.setenv(ENV, bad)
        with pytest.raises(BadInputError, match=ENV):
            choose_threads()
    # the script refuses a bad setting before any work, exit 2
    env = {**os.environ, ENV: "zero"}
    done = subprocess.run([sys.executable, "-m", "reme.cli", "--help"], env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "REME_THREADS must be a whole number" in done.stderr
    r = runner.invoke(app, ["--threads", "0", "trajectories", "stats"])
    assert r.exit_code == 2 and "--threads" in r.output


def test_help_names_what_each_option_takes_and_its_examples_are_valid() -> None:
    """Issue 24.11: no ``<bool>`` / ``<str>`` in any command's --help (flags show nothing, values a name), and every
    option an epilog's example uses exists on its command."""
    import re

    import click
    import typer.main

    root = typer.main.get_command(app)

    def walk(group: click.Command, path: list[str]):
        yield path, group
        for name, sub in getattr(group, "commands", {}).items():
            yield from walk(sub, [*path, name])

    examples = 0
    for path, command in walk(root, []):
        r = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert r.exit_code == 0, (path, r.output)
        assert "<bool>" not in r.output and "<str>" not in r.output, (path, r.output)
        for example in (command.epilog or "").removeprefix("Examples:").split("|"):
            words = example.split()
            if not words:
                continue
            assert words[0] == "reme" and words[1 : 1 + len(path)] == path, (path, example)
            known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {
                o for p in root.params for o in p.opts
            }
            unknown = [w for w in words if re.match(r"^--?[a-z]", w) and w not in known and w != "-"]
            assert not unknown, (path, example, unknown)
            examples += 1
    assert examples >= 10


def test_evaluation_tables_keep_metric_names_whole_at_80_columns() -> None:
    """Issue 24.11: ``eval compaction``'s table cut ``kept_token_fraction`` at 80 columns."""
    from rich.console import Console

    from reme.cli.evaluate import results_table

    metrics = {"evidence_reachable": 0.81, "kept_token_fraction": 0.2, "budget_unmet": 0.0, "reward": 0.61,
               "compactions": 3.0, "summary_tokens": 120.0, "fact_recall_in_context": 0.5}  # fmt: skip
    results = {"heuristic": metrics, "default(compact-mlp-0123abcd)": metrics, "store-all": metrics}
    payload = {"format": "locomo", "queries": 40, "budget": 0.2, "results": results}
    console = Console(width=80, record=True)
    console.print(results_table(payload, "plain"))
    text = console.export_text()
    assert all(line and len(line) <= 80 for line in text.splitlines() if line.strip())
    for metric in metrics:
        assert any(line.lstrip("│ ").startswith(metric + " ") for line in text.splitlines()), (metric, text)
