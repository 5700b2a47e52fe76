"""``reme train-policy --backend areal``: write a complete AReaL 1.0.4 experiment that trains the memory writer with
GRPO through AReaL's OpenAI proxy, and launch it with the local scheduler.

The experiment directory holds:

- ``config.yaml``: AReaL's PPO config with GRPO settings (``gconfig.n_samples`` = the group size, decoupled loss
  with token-level rejection sampling, ``reward_norm: null`` and batch advantage normalisation: a multi-turn
  writer exports a variable number of samples per episode, so AReaL's fixed-size group normalisation would
  misalign), the workflow path ``reme.integrations.areal.agent.ReMeWriterAgent`` and its plain-value arguments;
- ``train.py``: loads that config with AReaL's ``load_expr_config`` into a ``PPOConfig`` subclass that adds the
  workflow fields, and runs ``PPOTrainer.train(workflow=..., workflow_kwargs=...)``;
- ``episodes.jsonl``: one row per episode, ``{"episode": <Episode JSON>, "group_id": <episode id>}``;
- ``sink/``: the trajectory sink the rollout workers append the heads' decisions to (see ``agent``);
- ``README.md``: how to run it, and the head's side of the loop.

Nothing here imports areal: the launch checks that it is importable (and that a GPU is present) before starting.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reme.errors import BadInputError, ReMeError

__all__ = ["AReaLExperiment", "episode_rows", "launch", "write_experiment"]

AREAL_VERSION = "1.0.4"


@dataclass
class AReaLExperiment:
    """Settings of the generated experiment (plain values: they go into YAML)."""

    model: str = "Qwen/Qwen3-1.7B"
    """The writer model AReaL trains (a hub id or a local path on the training nodes). ``reme train-policy
    --backend areal`` gives the converted SmolLM2 checkpoint (``reme.llm.local_model``) unless ``--model`` is given."""
    episode: str = "gate"
    """The workflow's episode: ``gate`` (the shared writer episode, ``reme.envs.writer_episode``, what the local
    trainer runs) or ``react`` (ReMeLight's ReAct writer over whole sessions)."""
    window: int = 4
    """``gate``: candidates the writer decides per rollout."""
    windows_per_episode: int = 8
    """``gate``: rows per conversation in ``episodes.jsonl``, each a seeded window start (a row's rollouts form
    one GRPO group and share its start)."""
    budget: float = 0.3
    note_tokens: int = 12
    experiment_name: str = "reme-writer-grpo"
    trial_name: str = "trial0"
    group_size: int = 8
    """GRPO group size (``gconfig.n_samples``): rollouts of the same episode."""
    batch_size: int = 8
    """Episodes per training step (``train_dataset.batch_size``)."""
    n_gpus: int = 8
    """GPUs on the node: half generate (SGLang), half train (FSDP)."""
    max_new_tokens: int = 1024
    temperature: float = 1.0
    max_head_offpolicyness: int = 2
    """Rollout staleness bound in weight versions (0: synchronous)."""
    total_train_epochs: int = 1
    fileroot: str = "/tmp/areal"
    k: int = 10
    memory_cost: float = 0.2
    answer_base_url: str = ""
    """A frozen answering model's endpoint (never AReaL's proxy); empty: the lexical answer-recall reward."""
    answer_model: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _yaml(experiment: AReaLExperiment, out: Path) -> dict[str, Any]:
    gen = max(1, experiment.n_gpus // 2)
    train = max(1, experiment.n_gpus - gen)
    return {
        "experiment_name": experiment.experiment_name,
        "trial_name": experiment.trial_name,
        "seed": 1,
        "total_train_epochs": experiment.total_train_epochs,
        "tokenizer_path": "${actor.path}",
        "workflow": "reme.integrations.areal.agent.ReMeWriterAgent",
        "sink_dir": str(out / "sink"),
        "head_dir": str(out / "head"),
        "k": experiment.k,
        "memory_cost": experiment.memory_cost,
        "answer_base_url": experiment.answer_base_url,
        "answer_model": experiment.answer_model,
        "episode": experiment.episode,
        "window": experiment.window,
        "budget": experiment.budget,
        "note_tokens": experiment.note_tokens,
        "cluster": {
            "n_nodes": 1,
            "n_gpus_per_node": experiment.n_gpus,
            "fileroot": experiment.fileroot,
            "name_resolve": {"type": "nfs", "nfs_record_root": f"{experiment.fileroot}/name_resolve"},
        },
        "scheduler": {"type": "local"},
        "rollout": {
            "backend": f"sglang:d{gen}",
            "experiment_name": "${experiment_name}",
            "trial_name": "${trial_name}",
            "max_concurrent_rollouts": 64,
            "queue_size": None,
            "consumer_batch_size": "${train_dataset.batch_size}",
            "max_head_offpolicyness": experiment.max_head_offpolicyness,
            "enable_rollout_tracing": False,
            "agent": {
                "mode": "inline",
                "export_style": "individual",
                "turn_discount": 1.0,
                "tool_call_parser": "qwen25",
                "reasoning_parser": "qwen3",
            },
        },
        "gconfig": {
            "n_samples": experiment.group_size,
            "min_new_tokens": 0,
            "max_new_tokens": experiment.note_tokens + 4 if experiment.episode == "gate" else experiment.max_new_tokens,
            "greedy": False,
            "temperature": experiment.temperature,
        },
        "actor": {
            "backend": f"fsdp:d{train}",
            "experiment_name": "${experiment_name}",
            "trial_name": "${trial_name}",
            "path": experiment.model,
            "init_from_scratch": False,
            "disable_dropout": True,
            "gradient_checkpointing": True,
            "dtype": "bfloat16",
            "mb_spec": {"max_tokens_per_mb": 16384},
            "optimizer": {
                "type": "adam",
                "lr": 1.0e-6,
                "weight_decay": 0.01,
                "beta1": 0.9,
                "beta2": 0.999,
                "eps": 1.0e-8,
                "lr_scheduler_type": "constant",
                "gradient_clipping": 1.0,
                "warmup_steps_proportion": 0.001,
            },
            "eps_clip": 0.2,
            "temperature": "${gconfig.temperature}",
            "reward_scaling": 1.0,
            "reward_bias": 0.0,
            "kl_ctl": 0.0,
            "ppo_n_minibatches": 1,
            "recompute_logprob": True,
            "use_decoupled_loss": True,
            "rejection_sampling": {"level": "token", "action": "mask", "metric": "ratio", "upper": 5.0},
            "reward_norm": None,
            "adv_norm": {"mean_level": "batch", "std_level": "batch"},
            "weight_update_mode": "xccl",
        },
        "train_dataset": {
            "batch_size": experiment.batch_size,
            "shuffle": True,
            "pin_memory": True,
            "path": str(out / "episodes.jsonl"),
            "type": "rl",
        },
        "saver": {
            "experiment_name": "${experiment_name}",
            "trial_name": "${trial_name}",
            "fileroot": "${cluster.fileroot}",
            "freq_epochs": 1,
            "freq_steps": None,
            "freq_secs": None,
        },
        "stats_logger": {
            "experiment_name": "${experiment_name}",
            "trial_name": "${trial_name}",
            "fileroot": "${cluster.fileroot}",
        },
        "evaluator": {
            "experiment_name": "${experiment_name}",
            "trial_name": "${trial_name}",
            "fileroot": "${cluster.fileroot}",
            "freq_epochs": None,
            "freq_steps": None,
            "freq_secs": None,
        },
        "recover": {
            "mode": "disabled",
            "experiment_name": "${experiment_name}",
            "trial_name": "${trial_name}",
            "fileroot": "${cluster.fileroot}",
        },
        **experiment.extra,
    }


TRAIN_SCRIPT = '''"""AReaL {version} GRPO for the reme memory writer (written by `reme train-policy --backend areal`).

Run inside AReaL's environment, where this package (reme) is installed too:
    python train.py --config config.yaml [hydra overrides, e.g. actor.path=/models/Qwen3-1.7B]
"""

import sys
from dataclasses import dataclass, field

from areal.api.cli_args import PPOConfig, load_expr_config


@dataclass
class ReMeWriterConfig(PPOConfig):
    """AReaL's PPO config plus the memory workflow and its arguments (plain values, sent to every worker)."""

    workflow: str = field(default="reme.integrations.areal.agent.ReMeWriterAgent")
    sink_dir: str = field(default="")
    head_dir: str = field(default="")
    k: int = field(default=10)
    memory_cost: float = field(default=0.2)
    answer_base_url: str = field(default="")
    answer_model: str = field(default="")
    episode: str = field(default="gate")
    window: int = field(default=4)
    budget: float = field(default=0.3)
    note_tokens: int = field(default=12)


def workflow_kwargs(config: ReMeWriterConfig) -> dict:
    return {{
        "sink_dir": config.sink_dir,
        "head_dir": config.head_dir,
        "model": config.actor.path,
        "k": config.k,
        "memory_cost": config.memory_cost,
        "answer_base_url": config.answer_base_url,
        "answer_model": config.answer_model,
        "episode": config.episode,
        "window": config.window,
        "budget": config.budget,
        "note_tokens": config.note_tokens,
        "temperature": config.gconfig.temperature,
    }}


def load(argv: list[str]) -> ReMeWriterConfig:
    """The experiment's config, parsed by AReaL's own loader (``--config config.yaml`` plus hydra overrides)."""
    config, _ = load_expr_config(argv, ReMeWriterConfig)
    return config


def main(argv: list[str]) -> None:
    from areal import PPOTrainer
    from datasets import Dataset

    config = load(argv)
    episodes = Dataset.from_json(config.train_dataset.path)
    with PPOTrainer(config, train_dataset=episodes) as trainer:
        trainer.train(workflow=config.workflow, workflow_kwargs=workflow_kwargs(config))


if __name__ == "__main__":
    main(sys.argv[1:])
'''

README = """# reme writer GRPO on AReaL {version}

Written by `reme train-policy --backend areal`. Two learners share one reward:

- **AReaL** trains the memory **writer** with GRPO through its OpenAI proxy: `python train.py --config config.yaml`
  in AReaL's environment (areal=={version}, with this package installed). `episode: gate` (the default) runs the
  episode that `reme train-policy --decision writer --backend local` runs on a CPU (`reme.envs.writer_episode`: the
  write gate decides a window of turns from each row's `start`, store or skip and a note); `episode: react` runs
  ReMeLight's ReAct writer (`summary_memory`) over whole sessions.
- **reme** trains the **rank head** from the decisions the rollout workers append to `sink/`:
  `reme train-policy --from-trajectories {sink} --follow --out {head}`. The workers hot-reload `head/` when a new
  version is published. The two run at the same time (a joint schedule); the head's staleness is bounded by the
  trainer's publishing period, and its decoupled-PPO loss weights stale samples by their behaviour probability.

Online mode: with `rollout.agent.mode: online` AReaL exposes a gateway instead of calling the workflow; drive the
episodes yourself (start a session, point ReMeLight's `LLM_BASE_URL` / `LLM_API_KEY` at the gateway with the
session key, run `summary_memory`, then set the episode's reward and end the session).
"""


def episode_rows(episodes: Sequence[Any], experiment: AReaLExperiment, seed: int = 0) -> list[dict[str, Any]]:
    """``episodes.jsonl``'s rows: one per conversation (``react``), or ``windows_per_episode`` per conversation, each
    with a seeded window start over its turns (``gate``)."""
    import random

    rows: list[dict[str, Any]] = []
    for ep in episodes:
        data = ep.model_dump(mode="json")
        if experiment.episode != "gate":
            rows.append({"episode": data, "group_id": ep.episode_id})
            continue
        draw = random.Random(f"{seed}:{ep.episode_id}")
        last = max(0, len(ep.turns) - experiment.window)
        for w in range(experiment.windows_per_episode):
            rows.append({"episode": data, "group_id": f"{ep.episode_id}:w{w}", "start": draw.randint(0, last)})
    return rows


def write_experiment(episodes: Sequence[Any], out: str | Path, experiment: AReaLExperiment) -> dict[str, str]:
    """Write the experiment into ``out`` (created; existing generated files are replaced); returns the paths."""
    import yaml

    if not episodes:
        raise BadInputError("no episodes to train on")
    root = Path(out).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    (root / "sink").mkdir(exist_ok=True)
    rows = root / "episodes.jsonl"
    with rows.open("w", encoding="utf-8") as fh:
        for row in episode_rows(episodes, experiment):
            fh.write(json.dumps(row) + "\n")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(_yaml(experiment, root), sort_keys=False), encoding="utf-8")
    script = root / "train.py"
    script.write_text(TRAIN_SCRIPT.format(version=AREAL_VERSION), encoding="utf-8")
    readme = root / "README.md"
    readme.write_text(README.format(version=AREAL_VERSION, sink=root / "sink", head=root / "head"), encoding="utf-8")
    return {"config": str(config), "train": str(script), "episodes": str(rows), "readme": str(readme)}


def launch(out: str | Path, overrides: Sequence[str] = ()) -> int:
    """Start ``train.py`` with the local scheduler; refuses (``ReMeError``) without areal or without a GPU."""
    if importlib.util.find_spec("areal") is None:
        raise ReMeError(
            f"areal is not importable here: install areal=={AREAL_VERSION} in its own environment (its image or a "
            "virtual environment with its torch<2.11 / transformers<=5.3 pins) together with this package, and run "
            "there; or use --dry-run to only write the experiment"
        )
    try:
        import torch

        has_gpu = bool(torch.cuda.is_available())
    except Exception:
        has_gpu = False
    if not has_gpu:
        raise ReMeError("AReaL training needs NVIDIA GPUs and none is visible here; use --dry-run to write the files")
    root = Path(out).expanduser().resolve()
    python = shutil.which("python") or sys.executable
    command = [python, str(root / "train.py"), "--config", str(root / "config.yaml"), "scheduler.type=local"]
    return subprocess.call([*command, *overrides], cwd=root)
