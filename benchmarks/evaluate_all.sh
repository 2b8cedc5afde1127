#!/usr/bin/env bash
# Accuracy and measured speed of every checkpoint made by train_all.sh, written to results/<task>.jsonl.
# Timing: torch.utils.benchmark, 1 thread pinned (so the second core's other work disturbs it least),
# batch 1 and 32, both dense baselines (padded to the task length; SDPA with dynamic padding) in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
LB="env PYTHONPATH=${SNAPSHOT:-$PWD/src} .venv/bin/python -m leanbert"
GLUE=${LEANBERT_GLUE_DIR:-../shared/data/glue}
SPEEDUPS=${SPEEDUPS:-1,1.5,2,2.5,3,4,5}
for t in ${TASKS:-mrpc stsb cola rte sst2 bbc}; do
  [ -f "runs/$t/acc/best/config.json" ] || { echo "skip $t: no ACC checkpoint yet"; continue; }
  split=dev; bench=(--bench --bench-batch-sizes 1,32 --bench-examples 32,128)
  if [ "$t" = bbc ]; then split=test; bench=(--bench --bench-batch-sizes 1,32 --bench-examples 8,64); fi
  out="results/$t.jsonl"; rm -f "$out"
  common=(--task "$t" --split "$split" --data-dir "$GLUE" --threads 1 --results "$out")
  $LB evaluate --checkpoint "runs/$t/dense/best" "${common[@]}" > /dev/null
  dense=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['score'])" "$out")
  $LB evaluate --checkpoint "runs/$t/acc/best" "${common[@]}" --dense-score "$dense" --method acc --speedup "$SPEEDUPS" "${bench[@]}" > /dev/null
  $LB evaluate --checkpoint "runs/$t/acc/best" "${common[@]}" --dense-score "$dense" --method acc --score value_norm --speedup "$SPEEDUPS" --variant acc-value-norm > /dev/null
  $LB evaluate --checkpoint "runs/$t/acc/best" "${common[@]}" --dense-score "$dense" --method power --speedup "$SPEEDUPS" --variant power-score-on-acc-checkpoint > /dev/null
  $LB evaluate --checkpoint "runs/$t/dense/best" "${common[@]}" --dense-score "$dense" --method acc --speedup "$SPEEDUPS" --variant acc-without-offline-tuning > /dev/null
  $LB evaluate --checkpoint "runs/$t/dense/best" "${common[@]}" --dense-score "$dense" --method tome --speedup "$SPEEDUPS" "${bench[@]}" --variant tome-no-training > /dev/null
  for variant in power fca-k1-weighted; do
    ckpt="runs/$t/reduce/$variant/best"
    [ -f "$ckpt/config.json" ] && $LB evaluate --checkpoint "$ckpt" "${common[@]}" --dense-score "$dense" --method saved "${bench[@]}" > /dev/null
  done
  echo "done $t"
done
