#!/usr/bin/env bash
# The shipped default policies: rank, write and compact trained on the synthetic generator's data only (no LoCoMo or
# LongMemEval text: LoCoMo is CC BY-NC), scored on files the recipe never trained or validated on, and installed into
# reme/policy/shipped/ only where issue 20's targets hold (training/recipes/check_targets.py); elsewhere the manifest
# records the heuristic and why, with the figures.
#
# Usage: training/recipes/default-policies.sh [WORK_DIR] [LOCOMO_FILE] [--install]
#   WORK_DIR     where data, checkpoints and evaluations go (default build/default-policies)
#   LOCOMO_FILE  real conversations to check the LoCoMo target on, evaluation only (default
#                ../shared/data/locomo/locomo_train.json when it exists; without it the rank head cannot ship)
#   --install    copy the checkpoints that meet their targets into reme/policy/shipped/ and rewrite manifest.json
#
# Seeds: training 11-13 (+18 agent), validation 14-16 (+19 agent), evaluation 3 and 101-104; the style gate's
# held-out suite (reme/eval/styles.py) uses its own seeds. Seeded, CPU, two threads: the same checkpoint bytes on
# every run (docs/policies.md#shipped-defaults gives the measured time, about 10 minutes on 2 cores).
set -euo pipefail
WORK=${1:-build/default-policies}
LOCOMO=${2:-../shared/data/locomo/locomo_train.json}
INSTALL=${3:-}
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 PYTHONHASHSEED=0
D="$WORK/data"
mkdir -p "$D" "$WORK/eval"
synth() { reme datasets synth --out "$D/$1.json" "${@:2}" >/dev/null; }

# --- data: four styles, three splits
synth train-chat --style chat --conversations 12 --sessions 8 --seed 11
synth train-assistant --style assistant --conversations 8 --sessions 8 --seed 12
synth train-longmemeval --format longmemeval --conversations 40 --sessions 12 --seed 13
synth train-agent --style agent --conversations 8 --sessions 8 --seed 18
synth val-chat --style chat --conversations 4 --sessions 8 --seed 14
synth val-assistant --style assistant --conversations 4 --sessions 8 --seed 15
synth val-longmemeval --format longmemeval --conversations 30 --sessions 12 --seed 16
synth val-agent --style agent --conversations 4 --sessions 8 --seed 19
synth eval-chat --style chat --conversations 4 --sessions 8 --seed 101
synth eval-assistant --style assistant --conversations 4 --sessions 8 --seed 102
synth eval-longmemeval --format longmemeval --conversations 40 --sessions 20 --seed 3
synth eval-agent --style agent --conversations 8 --sessions 8 --seed 104
TRAIN=(--dataset "$D/train-chat.json" --dataset "$D/train-assistant.json" --dataset "$D/train-longmemeval.json"
       --dataset "$D/train-agent.json")
VAL=(--val-dataset "$D/val-chat.json" --val-dataset "$D/val-assistant.json" --val-dataset "$D/val-longmemeval.json"
     --val-dataset "$D/val-agent.json")
# write and compact stream whole conversations: the LoCoMo-format styles
TRAIN_ENV=(--dataset "$D/train-chat.json" --dataset "$D/train-assistant.json" --dataset "$D/train-agent.json")
VAL_ENV=(--val-dataset "$D/val-chat.json" --val-dataset "$D/val-assistant.json" --val-dataset "$D/val-agent.json")
EVAL=(chat assistant longmemeval agent)
[ -f "$LOCOMO" ] && EVAL+=(locomo)
eval_file() { if [ "$1" = locomo ]; then echo "$LOCOMO"; else echo "$D/eval-$1.json"; fi; }

echo "rank: training" >&2
# --- rank: a bounded residual on ReMe's fusion, four styles, the step kept by its worst validation style
reme train-policy --decision rank "${TRAIN[@]}" "${VAL[@]}" --residual-bound 2 --seed 0 --device cpu \
    --out "$WORK/rank/learned"
for style in "${EVAL[@]}"; do
    reme eval retrieval --dataset "$(eval_file "$style")" --policy heuristic --policy "$WORK/rank/learned" \
        --json "$WORK/eval/rank-$style.json" >/dev/null
done

echo "write, compact: training" >&2
# --- write (30% storage) and compact (20% context): GRPO in their environments on the same training styles
reme train-policy --decision write "${TRAIN_ENV[@]}" "${VAL_ENV[@]}" --budget 0.3 --seed 0 --device cpu \
    --out "$WORK/write/learned"
reme train-policy --decision compact "${TRAIN_ENV[@]}" "${VAL_ENV[@]}" --budget 0.2 --seed 0 --device cpu \
    --out "$WORK/compact/learned"
for style in "${EVAL[@]}"; do
    reme eval write --dataset "$(eval_file "$style")" --budget 0.3 --policy novelty-length \
        --policy "$WORK/write/learned" --json "$WORK/eval/write-$style.json" >/dev/null
    reme eval compaction --dataset "$(eval_file "$style")" --budget 0.2 --policy heuristic \
        --policy "$WORK/compact/learned" --json "$WORK/eval/compact-$style.json" >/dev/null
done

# --- verdicts, and the install
python training/recipes/check_targets.py "$WORK"
sha256sum "$WORK"/{rank,write,compact}/learned/policy.safetensors
if [ "$INSTALL" = "--install" ]; then
    for kind in rank write compact; do
        python - "$WORK" "$kind" <<'EOF'
import json, subprocess, sys
work, kind = sys.argv[1], sys.argv[2]
verdict = json.load(open(f"{work}/targets.json"))[kind]
figures = f"{work}/eval/{kind}-figures.json"
json.dump(verdict["figures"], open(figures, "w"), indent=2)
args = [f"{work}/{kind}/learned", "--figures", figures] if verdict["ships"] else ["--heuristic", verdict["why"]]
subprocess.run([sys.executable, "training/recipes/install_default.py", kind, *args], check=True)
EOF
    done
fi
