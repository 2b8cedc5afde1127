#!/usr/bin/env bash
# Accuracy and measured speed of every checkpoint made by train_all.sh, written to results/<task>.jsonl.
# Timing: torch.utils.benchmark, 1 thread, pinned to core 1 (training runs on core 0), batch 1 and 32,
# both dense baselines (padded to the task length; SDPA with dynamic padding) in one run.
# Waits for runs/<task>/READY (written by train_all.sh); finishes with the BERT-base scale speed run.
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/protocol.sh
SPEEDUPS=${SPEEDUPS:-1,1.5,2,2.5,3,4,5}
for t in ${TASKS:-mrpc stsb cola sst2 bbc rte}; do
  while [ -n "${WAIT-1}" ] && [ ! -f "runs/$t/READY" ]; do sleep 30; done
  [ -f "runs/$t/acc/best/config.json" ] || { echo "skip $t: no ACC checkpoint"; continue; }
  task_protocol "$t"; speedups=$SPEEDUPS
  [ "$t" = bbc ] && speedups=1,2,3,4,5  # 512-token documents: fewer settings to fit the time budget
  out="results/$t.jsonl"; rm -f "$out"
  common=(--task "$t" --split "$split" --data-dir "$GLUE" --threads 1 --results "$out")
  $LB evaluate --checkpoint "runs/$t/dense/best" "${common[@]}" > /dev/null
  dense=$(dense_score "$out")
  $LB evaluate --checkpoint "runs/$t/acc/best" "${common[@]}" --dense-score "$dense" --method acc --speedup "$speedups" "${bench[@]}" > /dev/null
  if [ "$t" != bbc ]; then
  $LB evaluate --checkpoint "runs/$t/acc/best" "${common[@]}" --dense-score "$dense" --method acc --score value_norm --speedup "$speedups" --variant acc-value-norm > /dev/null
  $LB evaluate --checkpoint "runs/$t/acc/best" "${common[@]}" --dense-score "$dense" --method power --speedup "$speedups" --variant power-score-on-acc-checkpoint > /dev/null
  $LB evaluate --checkpoint "runs/$t/dense/best" "${common[@]}" --dense-score "$dense" --method acc --speedup "$speedups" --variant acc-without-offline-tuning > /dev/null
  fi
  $LB evaluate --checkpoint "runs/$t/dense/best" "${common[@]}" --dense-score "$dense" --method tome --speedup "$speedups" "${bench[@]}" --variant tome-no-training > /dev/null
  # PoWER-BERT / FCA (runs/<task>/reduce/) and the LTP peer (runs/<task>/ltp-l<L>/): where trained, the same
  # per-variant evaluation as evaluate_reduce.sh (missing checkpoints are skipped)
  WAIT= TASKS=$t VARIANTS="power fca-k1-weighted fca-k5-mean ltp-lambda0.1 ltp-lambda0.3 ltp-lambda2" \
    bash benchmarks/evaluate_reduce.sh
  echo "done $t"
done
# ACC at BERT-base scale (random weights): speed only.
[ -n "${SKIP_BERT_BASE:-1}" ] || taskset -c "${CORE:-1}" env PYTHONPATH=${SNAPSHOT:-$PWD/src} .venv/bin/python \
  benchmarks/bert_base_speed.py --threads 1 --speedups 2,3,4 --data-dir "$GLUE"
# Repeatability: the same ACC benchmark twice, fresh dense baselines each time; spread of the ratios.
[ -n "${SKIP_REPEAT:-}" ] || $LB bench --checkpoint runs/mrpc/acc/best --task mrpc --data-dir "$GLUE" --speedup 2,3,4 \
  --repeats 2 --threads 1 --results results/speed/repeatability.jsonl > /dev/null
