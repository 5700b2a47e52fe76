"""Do query-time features that cost little help a learned rank head off its training styles? (issue 20)

Each candidate of a question gets, on top of the live ``RANK_FEATURES``, columns computed from what the candidate
set already holds (no second index, no model call):

- ``temporal``: where the candidate sits in time among the candidates (``recency``: 1 for the newest, 0 for the
  oldest), whether its session is the newest among the candidates' sessions (``newest_session_rr``: 1 / (1 + the
  session's rank by recency)), and two cues of the question (``recency_cue``: "now", "current", "latest",
  "still"...; ``time_cue``: "when", "how long", "ago", "before"...), with the product ``recency_cue_x_recency``;
- ``session``: a session-level score, the candidates grouped by session (metadata ``session_id``): the
  session's best fused score, its rank among the sessions by that score (``session_rank_rr``), the mean of its
  three best fused scores, its share of the candidates, and whether the candidate is its session's best.

Heads are trained with GRPO as in ``benchmarks/rank_robustness.py``'s best design (a bounded residual, B=2, on the
chat, assistant and LongMemEval-shaped styles, the step kept by the worst validation style) with and without each
group, and scored against ReMe's fusion heuristic in the same run on held-out files of every style: chat,
assistant, LongMemEval-shaped (turn level, and session level for the LongMemEval target), the agent style (never
trained or validated on) and the shared LoCoMo file when ``--locomo`` names it (real conversations, evaluation
only).

    python benchmarks/rank_query_features.py --locomo ../shared/data/locomo/locomo_train.json --out results.json

Prints one JSON object per variant (the mean difference from the heuristic over ``--seeds`` and its range), then
the whole report with every run.
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reme.datasets.synthetic.generator import STYLES
from reme.eval.metrics import question_states, recall_at, sessions_in_order
from reme.policy.rank import HeuristicRankPolicy, RankState
from reme.policy.rank_features import RANK_FEATURES
from reme.retrieval.embedding import build_encoder
from reme.train.rank_data import RankExample, evaluate_scores
from reme.train.rank_grpo import GRPOConfig, policy_scores, train_grpo
from reme.train.rank_run import WorstStyleSelection, heuristic_metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rank_robustness import FILES, episodes_of  # the same files and seeds as the robustness benchmark

TEMPORAL = ("recency", "newest_session_rr", "recency_cue", "time_cue", "recency_cue_x_recency")
SESSION = ("session_best_fused", "session_rank_rr", "session_top3_fused", "session_share", "is_session_best")
WINDOW = ("window_cosine", "window_cosine_gap")
EXTRA = TEMPORAL + SESSION + WINDOW

RECENCY_CUE = re.compile(
    r"\b(now|current|currently|latest|most recent|most recently|recently|still|any ?more|these days|nowadays|"
    r"at the moment|at present|new)\b",
    re.I,
)
TIME_CUE = re.compile(
    r"\b(when|what date|which date|what day|which day|what time|how long|ago|before|after|first|last|since|"
    r"until|year|month|week)\b",
    re.I,
)

VARIANTS: dict[str, tuple[str, ...]] = {
    "base": (),
    "+temporal": TEMPORAL,
    "+session": SESSION,
    "+temporal+session": TEMPORAL + SESSION,
    "+window": WINDOW,
    "+all": EXTRA,
}


@dataclass
class Example(RankExample):
    """A rank example whose features are ``RANK_FEATURES + EXTRA``, with what session-level recall needs."""

    sessions: list[str] | None = None
    """Session of each candidate."""
    answer_sessions: set[str] | None = None


def extra_columns(features: np.ndarray, sessions: list[str], query: str) -> np.ndarray:
    """``(n, len(EXTRA))`` query-time columns of one candidate set (see the module's docstring)."""
    n = len(features)
    out = np.zeros((n, len(EXTRA)), dtype=np.float32)
    col = {name: i for i, name in enumerate(EXTRA)}
    fused = features[:, RANK_FEATURES.index("fused")].astype(np.float64)
    age = features[:, RANK_FEATURES.index("age_days_log")].astype(np.float64)
    timed = features[:, RANK_FEATURES.index("has_time")] > 0
    if timed.any():
        lo, hi = age[timed].min(), age[timed].max()
        out[timed, col["recency"]] = 1.0 if hi <= lo else (hi - age[timed]) / (hi - lo)
    recency_cue = float(bool(RECENCY_CUE.search(query)))
    out[:, col["recency_cue"]] = recency_cue
    out[:, col["time_cue"]] = float(bool(TIME_CUE.search(query)))
    out[:, col["recency_cue_x_recency"]] = recency_cue * out[:, col["recency"]]
    groups: dict[str, list[int]] = {}
    for row, session in enumerate(sessions):
        groups.setdefault(session, []).append(row)
    best = {s: fused[rows].max() for s, rows in groups.items()}
    by_score = {s: r for r, s in enumerate(sorted(best, key=lambda s: -best[s]))}
    newest = {s: age[rows].min() if timed[rows].any() else np.inf for s, rows in groups.items()}
    by_time = {s: r for r, s in enumerate(sorted(newest, key=lambda s: newest[s]))}
    for session, rows in groups.items():
        top = np.sort(fused[rows])[::-1][:3]
        out[rows, col["session_best_fused"]] = best[session]
        out[rows, col["session_rank_rr"]] = 1.0 / (1.0 + by_score[session])
        out[rows, col["session_top3_fused"]] = top.sum() / 3.0
        out[rows, col["session_share"]] = len(rows) / n
        out[rows[int(np.argmax(fused[rows]))], col["is_session_best"]] = 1.0
        if np.isfinite(newest[session]):
            out[rows, col["newest_session_rr"]] = 1.0 / (1.0 + by_time[session])
    return out


def window_vectors(episode: Any, encoder: Any) -> dict[str, np.ndarray]:
    """Each turn's window (the previous turn of its session, the turn, the next one; dated text) encoded by the
    default embedder: a second view of every memory that one more vector per memory would store."""
    turns = episode.turns
    texts = []
    for i, turn in enumerate(turns):
        parts = [turn.render("dated")]
        if i > 0 and turns[i - 1].session_id == turn.session_id:
            parts.insert(0, turns[i - 1].render("dated"))
        if i + 1 < len(turns) and turns[i + 1].session_id == turn.session_id:
            parts.append(turns[i + 1].render("dated"))
        texts.append("\n".join(parts))
    vectors = encoder.encode(texts)
    return {turn.turn_id: vectors[i] for i, turn in enumerate(turns)}


def examples_of(name: str, cache: Path, locomo: str | None = None) -> list[Example]:
    """The enriched examples of one file (generated into ``cache`` first), cached as a pickle beside it."""
    cached = cache / f"{name}.pkl"
    if cached.is_file():
        with cached.open("rb") as f:
            return list(pickle.load(f))
    episodes = episodes_of(name, cache, locomo)
    by_id = {e.episode_id: e for e in episodes}
    encoder = build_encoder()
    windows: dict[str, dict[str, np.ndarray]] = {}
    out = []
    for item in question_states(episodes, 60):
        sessions = [item.session_of[t] for t in item.turn_ids]
        extra = extra_columns(item.state.features, sessions, item.question.question)
        if item.episode_id not in windows:
            windows = {item.episode_id: window_vectors(by_id[item.episode_id], encoder)}
        query = encoder.encode([item.question.question])[0]
        cos = np.array([float(windows[item.episode_id][t] @ query) for t in item.turn_ids], dtype=np.float32)
        extra[:, EXTRA.index("window_cosine")] = cos
        extra[:, EXTRA.index("window_cosine_gap")] = cos - cos.max() if len(cos) else cos
        out.append(
            Example(
                item.episode_id,
                item.question.question_id,
                np.concatenate([item.state.features, extra], axis=1),
                item.relevant,
                len(set(item.question.evidence)),
                sessions,
                set(item.question.answer_session_ids or ()),
            )
        )
    tmp = cached.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(out, f)
    tmp.replace(cached)
    return out


def view(examples: list[Example], columns: tuple[str, ...]) -> list[Example]:
    """The examples with only ``RANK_FEATURES + columns`` (in that order)."""
    keep = list(range(len(RANK_FEATURES))) + [len(RANK_FEATURES) + EXTRA.index(c) for c in columns]
    return [
        Example(
            e.episode_id, e.question_id, e.features[:, keep], e.relevant, e.n_evidence, e.sessions, e.answer_sessions
        )
        for e in examples
    ]


def session_recall(examples: list[Example], scores: list[np.ndarray], k: int = 5) -> float | None:
    """LongMemEval's session-level recall@k of the orderings by ``scores`` (None when no example names sessions)."""
    values = []
    for ex, s in zip(examples, scores):
        if not ex.answer_sessions or ex.sessions is None:
            continue
        order = np.argsort(-np.asarray(s, dtype=np.float64), kind="stable")
        ranked = sessions_in_order([str(i) for i in order], {str(i): ex.sessions[i] for i in order})
        values.append(recall_at(ranked, ex.answer_sessions, k))
    return round(float(np.mean(values)), 4) if values else None


def heuristic_scores(examples: list[Example]) -> list[np.ndarray]:
    """ReMe's fusion heuristic's scores, on the live columns only."""
    heuristic = HeuristicRankPolicy()
    return [heuristic.scores(RankState(e.features, 10)) for e in view(examples, ())]


def run(
    columns: tuple[str, ...],
    seed: int,
    steps: int,
    train: list[Example],
    val: dict[str, list[Example]],
    eval_sets: dict[str, list[Example]],
    heuristic: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Train one head on ``RANK_FEATURES + columns`` and score it on every evaluation style."""
    selection = WorstStyleSelection({s: view(v, columns) for s, v in val.items()})
    config = GRPOConfig(
        steps=steps, group_size=32, reward="ndcg", init_temperature=0.2, seed=seed, residual_bound=2.0,
        feature_names=RANK_FEATURES + columns,
    )  # fmt: skip
    started = time.perf_counter()
    result = train_grpo(view(train, columns), config, selection)
    kept = selection.restore(result.policy)
    out: dict[str, Any] = {
        "seed": seed,
        "seconds": round(time.perf_counter() - started, 1),
        "kept_step": result.validation[kept]["step"] if kept >= 0 else steps,
    }
    for style, examples in eval_sets.items():
        mine_examples = view(examples, columns)
        scores = policy_scores(result.policy, mine_examples)
        mine = evaluate_scores(mine_examples, scores)
        base = heuristic[style]
        out[style] = {
            "recall@1": mine["recall@1"],
            "recall@10": mine["recall@10"],
            "d_recall@1": round(mine["recall@1"] - base["recall@1"], 4),
            "d_recall@10": round(mine["recall@10"] - base["recall@10"], 4),
        }
        sr = session_recall(mine_examples, scores)
        if sr is not None and base["session_recall@5"] is not None:
            out[style] |= {"session_recall@5": sr, "d_session_recall@5": round(sr - base["session_recall@5"], 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locomo", help="the shared LoCoMo file (evaluation only)")
    parser.add_argument("--cache", default=".cache/rank-query-features")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (the spread is reported)")
    parser.add_argument("--variants", help="comma-separated variant names (default: all)")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    seeds = [int(x) for x in args.seeds.split(",")]
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    evals = [n for n in FILES if n.startswith("eval-") and (FILES[n][1] in STYLES or FILES[n][0] == "longmemeval")]
    if args.locomo:
        evals.append("eval-locomo")
    eval_sets = {name[5:]: examples_of(name, cache, args.locomo) for name in evals}
    train_styles = ["chat", "assistant", "longmemeval"]
    train_all = [ex for s in train_styles for ex in examples_of(f"train-{s}", cache)]
    val_all = {s: examples_of(f"val-{s}", cache) for s in train_styles}
    heuristic: dict[str, dict[str, Any]] = {}
    for style, examples in eval_sets.items():
        heuristic[style] = heuristic_metrics(view(examples, ()))
        heuristic[style]["session_recall@5"] = session_recall(examples, heuristic_scores(examples))
    report: dict[str, Any] = {
        "steps": args.steps, "seeds": seeds, "design": "residual B=2, chat+assistant+longmemeval, worst-style kept",
        "questions": {style: len(examples) for style, examples in eval_sets.items()}, "heuristic": heuristic,
        "variants": {},
    }  # fmt: skip
    variants = VARIANTS if not args.variants else {k: VARIANTS[k] for k in args.variants.split(",")}
    for label, columns in variants.items():
        runs = [run(columns, seed, args.steps, train_all, val_all, eval_sets, heuristic) for seed in seeds]
        row: dict[str, Any] = {"columns": list(columns), "kept_steps": [r["kept_step"] for r in runs]}
        for style in eval_sets:
            row[style] = {}
            for key in ("d_recall@1", "d_recall@10", "d_session_recall@5"):
                values = [r[style][key] for r in runs if key in r[style]]
                if values:
                    row[style][key] = round(float(np.mean(values)), 4)
                    row[style][f"{key}_range"] = [min(values), max(values)]
        row["runs"] = runs
        report["variants"][label] = row
        print(json.dumps({label: {k: v for k, v in row.items() if k != "runs"}}), flush=True)
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
