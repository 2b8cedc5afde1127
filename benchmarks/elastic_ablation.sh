#!/usr/bin/env bash
# Ablation of the elastic recipe (issue 18) on one task, every variant 1 epoch from runs/<task>/dense/best,
# scored (not timed: equal budgets cost equal FLOPs) at 1.5/2/3/4x into results/ablation/<task>.jsonl:
#   elastic-old       ACC offline tuning as before (one geometric profile per batch, task loss; finetune --method acc)
#   elastic-sandwich  + sandwich rule (full + smallest + 2 random shapes per step), every sub-model on the labels
#   elastic-inplace   + in-place distillation (sub-models learn the full model's logits)
#   elastic-teacher   + distillation from the dense teacher
#   elastic-rank1ep   + ranking distillation (the full recipe, 1 epoch)
#   elastic-geometric the full recipe's checkpoint run with geometric profiles instead of its searched ones
# Usage: CORE=0 bash benchmarks/elastic_ablation.sh mrpc [variant ...]   (default: all, in the order above)
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/protocol.sh
LB="taskset -c ${CORE:-0} env PYTHONPATH=${SNAPSHOT:-$PWD/src} .venv/bin/python -m leanbert"
task=$1; shift
variants=("$@"); [ ${#variants[@]} -eq 0 ] && variants=(elastic-old elastic-sandwich elastic-inplace elastic-teacher elastic-rank1ep elastic-geometric)
out=results/ablation/$task.jsonl; mkdir -p results/ablation
budgets=1.5,2,3,4
search=(--epochs 1 --budgets "$budgets" --population 4 --generations 1)
run() { VARIANT=$1 NOBENCH=1 RESULTS=$out SPEEDUPS=$budgets bash benchmarks/elastic_runs.sh "$task" "${@:2}" "${search[@]}"; }
for v in "${variants[@]}"; do
  case $v in
    elastic-old)
      $LB finetune --task "$task" -o "runs/$task/$v" --data-dir "$GLUE" --model "runs/$task/dense/best" --method acc \
        --speedup-range 1,4 --epochs 1 --batch-size 32 --lr 5e-5 --threads 1
      task_protocol "$task"
      $LB evaluate --checkpoint "runs/$task/$v/best" --task "$task" --split "$split" --data-dir "$GLUE" --method acc \
        --speedup "$budgets" --variant "$v" --threads 1 --results "$out" \
        --dense-score "$($LB evaluate --checkpoint "runs/$task/dense/best" --task "$task" --split "$split" --data-dir "$GLUE" \
                         --threads 1 | tail -1 | python3 -c "import json,sys; print(json.load(sys.stdin)['score'])")" ;;
    elastic-sandwich) run "$v" --teacher-weight 0 --rank-weight 0 --no-inplace ;;
    elastic-inplace) run "$v" --teacher-weight 0 --rank-weight 0 ;;
    elastic-teacher) run "$v" --rank-weight 0 ;;
    elastic-rank1ep) run "$v" ;;
    elastic-geometric)
      task_protocol "$task"
      $LB evaluate --checkpoint "runs/$task/elastic-rank1ep/best" --task "$task" --split "$split" --data-dir "$GLUE" \
        --method acc --profiles geometric --speedup "$budgets" --variant "$v" --threads 1 --results "$out" \
        --dense-score "$($LB evaluate --checkpoint "runs/$task/dense/best" --task "$task" --split "$split" --data-dir "$GLUE" \
                         --threads 1 | tail -1 | python3 -c "import json,sys; print(json.load(sys.stdin)['score'])")" ;;
    *) echo "unknown variant $v" >&2; exit 2 ;;
  esac
done
