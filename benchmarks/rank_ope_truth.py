"""Is ``reme learn``'s rank estimate right? The off-policy estimates of a rank candidate against the truth, on the log
of a simulated workspace (issue 21).

``benchmarks/simulate_use.py --work DIR`` leaves each arm's workspace under ``DIR``; its simulated users are
rebuilt here from the same seed, so every logged search is matched to its question and every candidate memory to
whether it holds an evidence turn (its ``dia_id`` metadata): the truth that the live log never has. On the log's
split by time (``reme learn``'s: the oldest 70 % trains, the newest 30 % is held back), a candidate is trained as
``reme learn`` trains it (the decoupled PPO of ``reme.train.rank_ppo`` on a bounded residual of ReMe's fusion) and
reported three ways:

1. **truth**: the share of the held-back searches whose top ``k`` under each policy's greedy ordering holds an
   evidence memory (the simulation's reward), the candidate against the heuristic on the same candidates;
2. **as logged**: the pseudoinverse estimate ``reme learn`` promotes on, each policy's and the paired difference
   with its interval (``reme.train.learn.paired_difference``), from the log as the simulation wrote it (rank
   exploration: epsilon 0.2, the heuristic's own Plackett-Luce at its temperature 0.05);
3. **re-logged**: the held-back searches logged again from the truth under rank exploration drawn at wider
   temperatures (``--temperatures``), and the same paired estimate, beside the truth's difference and what an
   explored search costs against the greedy one. Only the searches the heuristic logged take part (the rollback
   days' forced bad head logged the others).

    python benchmarks/simulate_use.py --seeds 0 --work /tmp/sim --json /tmp/sim.json
    python benchmarks/rank_ope_truth.py --workspace /tmp/sim/seed0-learned --seed 0 \\
        --json benchmarks/results/rank-ope-truth.json

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import collections
import copy
import datetime as dt
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulate_use import SCALES, START, TOP_K, due_questions, make_users


def samples_with_truth(
    workspace: Path, seed: int, scale: str
) -> tuple[list[Any], dict[str, np.ndarray], dict[str, int]]:
    """The workspace's rank samples (``reme.train.logs.rank_samples``) of ``TOP_K`` results, per decision id the 0/1
    vector of which candidates hold an evidence turn of the question searched, and per decision id its day."""
    from reme.policy.rewards import join_rewards
    from reme.policy.trajectory import read_records
    from reme.train.logs import credit_of, rank_samples

    records = [e.record for e in read_records(workspace / "trajectories") if e.record is not None]
    with sqlite3.connect(workspace / "reme.db") as db:
        dia = {m: json.loads(meta).get("dia_id") for m, meta in db.execute("select memory_id, metadata from memories")}
    shape = SCALES[scale]
    users = make_users(shape.users, shape.days, seed)
    by_day: dict[int, list[Any]] = collections.defaultdict(list)
    for record in records:
        if getattr(record, "kind", None) == "rank":
            by_day[(dt.datetime.fromisoformat(record.time) - START).days].append(record)
    truth: dict[str, np.ndarray] = {}
    day_of: dict[str, int] = {}
    for day, searches in sorted(by_day.items()):
        due = due_questions(users, day, shape.delays)  # the order the simulation asks them in
        if len(due) != len(searches):
            raise SystemExit(f"day {day}: {len(searches)} searches logged, {len(due)} questions due: another seed?")
        for (user, question), record in zip(due, searches, strict=True):
            if record.extra.get("target") != user.target:
                raise SystemExit(f"day {day}: the log's searches do not follow the simulation's questions")
            truth[record.decision_id] = np.asarray([dia.get(m) in question.evidence for m in record.memory_ids])
            day_of[record.decision_id] = day
    samples = rank_samples(join_rewards(records, **credit_of(workspace)).samples)
    return [s for s in samples if s.decision_id in truth and len(s.ordering) == TOP_K], truth, day_of


def greedy_hits(policy: Any, rows: list[Any], truth: dict[str, np.ndarray]) -> np.ndarray:
    from reme.policy.rank import RankState

    out = []
    for s in rows:
        order = np.argsort(-policy.scores(RankState(s.features, TOP_K)), kind="stable")[:TOP_K]
        out.append(float(truth[s.decision_id][order].any()))
    return np.asarray(out)


def true_heur_of(held: list[Any], truth: dict[str, np.ndarray]) -> float:
    from reme.policy.rank import HeuristicRankPolicy

    return float(greedy_hits(HeuristicRankPolicy(), held, truth).mean())


def used_label_heads(
    workspace: Path, held: list[Any], truth: dict[str, np.ndarray], heuristic: float, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """What ``reme learn``'s canary candidates would be at this log: heads trained on the ``used`` rewards of the
    searches before the held-back slice (``reme.train.learn.train_from_used``), one per residual bound, each with
    its true gain on the held-back searches and the style gate's verdict (``reme.eval.styles``, small scale)."""
    from reme.eval.styles import style_report
    from reme.policy.rank import HeuristicRankPolicy
    from reme.policy.trajectory import read_records
    from reme.train.learn import LearnConfig, train_from_used
    from reme.train.logs import trajectory_dir, used_rankings

    records = [e.record for e in read_records(trajectory_dir(workspace)) if e.record is not None]
    held_ids = {s.decision_id for s in held}
    first_held = min(str(r.time) for r in records if getattr(r, "decision_id", None) in held_ids)
    used = [u for u in used_rankings(records) if u.time < first_held]
    out = []
    for bound in LearnConfig().used_residual_bounds:
        head = train_from_used(HeuristicRankPolicy(), used, LearnConfig(steps=args.steps), bound)
        styles = style_report(head, scale="small", margin=0.01, cache_dir=args.style_cache)
        out.append({
            "bound": bound,
            "train_searches": len(used),
            "truth_difference": round(float(greedy_hits(head, held, truth).mean()) - heuristic, 4),
            "style_gate_passes": styles.passed,
            "styles_lost": {v.style: round(v.difference, 4) for v in styles.failing},
        })  # fmt: skip
    return out


