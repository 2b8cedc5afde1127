#!/usr/bin/env bash
# Accuracy, FLOPs and measured speed of the PoWER-BERT and FCA checkpoints made by `STAGES="reduce curve"
# benchmarks/train_all.sh`, replacing those variants' rows in results/<task>.jsonl (other rows are kept):
# power, fca-k1-weighted, fca-k5-mean (runs/<task>/reduce/) and power-lambda<L> (runs/<task>/power-l<L>/, the
# PoWER-BERT curve's other points; CURVE_ONLY=1 times only these) and, named in VARIANTS, ltp-lambda<L>
# (runs/<task>/ltp-l<L>/). RESULTS_DIR writes elsewhere (e.g. two timing jobs on two cores at once).
# Same protocol as evaluate_all.sh: 1 thread pinned to core 1 (training runs on core 0), batch 1 and 32,
# both dense baselines measured in the same run. Waits for each checkpoint unless WAIT is empty.
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/protocol.sh
for t in ${TASKS:-rte stsb cola bbc sst2 mrpc}; do
  task_protocol "$t"
  out="${RESULTS_DIR:-results}/$t.jsonl"
  dense=$(dense_score "results/$t.jsonl")
  curve=$(cd runs/$t && ls -d power-l* 2>/dev/null | sed 's/^power-l/power-lambda/' || true)
  variants=${VARIANTS:-power fca-k1-weighted fca-k5-mean $curve}
  [ -n "${CURVE_ONLY:-}" ] && variants=$curve  # only the PoWER-BERT curve's extra points
  for variant in $variants; do
    run="reduce/$variant"
    [[ $variant == power-lambda* ]] && run="power-l${variant#power-lambda}/power"
    [[ $variant == ltp-lambda* ]] && run="ltp-l${variant#ltp-lambda}/ltp"
    ckpt="runs/$t/$run/best"
    while [ -n "${WAIT-1}" ] && ! python3 - "$t" "$run" <<'PY'
import json, sys, pathlib
log = pathlib.Path(f"runs/{sys.argv[1]}/{sys.argv[2]}/train_log.json")
sys.exit(0 if log.is_file() and json.loads(log.read_text()).get("epochs") else 1)  # 1-epoch runs: done after epoch 1
PY
    do sleep 30; done
    [ -f "$ckpt/config.json" ] || { echo "skip $t $variant: no checkpoint"; continue; }
    drop_variant "$out" "$variant"
    $LB evaluate --checkpoint "$ckpt" --task "$t" --split "$split" --data-dir "$GLUE" --threads 1 --results "$out" \
      --dense-score "$dense" --method saved "${bench[@]}" --variant "$variant" > /dev/null
    echo "done $t $variant"
  done
done
