"""Recall against storage budget for each write policy, and evidence reachable against context budget for each
compaction policy, on held-out conversations; prints JSON and draws both curves.

    python benchmarks/bench_budgets.py --dataset ../shared/data/locomo/locomo_train.json \
        --conversations conv-43,conv-44 --write-policy runs/write --compact-policy runs/compact \
        --out-json benchmarks/results/budgets-locomo.json --plot-dir docs

Every policy of a curve is evaluated in the same run on the same conversations: the baselines are ``heuristic``,
``random`` and ``store-all`` (ReMe's add rule, storing until the budget is spent) for writing, and ``heuristic``
(ReMe's tail reserve) for compaction. Without ``--dataset`` a synthetic set is generated (a smoke run).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BUDGETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _plot(curves: dict[str, list[float]], budgets: list[float], ylabel: str, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, values in curves.items():
        style = "-o" if label not in ("novelty-length", "random", "store-all") else "--"
        ax.plot(budgets, values, style, markersize=3, label=label)
    ax.set_xlabel("budget (fraction)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--dataset", help="LoCoMo / LongMemEval JSON (default: generated synthetic conversations)")
    parser.add_argument("--conversations", help="Evaluate on these ids only (comma-separated): the held-out ones")
    parser.add_argument("--write-policy", action="append", default=[], help="A write checkpoint dir; repeatable")
    parser.add_argument("--compact-policy", action="append", default=[], help="A compact checkpoint dir; repeatable")
    parser.add_argument("--budgets", default=",".join(str(b) for b in BUDGETS))
    parser.add_argument("--text-format", default="dated")
    parser.add_argument("--out-json", help="Also write the JSON here")
    parser.add_argument("--plot-dir", help="Write write_budget_curve.png and compaction_budget_curve.png here")
    args = parser.parse_args()

    from reme.datasets import generate_synthetic, parse_locomo
    from reme.envs.compaction import (
        CompactionEnvConfig,
        evaluate_compaction,
        load_compact_policy,
        prepare_compaction_episodes,
    )
    from reme.envs.write import WriteEnvConfig, evaluate_write, load_write_policy, prepare_write_episodes
    from reme.train.episodes import load_episodes

    budgets = [float(b) for b in args.budgets.split(",")]
    wanted = {c.strip() for c in (args.conversations or "").split(",") if c.strip()} or None
    if args.dataset:
        episodes = load_episodes([args.dataset], wanted)
        source = args.dataset
    else:
        episodes, _ = parse_locomo(generate_synthetic(2, sessions=6, seed=7), "synthetic")
        source = "synthetic (generate_synthetic(2, sessions=6, seed=7))"
    started = time.perf_counter()
    write_eps = prepare_write_episodes(episodes, text_format=args.text_format)
    compact_eps = prepare_compaction_episodes(episodes, text_format=args.text_format)
    write_policies: dict[str, Any] = {b: load_write_policy(b) for b in ("novelty-length", "random", "store-all")}
    for spec in args.write_policy:
        write_policies[f"learned:{Path(spec).name}"] = load_write_policy(spec)
    compact_policies: dict[str, Any] = {"heuristic": load_compact_policy("heuristic")}
    for spec in args.compact_policy:
        compact_policies[f"learned:{Path(spec).name}"] = load_compact_policy(spec)

    write_rows = {}
    compact_rows = {}
    for budget in budgets:
        write_rows[str(budget)] = evaluate_write(write_eps, write_policies, WriteEnvConfig(budget=budget))["results"]
        env = CompactionEnvConfig(budget=budget, text_format=args.text_format)
        compact_rows[str(budget)] = evaluate_compaction(compact_eps, compact_policies, env)["results"]
        print(f"budget {budget}: done", file=sys.stderr)
    payload = {
        "benchmark": "budgets",
        "dataset": source,
        "conversations": sorted(e.episode_id for e in episodes),
        "questions": sum(len(e.questions) for e in write_eps),
        "budgets": budgets,
        "write": write_rows,
        "compaction": compact_rows,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
    }
    text = json.dumps(payload, indent=2)
    print(text)
    if args.out_json:
        Path(args.out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out_json).write_text(text + "\n", encoding="utf-8")
    plot_dir = Path(args.plot_dir) if args.plot_dir else Path(tempfile.mkdtemp(prefix="reme-budgets-"))
    where = ", ".join(payload["conversations"])
    _plot(
        {label: [write_rows[str(b)][label]["recall@10"] for b in budgets] for label in write_policies},
        budgets,
        "recall@10 over what was stored",
        f"write policies, held out: {where}",
        plot_dir / "write_budget_curve.png",
    )
    _plot(
        {label: [compact_rows[str(b)][label]["evidence_reachable"] for b in budgets] for label in compact_policies},
        budgets,
        "evidence reachable",
        f"compaction policies, held out: {where}",
        plot_dir / "compaction_budget_curve.png",
    )
    print(f"curves in {plot_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
