#!/usr/bin/env bash
# Dense baselines and ACC offline-tuned checkpoints of the default backbone on every task we have data for.
# Resumable: re-running skips finished runs and resumes interrupted ones from runs/<task>/<kind>/last_state.
# ACC checkpoints continue from the dense best checkpoint for one epoch of offline tuning (compute budget:
# 2 CPU cores), sampling a target speedup in [1, 4] per batch.
set -euo pipefail
cd "$(dirname "$0")/.."
LB="env PYTHONPATH=${SNAPSHOT:-$PWD/src} .venv/bin/python -m leanbert"
GLUE=${LEANBERT_GLUE_DIR:-../shared/data/glue}
THREADS=${THREADS:-2}
run() {  # task epochs batch lr [extra...]
  local task=$1 epochs=$2 bs=$3 lr=$4; shift 4
  $LB finetune --task "$task" -o "runs/$task/dense" --data-dir "$GLUE" --epochs "$epochs" --batch-size "$bs" \
    --lr "$lr" --threads "$THREADS" "$@"
  $LB finetune --task "$task" -o "runs/$task/acc" --data-dir "$GLUE" --epochs 1 --batch-size "$bs" \
    --lr "$lr" --threads "$THREADS" --model "runs/$task/dense/best" --method acc --speedup-range 1,4 "$@"
}
for t in ${TASKS:-mrpc stsb cola rte sst2 bbc}; do
  case $t in
    mrpc) run mrpc 3 32 1e-4 ;;
    stsb) run stsb 3 32 1e-4 ;;
    cola) run cola 3 32 1e-4 ;;
    rte)  run rte 3 16 5e-5 ;;
    sst2) run sst2 1 32 5e-5 --max-train-examples 20000 ;;  # 20k of 67k examples: compute budget
    bbc)  run bbc 1 16 1e-4 ;;
  esac
done
