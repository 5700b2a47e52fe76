"""Does a learned rank head hold up on a style of conversation it was not trained on? (issue 20)

Trains rank heads with GRPO (``reme.train.rank_grpo``) on the project's synthetic styles only, in several designs,
and scores each against ReMe's fusion heuristic in the same run on held-out files of every style: chat (LoCoMo-like),
assistant, LongMemEval-shaped (first-person questions, long assistant replies, evidence in user turns), the agent
traces style when this version has it, and the shared LoCoMo file when ``--locomo`` names it (real conversations,
evaluation only). Designs:

- ``free``: the MLP + linear head (``MLPRankPolicy``), the last step kept (train-policy's behaviour before this
  benchmark);
- ``residual``: the bounded residual on the fused score (``MLPRankPolicy(residual_bound=B)``);
- either, with the kept step chosen on validation files of the training styles by the worst-style margin
  (``reme.train.rank_run.WorstStyleSelection``).

    python benchmarks/rank_robustness.py --locomo ../shared/data/locomo/locomo_train.json --out results.json

Prints one JSON object: per design, per evaluation style, the heuristic's and the head's recall@1 and recall@10
and the differences. Candidate features are cached under ``--cache`` (policy-independent).
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from pathlib import Path
from typing import Any

from reme.datasets import load_dataset
from reme.datasets.longmemeval_synth import write_longmemeval_synthetic
from reme.datasets.synthetic.generator import STYLES, write_synthetic
from reme.train.rank_data import build_examples, evaluate_scores
from reme.train.rank_grpo import GRPOConfig, policy_scores, train_grpo
from reme.train.rank_run import WorstStyleSelection, heuristic_metrics

# (kind, style, conversations or questions, sessions, seed); training seeds 11-13, validation 14-16, evaluation 3 and
# 100+: the same split as training/recipes/default-policies.sh
FILES: dict[str, tuple[str, str, int, int, int]] = {
    "train-chat": ("locomo", "chat", 12, 8, 11),
    "train-assistant": ("locomo", "assistant", 8, 8, 12),
    "train-longmemeval": ("longmemeval", "", 40, 12, 13),
    "val-chat": ("locomo", "chat", 4, 8, 14),
    "val-assistant": ("locomo", "assistant", 4, 8, 15),
    "val-longmemeval": ("longmemeval", "", 30, 12, 16),
    "eval-chat": ("locomo", "chat", 4, 8, 101),
    "eval-assistant": ("locomo", "assistant", 4, 8, 102),
    "eval-longmemeval": ("longmemeval", "", 40, 20, 3),
    "eval-agent": ("locomo", "agent", 4, 8, 104),
}

DESIGNS: dict[str, dict[str, Any]] = {
    "free, chat": {"train": ["chat"], "residual_bound": None, "select": False},
    "free, chat+assistant": {"train": ["chat", "assistant"], "residual_bound": None, "select": False},
    "residual B=1, chat": {"train": ["chat"], "residual_bound": 1.0, "select": False},
    "residual B=1, chat+assistant": {"train": ["chat", "assistant"], "residual_bound": 1.0, "select": False},
    "free, 3 styles, selected": {"train": ["chat", "assistant", "longmemeval"], "residual_bound": None, "select": True},
    "residual B=1, 3 styles, selected": {
        "train": ["chat", "assistant", "longmemeval"],
        "residual_bound": 1.0,
        "select": True,
    },
    "residual B=2, 3 styles, selected": {
        "train": ["chat", "assistant", "longmemeval"],
        "residual_bound": 2.0,
        "select": True,
    },
}


def episodes_of(name: str, cache: Path, locomo: str | None = None) -> list[Any]:
    """The episodes of one of ``FILES`` (generated into ``cache`` when missing), or of the LoCoMo file."""
    if name == "eval-locomo":
        path = Path(str(locomo))
    else:
        kind, style, n, sessions, seed = FILES[name]
        path = cache / f"{name}.json"
        if not path.is_file() and kind == "longmemeval":
            write_longmemeval_synthetic(path, n_questions=n, seed=seed, haystack_sessions=sessions)
        elif not path.is_file():
            write_synthetic(path, n_conversations=n, sessions=sessions, seed=seed, style=style)
    episodes, _ = load_dataset(str(path))
    return list(episodes)


def examples_of(name: str, cache: Path, locomo: str | None = None) -> list[Any]:
    """The rank examples of one file (generated into ``cache`` first), cached as a pickle beside it."""
    cached = cache / f"{name}.pkl"
    if cached.is_file():
        with cached.open("rb") as f:
            return list(pickle.load(f))
    examples = build_examples(episodes_of(name, cache, locomo))
    tmp = cached.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(examples, f)
    tmp.replace(cached)
    return examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locomo", help="the shared LoCoMo file (evaluation only)")
    parser.add_argument("--cache", default=".cache/rank-robustness")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--design", action="append", help="a design name, repeatable (default: all)")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    evals = [n for n in FILES if n.startswith("eval-") and (FILES[n][1] in STYLES or FILES[n][0] == "longmemeval")]
    if args.locomo:
        evals.append("eval-locomo")
    eval_sets = {name[5:]: examples_of(name, cache, args.locomo) for name in evals}
    heuristic = {style: heuristic_metrics(examples) for style, examples in eval_sets.items()}
    unknown = [d for d in args.design or [] if d not in DESIGNS]
    if unknown:
        parser.error(f"unknown design {unknown[0]!r}: use one of {', '.join(map(repr, DESIGNS))}")
    designs = DESIGNS if not args.design else {k: DESIGNS[k] for k in args.design}
    report: dict[str, Any] = {"steps": args.steps, "seed": args.seed, "heuristic": heuristic, "designs": {}}
    for label, design in designs.items():
        train = [ex for style in design["train"] for ex in examples_of(f"train-{style}", cache)]
        selection = None
        if design["select"]:
            selection = WorstStyleSelection({s: examples_of(f"val-{s}", cache) for s in design["train"]})
        config = GRPOConfig(
            steps=args.steps, group_size=32, reward="ndcg", init_temperature=0.2, seed=args.seed,
            residual_bound=design["residual_bound"],
        )  # fmt: skip
        started = time.perf_counter()
        result = train_grpo(train, config, selection)
        kept = selection.restore(result.policy) if selection is not None else -1
        row: dict[str, Any] = {
            "trained_on": design["train"],
            "seconds": round(time.perf_counter() - started, 1),
            "kept_step": result.validation[kept]["step"] if kept >= 0 else args.steps,
        }
        for style, examples in eval_sets.items():
            mine = evaluate_scores(examples, policy_scores(result.policy, examples))
            base = heuristic[style]
            row[style] = {
                "recall@1": mine["recall@1"],
                "recall@10": mine["recall@10"],
                "d_recall@1": round(mine["recall@1"] - base["recall@1"], 4),
                "d_recall@10": round(mine["recall@10"] - base["recall@10"], 4),
            }
        report["designs"][label] = row
        print(json.dumps({label: row}), flush=True)
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
