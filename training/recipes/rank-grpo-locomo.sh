#!/usr/bin/env bash
# Default recipe: train the ranking head on four LoCoMo conversations, validate on the other two, and compare
# every trainer with the heuristic in one evaluation run. About a minute on 2 CPU cores (docs/training.md), plus
# about two minutes the first time the style gate's full suite is built (cached in ~/.cache/reme/style-suite).
# Usage: training/recipes/rank-grpo-locomo.sh [DATA] [OUT] [DEVICE]
set -euo pipefail
DATA=${1:-../shared/data/locomo/locomo_train.json}
OUT=${2:-runs/rank-locomo}
DEVICE=${3:-auto}
TRAIN=conv-26,conv-30,conv-41,conv-42
VAL=conv-43,conv-44

reme train-policy --decision rank --dataset "$DATA" --conversations "$TRAIN" \
    --val-dataset "$DATA" --val-conversations "$VAL" --out "$OUT/grpo" --algo grpo --device "$DEVICE" --seed 0
reme train-policy --decision rank --dataset "$DATA" --conversations "$TRAIN" \
    --val-dataset "$DATA" --val-conversations "$VAL" --out "$OUT/supervised" --algo supervised --device "$DEVICE" --seed 0
rm -rf "$OUT/logs"
reme trajectories record --dataset "$DATA" --conversations "$TRAIN" --workspace "$OUT/logs" --samples 8 --temperature 0.2
reme train-policy --decision rank --from-trajectories "$OUT/logs" \
    --val-dataset "$DATA" --val-conversations "$VAL" --out "$OUT/ppo-from-logs" --device "$DEVICE" --seed 0
reme policy evaluate --workspace "$OUT/logs" --candidate "$OUT/grpo" --json "$OUT/ope-grpo.json"
reme eval retrieval --dataset "$DATA" --conversations "$VAL" --policy heuristic \
    --policy "$OUT/grpo" --policy "$OUT/ppo-from-logs" --policy "$OUT/supervised" --json "$OUT/eval.json"
cat "$OUT/eval.json"
# The style gate (docs/evaluation.md#style-gate): the recipe fails (exit 1) when a head loses more than 0.01
# recall@10 to the heuristic on any evaluation style; reme policy activate refuses such a head the same way.
reme eval styles --policy heuristic --policy "$OUT/grpo" --policy "$OUT/supervised" --policy "$OUT/ppo-from-logs" \
    --scale full --json "$OUT/styles.json" --gate