def ceiling_last_days(
    rows: list[Any], truth: dict[str, np.ndarray], day_of: dict[str, int], scale: str, last: int
) -> float:
    """The share of the last ``last`` simulated days' searches whose candidates hold an evidence memory: the most a
    re-ranker can score on the days ``simulate_use.py``'s verdict averages."""
    first = SCALES[scale].days - last
    late = [s for s in rows if day_of[s.decision_id] >= first]
    return round(float(np.mean([truth[s.decision_id].any() for s in late])), 4) if late else float("nan")


def relogged_difference(
    candidate: Any, rows: list[Any], truth: dict[str, np.ndarray], temperature: float, epsilon: float, seed: int
) -> dict[str, float]:
    """Log each search once more under epsilon-greedy rank exploration whose draws are Plackett-Luce over
    ``fused / temperature``, reward it from the truth, and estimate candidate minus heuristic by the pseudoinverse
    (``reme.train.ope``'s maths, the candidate valued as it would serve under the same exploration)."""
    from reme.policy.rank import HeuristicRankPolicy, RankState
    from reme.train.ope import _inclusion, _top_k, bootstrap_interval

    heuristic, rng, m = HeuristicRankPolicy(), np.random.default_rng(seed), 2000
    diffs, true_diffs, costs = [], [], []
    for s in rows:
        state = RankState(s.features, TOP_K)
        fused, relevant = heuristic.scores(state), truth[s.decision_id]
        greedy = _top_k(fused, TOP_K)
        explored = rng.random() < epsilon
        shown = _inclusion(fused / temperature, TOP_K, 1, rng)[0] if explored else greedy
        reward = float((shown * relevant).sum() > 0)
        same_draws = copy.deepcopy(rng)  # the candidate's Gumbel draws are the heuristic's: common random numbers
        draws = _inclusion(fused / temperature, TOP_K, m, rng)
        gamma = (1 - epsilon) * np.outer(greedy, greedy) + epsilon * draws.T @ draws / m
        cand = candidate.scores(state)
        # the candidate explores the same way, at the same temperature relative to its anchor
        relative = float(candidate.params["anchor_temperature"]) / temperature
        cand_draws = _inclusion(cand * relative, TOP_K, m, same_draws)
        p_cand = (1 - epsilon) * _top_k(cand, TOP_K) + epsilon * cand_draws.mean(0)
        p_heur = (1 - epsilon) * greedy + epsilon * draws.mean(0)
        weights = [shown @ np.linalg.lstsq(gamma, p, rcond=1e-6)[0] for p in (p_cand, p_heur)]
        diffs.append(reward * (weights[0] - weights[1]))
        true_diffs.append(float(relevant[_top_k(cand, TOP_K) > 0].any()) - float(relevant[greedy > 0].any()))
        costs.append(float((draws @ relevant > 0).mean()) - float(relevant[greedy > 0].any()))
    low, high = bootstrap_interval([np.asarray([d]) for d in diffs], rng, 500, 0.9)
    return {
        "temperature": temperature,
        "epsilon": epsilon,
        "estimate": round(float(np.mean(diffs)), 4),
        "low": round(low, 4),
        "high": round(high, 4),
        "truth": round(float(np.mean(true_diffs)), 4),
        "explored_search_cost": round(float(np.mean(costs)), 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", required=True, help="a learned arm's workspace of simulate_use.py --work")
    parser.add_argument("--seed", type=int, required=True, help="the simulation seed that wrote it")
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--steps", type=int, default=200, help="PPO steps (reme learn's default)")
    parser.add_argument("--temperatures", default="0.05,0.15,0.3")
    parser.add_argument("--last", type=int, default=5, help="days simulate_use.py's verdict averages")
    parser.add_argument("--style-cache", default=None, help="the style suite's candidates (built there once)")
    parser.add_argument("--json", dest="json_path", default=None)
    args = parser.parse_args(argv)
    from reme.policy.rank import HeuristicRankPolicy, MLPRankPolicy
    from reme.threads import configure_process_threads
    from reme.train.learn import Estimate, LearnConfig, paired_difference, split_by_time
    from reme.train.ope import evaluate_offpolicy
    from reme.train.rank_data import RankExample
    from reme.train.rank_ppo import PPOConfig, train_ppo
    from reme.train.rank_supervised import SupervisedConfig, train_supervised

    configure_process_threads(None)
    started = time.perf_counter()
    workspace = Path(args.workspace)
    rows, truth, day_of = samples_with_truth(workspace, args.seed, args.scale)
    # the searches the heuristic logged: the rollback days' forced bad head logged the others
    rows = [s for s in rows if s.behaviour[0].startswith("heuristic")]
    train, held = split_by_time(rows, LearnConfig().holdout)
    config = LearnConfig(steps=args.steps)
    start = MLPRankPolicy(seed=0, residual_bound=config.rank_residual_bound)
    ppo = PPOConfig(steps=args.steps, lr=config.lr, epsilon=config.epsilon, importance_cap=config.importance_cap,
                    eval_every=args.steps + 1)  # fmt: skip
    candidate = train_ppo(train, ppo, policy=start).policy
    heuristic = HeuristicRankPolicy()
    # what the same head reaches when it learns from every candidate's true label, not from the log's rewards
    labelled = [RankExample(s.decision_id, s.decision_id, s.features, truth[s.decision_id],
                            int(truth[s.decision_id].sum())) for s in train]  # fmt: skip
    oracle = train_supervised(labelled, SupervisedConfig(steps=args.steps, seed=0)).policy
    used_heads = used_label_heads(workspace, held, truth, true_heur_of(held, truth), args)
    true_cand, true_heur = greedy_hits(candidate, held, truth), greedy_hits(heuristic, held, truth)
    # the share of held-back searches whose logged reward the truth gives back (an update can replace a turn's text)
    agreement = float(np.mean([truth[s.decision_id][s.ordering].any() == (s.ret > 0) for s in held]))

    def estimate(policy: Any) -> Estimate:
        out = evaluate_offpolicy(held, policy, workspace=workspace, bootstrap=500, seed=0, terms=True)
        return Estimate(method="pseudoinverse", value=out["estimate"], low=out["ci_low"], high=out["ci_high"],
                        n=len(held), units=[t.tolist() for t in out["terms"]])  # fmt: skip

    cand_est, heur_est = estimate(candidate), estimate(heuristic)
    difference = paired_difference(cand_est, heur_est, config)
    report = {
        "benchmark": "rank_ope_truth",
        "command": "python benchmarks/rank_ope_truth.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "train_searches": len(train),
        "held_searches": len(held),
        "truth": {
            "heuristic": round(float(true_heur.mean()), 4),
            "candidate": round(float(true_cand.mean()), 4),
            "difference": round(float((true_cand - true_heur).mean()), 4),
            "searches_where_they_differ": int((true_cand != true_heur).sum()),
            "agrees_with_the_log": round(agreement, 4),
            # the best any re-ranker reaches on these candidates: an evidence memory anywhere among them
            "head_from_true_labels": round(float(greedy_hits(oracle, held, truth).mean()), 4),
            "ceiling": round(float(np.mean([truth[s.decision_id].any() for s in held])), 4),
            "ceiling_last_days": ceiling_last_days(rows, truth, day_of, args.scale, args.last),
        },
        "as_logged": {
            "logged_return": round(float(np.mean([s.ret for s in held])), 4),
            "heuristic": heur_est.model_dump(exclude={"units"}),
            "candidate": cand_est.model_dump(exclude={"units"}),
            "difference": difference.model_dump(exclude={"units"}),
        },
        "used_label_heads": used_heads,
        "relogged": [
            relogged_difference(candidate, held, truth, float(t), 0.2, seed=5)
            for t in args.temperatures.split(",")
            if t.strip()
        ],
        "seconds": round(time.perf_counter() - started, 1),
    }
    text = json.dumps(report, indent=1)
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
