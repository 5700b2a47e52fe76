#!/usr/bin/env bash
# Issue-5 recipe: train the write and compaction policies, pick checkpoints on validation conversations, and
# evaluate on held-out ones against the heuristics at the acceptance budgets; then draw recall / evidence
# reachable against budget (benchmarks/bench_budgets.py). The write policy also trains on LongMemEval-format
# synthetic haystacks (generated here, separate seeds for train / validation / test), so that it is measured on
# a second format it was not tuned on: assistant logs, where the evidence is in the user's short turns.
# Usage: training/recipes/write-compact-locomo.sh [DATA] [OUT]
set -euo pipefail
DATA=${1:-../shared/data/locomo/locomo_train.json}
OUT=${2:-runs/write-compact-locomo}
TRAIN=conv-26,conv-30,conv-41
VAL=conv-42
TEST=conv-43,conv-44
mkdir -p "$OUT"
reme datasets synth --format longmemeval --conversations 30 --sessions 20 --seed 11 --out "$OUT/lme-train.json"
reme datasets synth --format longmemeval --conversations 20 --sessions 20 --seed 12 --out "$OUT/lme-val.json"
reme datasets synth --format longmemeval --conversations 60 --sessions 20 --seed 0 --out "$OUT/lme-test.json"

# --conversations filters every --dataset file, so the LoCoMo split is named by excluding the rest
reme train-policy --decision write --budget 0.3 --dataset "$DATA" --dataset "$OUT/lme-train.json" \
    --exclude-conversations "$VAL,$TEST" --val-dataset "$DATA" --val-dataset "$OUT/lme-val.json" \
    --exclude-val-conversations "$TRAIN,$TEST" --out "$OUT/write" --seed 0
reme train-policy --decision compact --budget 0.2 --dataset "$DATA" --conversations "$TRAIN" \
    --val-dataset "$DATA" --val-conversations "$VAL" --out "$OUT/compact" --seed 0
for budget in 0.3; do
  reme eval write --dataset "$DATA" --conversations "$TEST" --budget $budget \
      --policy novelty-length --policy random --policy store-all --policy "$OUT/write" --json "$OUT/eval-write-locomo.json"
  reme eval write --dataset "$OUT/lme-test.json" --budget $budget \
      --policy novelty-length --policy random --policy store-all --policy "$OUT/write" --json "$OUT/eval-write-lme.json"
done
reme eval write --dataset "$DATA" --conversations "$TEST" --budget 1.0 --policy store-all --json "$OUT/eval-write-1.0.json"
reme eval write --dataset "$OUT/lme-test.json" --budget 1.0 --policy store-all --json "$OUT/eval-write-lme-1.0.json"
reme eval compaction --dataset "$DATA" --conversations "$TEST" --budget 0.2 \
    --policy heuristic --policy "$OUT/compact" --json "$OUT/eval-compaction-0.2.json"
# the compaction policy never saw a LongMemEval-format haystack: a transfer test
reme eval compaction --dataset "$OUT/lme-test.json" --budget 0.2 \
    --policy heuristic --policy "$OUT/compact" --json "$OUT/eval-compaction-lme-0.2.json"
python benchmarks/bench_budgets.py --dataset "$DATA" --conversations "$TEST" \
    --write-policy "$OUT/write" --compact-policy "$OUT/compact" \
    --out-json "$OUT/budgets.json" --plot-dir "$OUT/plots"
cat "$OUT"/eval-*.json
