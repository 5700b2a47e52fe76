"""The README's examples run as written (issue 24): its first Python block, verbatim, and its command-line block's
workspace commands through the real ``reme`` entry point, with the ids the earlier commands printed put in place of
``DECISION_ID`` / ``MEMORY_ID``. Lines that need what a test machine lacks (a checkpoint of your own, ``~/.reme``,
the 8-minute recipe, LoCoMo) are named in ``NOT_RUN`` and checked to be still in the README, so a new line is run
by default."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
NOT_RUN = (
    "policy activate CHECKPOINT_DIR",  # needs a checkpoint the reader trained
    "import --from reme ~/.reme",  # needs the reader's ReMe data
    "locomo_train.json",  # LoCoMo is used by path from ../shared, not on every machine (benchmarks cover it)
    "runs/write-compact-locomo",  # made by the 8-minute recipe training/recipes/write-compact-locomo.sh
)


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def _commands(block: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", block)  # continuation lines
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip().startswith("reme ")]


def test_the_readme_python_example_runs_as_written(tmp_path):
    code = _blocks("python")[0]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines and "Alice moved to Lisbon" in lines[0]  # the first hit of "Where does Alice live now?"


def test_the_readme_commands_run_as_written(tmp_path):
    block = next(b for b in _blocks("bash") if "reme --workspace ws add" in b)
    commands = _commands(block)
    for skipped in NOT_RUN:
        assert any(skipped in c for c in commands), f"{skipped!r} is no longer in the README: drop it from NOT_RUN"
    (tmp_path / "memories.jsonl").write_text(
        '{"text": "Alice is allergic to peanuts.", "target": "user:alice"}\n{"text": "Bob likes jazz."}\n',
        encoding="utf-8",
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("REME_WORKSPACE", None)
    reme = [sys.executable, "-m", "reme.cli"]
    ids: dict[str, str] = {}
    ran = 0
    for command in commands:
        if any(skipped in command for skipped in NOT_RUN):
            continue
        for name, value in ids.items():
            command = command.replace(name, value)
        done = subprocess.run(reme + shlex.split(command)[1:], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}\n{done.stderr[-2000:]}"
        ran += 1
        if " search " in command:
            ids["DECISION_ID"] = json.loads(done.stdout)["decision_id"]
        if command.endswith('add "Alice moved to Lisbon in May." --target user:alice --time 2024-05-08'):
            ids["MEMORY_ID"] = done.stdout.strip()
    assert ran >= 10 and {"DECISION_ID", "MEMORY_ID"} <= set(ids)


def test_every_cli_md_synopsis_names_options_its_command_has():
    """docs/cli.md's synopses (``reme add TEXT [--target T] ...``) name commands and options that exist: a renamed or
    removed option fails here instead of in a reader's shell. (Its runnable examples are the README's, above.)"""
    import typer.main

    from reme.cli import app

    root = typer.main.get_command(app)
    text = (README.parent / "docs" / "cli.md").read_text(encoding="utf-8")
    text = text.split("## ReMe 0.4's form")[0]  # that section's `reme start` / `reme <job> k=v` is job_cli's grammar
    synopses = [
        line.strip()
        for _, block in re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S)
        for line in block.splitlines()
        if line.strip().startswith("reme ")
    ]
    assert len(synopses) >= 25
    global_options = {o for p in root.params for o in p.opts}
    for synopsis in synopses:
        words = synopsis.split()[1:]
        command = root
        while words and words[0] in getattr(command, "commands", {}):
            command = command.commands[words.pop(0)]
        assert command is not root, synopsis
        known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | global_options
        named = {m for w in words for m in re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", w)}
        assert named <= known, (synopsis, sorted(named - known))
