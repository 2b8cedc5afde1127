#!/usr/bin/env bash
# The elastic recipe (issue 18) on one task: elastic fine-tuning from runs/<task>/dense/best, the per-budget
# profile search on a held-out slice of the training data, then one row per searched budget (scored on dev,
# BBC test; timed with the task protocol: batch 1 and 32, both dense baselines, 1 thread) appended to
# results/<task>.jsonl. Resumable: a finished training or search is not repeated.
#   CORE=0 bash benchmarks/elastic_runs.sh mrpc                      # the full recipe, variant "elastic"
#   VARIANT=elastic-sandwich NOBENCH=1 RESULTS=results/ablation/mrpc.jsonl \
#     bash benchmarks/elastic_runs.sh mrpc --teacher-weight 0 --rank-weight 0 --no-inplace   # an ablation
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/protocol.sh  # LB, GLUE, task_protocol
LB="taskset -c ${CORE:-0} env PYTHONPATH=${SNAPSHOT:-$PWD/src} .venv/bin/python -m leanbert"
task=$1; shift
variant=${VARIANT:-elastic}; results=${RESULTS:-results/$task.jsonl}; out=runs/$task/$variant
case $task in  # the dense recipe's batch size and learning rate (train_all.sh); epochs: 3 on the small tasks
  rte) per_task=(--batch-size 16 --lr 5e-5 --epochs 3) ;;
  bbc) per_task=(--batch-size 16 --lr 1e-4 --epochs 2 --max-train-examples 500) ;;
  sst2) per_task=(--batch-size 32 --lr 5e-5 --epochs 1 --max-train-examples 10000) ;;
  *) per_task=(--batch-size 32 --lr 5e-5 --epochs 3) ;;
esac
$LB elastic --task "$task" --dense "runs/$task/dense/best" -o "$out" --data-dir "$GLUE" --threads 1 "${per_task[@]}" "$@"
task_protocol "$task"  # sets $split and $bench
[ -n "${NOBENCH:-}" ] && bench=()
dense=$($LB evaluate --checkpoint "runs/$task/dense/best" --task "$task" --split "$split" --data-dir "$GLUE" --threads 1 \
  | tail -1 | python3 -c "import json,sys; print(json.load(sys.stdin)['score'])")  # the teacher, same split
budgets=${SPEEDUPS:-$(python3 -c "import json,sys; print(','.join(['1'] + [str(e['speedup']) for e in json.load(open(sys.argv[1]))['profiles']]))" "$out/search.json")}
$LB evaluate --checkpoint "$out/best" --task "$task" --split "$split" --data-dir "$GLUE" --method acc --speedup "$budgets" \
  --dense-score "$dense" --variant "$variant" --threads 1 --results "$results" "${bench[@]}"
