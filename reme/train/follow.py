"""``reme train-policy --from-trajectories WS --follow``: keep consuming a growing trajectory log and publish a
new head version whenever new rewarded decisions arrived.

Each round trains the current head (not a fresh one) for ``steps`` PPO steps on every logged sample so far,
writes it to ``OUT`` (``policy.safetensors`` and ``policy.json`` replaced together, so a reader sees one
version or the next, never a mix) and appends ``{"round", "version", "samples", "time"}`` to
``OUT/versions.jsonl``; rollout workers hot-reload ``OUT`` when its version changes.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reme.policy.rank import MLPRankPolicy
from reme.schema import utc_now
from reme.train.logs import LoggedRankSample, logged_rank_samples
from reme.train.rank_ppo import PPOConfig, train_ppo


def publish(policy: MLPRankPolicy, out: Path, training_data_hash: str = "") -> str:
    """Write the head to ``out`` atomically (a temporary folder whose files replace the old ones)."""
    tmp = out.with_name(f".{out.name}.publish-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    version = policy.save(tmp, training_data_hash=training_data_hash)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("policy.safetensors", "policy.json"):  # weights first: policy.json names the version
        os.replace(tmp / name, out / name)
    shutil.rmtree(tmp, ignore_errors=True)
    return version


def follow(
    source: str | Path,
    out: str | Path,
    config: PPOConfig,
    poll_seconds: float = 30.0,
    max_rounds: int | None = None,
    min_new: int = 1,
    load: Callable[[str | Path], list[LoggedRankSample]] = logged_rank_samples,
    sleep: Callable[[float], Any] = time.sleep,
    on_round: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train and publish a new version each time at least ``min_new`` new samples are in the log."""
    out = Path(out)
    policy: MLPRankPolicy | None = None
    seen = 0
    rounds: list[dict[str, Any]] = []
    while max_rounds is None or len(rounds) < max_rounds:
        samples = load(source)
        if len(samples) - seen < min_new:
            sleep(poll_seconds)
            continue
        result = train_ppo(samples, config, policy=policy)
        policy = result.policy
        version = publish(policy, out)
        seen = len(samples)
        entry = {"round": len(rounds) + 1, "version": version, "samples": seen, "time": utc_now()}
        with (out / "versions.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
        rounds.append(entry)
        if on_round is not None:
            on_round(entry)
    return rounds
