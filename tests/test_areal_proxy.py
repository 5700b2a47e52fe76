"""The AReaL acceptance check on CPU: areal==1.0.4 (without its full dependency tree) in a separate virtual
environment, AReaL's own ``ArealOpenAI`` behind a loopback endpoint standing in for its proxy, a fake inference
engine with real token log-probabilities from a tiny transformers model, the workflow's ``run()`` pointed at it,
and the interactions exported and checked by AReaL's trajectory format check (``tests/areal_harness.py``).

The environment reuses this project's packages (torch, transformers, reme) through a ``.pth`` file and installs
only what AReaL's OpenAI client, trajectory export and config loader import. Skipped only when the package registry
cannot be reached, and it says so.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

from reme.policy.audit import verify
from reme.policy.trajectory import read_records

HERE = Path(__file__).resolve().parent
AREAL_IMPORTS = [
    "aiohttp", "colorlog", "tenacity", "flask", "torchdata", "lark", "uvloop", "hydra-core", "ray", "numba",
    "orjson", "einops", "aiofiles", "httpx", "swanlab==0.6.12", "trackio", "wandb", "tensorboardx", "tabulate",
]  # fmt: skip
NETWORK_ERRORS = ("Could not find a version", "No matching distribution", "Failed to establish", "Network is",
                  "Temporary failure in name resolution", "ConnectionError", "Max retries exceeded")  # fmt: skip


def _pip(python: Path, *args: str) -> None:
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", *args], capture_output=True, text=True)
    if done.returncode != 0:
        if any(marker in done.stderr for marker in NETWORK_ERRORS):
            pytest.skip(
                f"the package registry cannot be reached, so areal==1.0.4 cannot be installed: {done.stderr[-300:]}"
            )
        raise AssertionError(f"pip install {' '.join(args)} failed:\n{done.stderr[-2000:]}")


@pytest.fixture(scope="module")
def areal_python(tmp_path_factory) -> Path:
    env = tmp_path_factory.mktemp("areal-env")
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    python = env / "bin" / "python"
    ours = site.getsitepackages()[0]
    theirs = subprocess.run(
        [str(python), "-c", "import site; print(site.getsitepackages()[0])"], capture_output=True, text=True, check=True
    ).stdout.strip()
    Path(theirs, "reme_main.pth").write_text(f"import site; site.addsitedir({ours!r})\n", encoding="utf-8")
    _pip(python, "--no-deps", "areal==1.0.4")
    _pip(python, *AREAL_IMPORTS)
    return python


def test_areal_proxy_trains_the_writer_tokens_and_the_head_gets_the_reward(tmp_path, areal_python):
    from typer.testing import CliRunner

    from reme.cli import app
    from reme.datasets import generate_synthetic

    data = tmp_path / "synthetic.json"
    data.write_text(json.dumps(generate_synthetic(2, sessions=2, seed=3)), encoding="utf-8")
    experiment = tmp_path / "exp"
    written = CliRunner().invoke(
        app,
        ["train-policy", "--backend", "areal", "--decision", "write", "--dataset", str(data), "--out",
         str(experiment), "--model", "/models/tiny", "--dry-run"],
    )  # fmt: skip
    assert written.exit_code == 0, written.output
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "AREAL_CACHE_DIR": str(tmp_path / "ac")}
    done = subprocess.run(
        [str(areal_python), str(HERE / "areal_harness.py"), str(work), str(experiment)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("HARNESS ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    out = json.loads(lines[-1][len("HARNESS ") :])

    # the writer's tokens, their log-probabilities and the episode reward reached AReaL's export
    produced, interactions = out["produced"], out["interactions"]
    assert len(produced) == len(interactions) == 3  # write_file, its final answer, the second session's [SILENT]
    for item in interactions:
        assert item["generated"] > 0 and item["reward"] == pytest.approx(out["reward"], abs=1e-6)
    assert sorted(r["generated"] for r in interactions) == sorted(p["tokens"] for p in produced)
    assert sorted(r["logprob_sum"] for r in interactions) == pytest.approx(
        sorted(p["logprob"] for p in produced), rel=1e-4
    )
    assert out["format_ok"] and out["tensor_format_ok"]
    assert out["config"] == {
        "class": "ReMeWriterConfig", "workflow": "reme.integrations.areal.agent.ReMeWriterAgent", "n_samples": 8,
        "decoupled": True, "reward_norm": None,
    }  # fmt: skip

    # the head's decisions of that episode reached the sink with the reward attached, and the trainer consumes them
    sink = work / "sink"
    records = [e.record for e in read_records(sink / "trajectories") if e.record is not None]
    ranks = [r for r in records if r.type == "decision" and r.kind == "rank" and r.mode == "sample"]
    rewards = [r for r in records if r.type == "reward"]
    assert ranks and all(r.group_id == "g1" and r.logprob is not None for r in ranks)
    assert {r.decision_id for r in rewards} == {r.decision_id for r in ranks}
    assert verify(sink).ok
    trained = CliRunner().invoke(
        app, ["train-policy", "--from-trajectories", str(sink), "--out", str(tmp_path / "head"), "--steps", "3"]
    )
    assert trained.exit_code == 0, trained.output
    assert (tmp_path / "head" / "policy.json").is_file()
