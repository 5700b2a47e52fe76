"""Nested cross-validation of compaction trainer settings on conversations that are not the test ones.

    python benchmarks/cv_compaction.py --dataset ../shared/data/locomo/locomo_train.json \\
        --conversations conv-26,conv-30,conv-41,conv-42 --set hindsight_rounds=1 --set hindsight_rounds=2

For each fold, one conversation is held out for scoring, the next (cyclically) picks the checkpoint, and the
remaining ones train. Every ``--set`` is one candidate setting (``field=value`` of ``CompactGRPOConfig``; several
fields joined with ``;``); each is trained on every fold with the same seeds, and its held-out evidence-reachable
margin over ReMe's tail reserve is reported per fold and on average. The test conversations of the recipe are
never used here. Prints JSON.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import tempfile
from dataclasses import replace
from typing import Any

from reme.datasets import load_dataset
from reme.envs.compaction import evaluate_compaction, load_compact_policy, prepare_compaction_episodes
from reme.policy.compact import HeuristicCompactPolicy
from reme.train.compact_grpo import CompactGRPOConfig, train_compact_policy


def parse_setting(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, _, value = part.partition("=")
        try:
            out[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            out[key.strip()] = value.strip()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--conversations", default="conv-26,conv-30,conv-41,conv-42")
    parser.add_argument("--budget", type=float, default=0.2)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--set", dest="settings", action="append", default=[], help="field=value[;field=value]")
    parser.add_argument("--json", help="Also write the JSON here")
    args = parser.parse_args()
    wanted = [c.strip() for c in args.conversations.split(",") if c.strip()]
    episodes, _ = load_dataset(args.dataset)
    by_id = {ep.episode_id: ep for ep in episodes}
    missing = [c for c in wanted if c not in by_id]
    if missing or len(wanted) < 3:
        parser.error(f"need at least 3 known conversations, missing {missing}")
    prepared = dict(zip(wanted, prepare_compaction_episodes([by_id[c] for c in wanted], show_progress=False)))
    settings = [parse_setting(s) for s in (args.settings or [""])]
    seeds = [int(s) for s in args.seeds.split(",")]
    base = CompactGRPOConfig(budget=args.budget)
    env = base.env()
    results: list[dict[str, Any]] = []
    for setting in settings:
        folds = []
        for i, held in enumerate(wanted):
            val = wanted[(i + 1) % len(wanted)]
            train = [c for c in wanted if c not in (held, val)]
            for seed in seeds:
                config = replace(base, seed=seed, **setting)
                with tempfile.TemporaryDirectory() as out:
                    train_compact_policy([prepared[c] for c in train], [prepared[val]], out, config)
                    labels = {"learned": load_compact_policy(out), "heuristic": HeuristicCompactPolicy()}
                    scores = evaluate_compaction([prepared[held]], labels, env)["results"]
                learned = scores["learned"]["evidence_reachable"]
                tail = scores["heuristic"]["evidence_reachable"]
                folds.append({"held_out": held, "val": val, "seed": seed, "learned": learned, "tail": tail,
                              "margin": round(learned - tail, 4)})  # fmt: skip
                print(f"{setting} held-out {held} seed {seed}: {learned:.3f} vs {tail:.3f}", file=sys.stderr)
        mean = sum(f["margin"] for f in folds) / len(folds)
        results.append({"setting": setting, "mean_margin": round(mean, 4), "folds": folds})
    doc = {"benchmark": "cv-compaction", "budget": args.budget, "conversations": wanted, "results": results}
    text = json.dumps(doc, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
