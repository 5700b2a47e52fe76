#!/usr/bin/env bash
# Default recipe: train the ranking head on four LoCoMo conversations, validate on the other two, and compare
# every trainer with the heuristic in one evaluation run. About a minute on 2 CPU cores (docs/training.md).
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
