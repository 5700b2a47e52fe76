"""Decide, per decision, whether the recipe's checkpoint may ship: issue 20's targets on data the recipe never saw.

    python training/recipes/check_targets.py WORK_DIR        # reads WORK_DIR/eval/*.json, writes WORK_DIR/targets.json

Targets (turn-level recall@10 unless said):
- rank: at least the heuristic + 0.05 on the LoCoMo file, at least the heuristic on every LongMemEval-style file
  (turn recall@10 and session recall@5), and no evaluation style lost by more than 0.01 (the activation gate);
- write: at the 30% storage budget, at least the novelty-length rule + 0.03 on every evaluation file;
- compact: at the 20% context budget, evidence reachable at least ReMe's tail + 0.03 on every evaluation file.

For write and compact, a file where the baseline already scores 1.0 asks only that the checkpoint match it.

A decision whose checkpoint misses a target, or whose LoCoMo figure could not be measured (no LoCoMo file given),
ships the heuristic; ``targets.json`` holds each decision's verdict, the figures and one line saying why.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RANK_LOCOMO_GAIN = 0.05
STYLE_MARGIN = 0.01
WRITE_GAIN = 0.03
COMPACT_GAIN = 0.03


def _results(path: Path) -> dict[str, dict[str, float]]:
    return dict(json.loads(path.read_text(encoding="utf-8"))["results"])


def _rank(evals: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    misses: list[str] = []
    files = sorted(evals.glob("rank-*.json"))
    for path in files:
        style = path.stem.removeprefix("rank-")
        results = _results(path)
        mine, base = results["learned"], results["heuristic"]
        row = {"recall@10": mine["recall@10"], "heuristic_recall@10": base["recall@10"]}
        row["margin"] = round(mine["recall@10"] - base["recall@10"], 4)
        if "session_recall@5" in mine:
            row["session_margin@5"] = round(mine["session_recall@5"] - base["session_recall@5"], 4)
        figures[style] = row
        if row["margin"] < -STYLE_MARGIN:
            misses.append(f"loses {-row['margin']:.3f} recall@10 on {style}")
        if style.startswith("longmemeval") and (row["margin"] < 0 or row.get("session_margin@5", 0.0) < 0):
            misses.append(f"below the heuristic on {style}")
    if "locomo" not in figures:
        misses.append("no LoCoMo figure (give the LoCoMo file to measure the LoCoMo target)")
    elif figures["locomo"]["margin"] < RANK_LOCOMO_GAIN:
        misses.append(f"LoCoMo recall@10 {figures['locomo']['margin']:+.3f} over the heuristic, target +0.05")
    return {"ships": not misses and bool(files), "figures": figures, "why": "; ".join(misses)}


def _env(evals: Path, kind: str, metric: str, baseline: str, gain: float) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    misses: list[str] = []
    files = sorted(evals.glob(f"{kind}-*.json"))
    for path in files:
        style = path.stem.removeprefix(f"{kind}-")
        results = _results(path)
        mine, base = results["learned"][metric], results[baseline][metric]
        margin = round(mine - base, 4)
        figures[style] = {metric: mine, baseline: base, "margin": margin}
        if mine < min(base + gain, 1.0) - 1e-9:  # where the baseline is at the ceiling, matching it is the target
            misses.append(f"{metric} {margin:+.3f} over {baseline} on {style}, target +{gain:.2f}")
    return {"ships": not misses and bool(files), "figures": figures, "why": "; ".join(misses)}


def main() -> None:
    work = Path(sys.argv[1])
    evals = work / "eval"
    verdicts = {
        "rank": _rank(evals),
        "write": _env(evals, "write", "recall@10", "novelty-length", WRITE_GAIN),
        "compact": _env(evals, "compact", "evidence_reachable", "heuristic", COMPACT_GAIN),
    }
    (work / "targets.json").write_text(json.dumps(verdicts, indent=2) + "\n", encoding="utf-8")
    for kind, verdict in verdicts.items():
        print(f"{kind}: {'ships' if verdict['ships'] else 'heuristic'}  {verdict['why']}")


if __name__ == "__main__":
    main()
