"""Tune the novelty/length write heuristic once: grid over its novelty weight on training conversations.

Score: mean recall@10 over several storage budgets (greedy rollouts, so the temperature plays no part). The winner
ships as ``reme.policy.write.NOVELTY_LENGTH_DEFAULTS``.

    python benchmarks/tune_write_heuristic.py --dataset ../shared/data/locomo/locomo_train.json \
        --conversations conv-26,conv-30,conv-41,conv-42
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from reme.envs.write import WriteEnvConfig, evaluate_write, prepare_write_episodes
from reme.policy.write import NoveltyLengthWritePolicy
from reme.train.episodes import load_episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--conversations", default="conv-26,conv-30,conv-41,conv-42")
    parser.add_argument("--budgets", default="0.1,0.2,0.3,0.5")
    args = parser.parse_args()
    episodes = prepare_write_episodes(load_episodes([args.dataset], set(args.conversations.split(","))))
    budgets = [float(b) for b in args.budgets.split(",")]
    grid = []
    for weight in np.round(np.linspace(0.0, 1.0, 11), 2):
        policy = NoveltyLengthWritePolicy(float(weight))
        recalls = [
            evaluate_write(episodes, {"h": policy}, WriteEnvConfig(budget=b))["results"]["h"]["recall@10"]
            for b in budgets
        ]
        grid.append({"novelty_weight": float(weight), "recall@10": round(float(np.mean(recalls)), 4)})
    best = max(grid, key=lambda row: row["recall@10"])
    print(json.dumps({"conversations": args.conversations, "budgets": budgets, "best": best, "grid": grid}, indent=1))


if __name__ == "__main__":
    main()
