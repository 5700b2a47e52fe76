#!/usr/bin/env bash
# Issue-5 recipe: train the write and compaction policies on three LoCoMo conversations, pick checkpoints on a
# fourth (conv-42), and evaluate on the two held-out ones (conv-43, conv-44) against the heuristics at the
# acceptance budgets, then draw recall / evidence-reachable against budget (docs/*_budget_curve.png).
# Usage: training/recipes/write-compact-locomo.sh [DATA] [OUT]
set -euo pipefail
DATA=${1:-../shared/data/locomo/locomo_train.json}
OUT=${2:-runs/write-compact-locomo}
TRAIN=conv-26,conv-30,conv-41
VAL=conv-42
TEST=conv-43,conv-44

reme train-policy --decision write --budget 0.3 --dataset "$DATA" --conversations "$TRAIN" \
    --val-dataset "$DATA" --val-conversations "$VAL" --out "$OUT/write" --seed 0
reme train-policy --decision compact --budget 0.2 --dataset "$DATA" --conversations "$TRAIN" \
    --val-dataset "$DATA" --val-conversations "$VAL" --out "$OUT/compact" --seed 0
reme eval write --dataset "$DATA" --conversations "$TEST" --budget 0.3 \
    --policy heuristic --policy random --policy store-all --policy "$OUT/write" --json "$OUT/eval-write-0.3.json"
reme eval write --dataset "$DATA" --conversations "$TEST" --budget 1.0 --policy store-all --json "$OUT/eval-write-1.0.json"
reme eval compaction --dataset "$DATA" --conversations "$TEST" --budget 0.2 \
    --policy heuristic --policy "$OUT/compact" --json "$OUT/eval-compaction-0.2.json"
python benchmarks/bench_budgets.py --dataset "$DATA" --conversations "$TEST" \
    --write-policy "$OUT/write" --compact-policy "$OUT/compact" \
    --out-json "$OUT/budgets.json" --plot-dir "$OUT/plots"
cat "$OUT/eval-write-0.3.json" "$OUT/eval-write-1.0.json" "$OUT/eval-compaction-0.2.json"
