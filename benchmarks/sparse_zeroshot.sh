#!/usr/bin/env bash
# Sparse attention patterns applied to a dense fine-tuned checkpoint WITHOUT fine-tuning with the mask
# (not the paper's protocol, which fine-tunes with the mask): how much each pattern, placed from layer
# l0 upward, changes the model as it is. Accuracy only (masks save no time). Core 0, one thread.
set -euo pipefail
cd "$(dirname "$0")/.."
LB="taskset -c ${CORE:-0} env PYTHONPATH=${SNAPSHOT:-$PWD/src} .venv/bin/python -m leanbert"
GLUE=${LEANBERT_GLUE_DIR:-../shared/data/glue}
for t in ${TASKS:-mrpc}; do
  out="results/sparse/${t}_zeroshot.jsonl"; rm -f "$out"
  common=(--checkpoint "runs/$t/dense/best" --task "$t" --data-dir "$GLUE" --threads 1 --results "$out" --method sparse --from-layers 0,2,4)
  $LB evaluate "${common[@]}" --width 2 > /dev/null
  $LB evaluate "${common[@]}" --random 5 > /dev/null
  $LB evaluate "${common[@]}" --width 1 --random 2 > /dev/null
  $LB evaluate "${common[@]}" --lexical-top 5 > /dev/null
  $LB evaluate "${common[@]}" --width 2 --no-global-cls > /dev/null
done
