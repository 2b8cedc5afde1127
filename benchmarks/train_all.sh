#!/usr/bin/env bash
# Dense baselines, ACC offline-tuned checkpoints, and (where the budget allows) PoWER-BERT and FCA, for the
# default backbone. Training runs pinned to core 0 with one thread; benchmarks/evaluate_all.sh (accuracy +
# timing) runs pinned to core 1 and picks up each task when runs/<task>/READY appears, so timings never share
# a core with training. Resumable: re-running skips finished runs and resumes interrupted ones.
#
# Compute budget (2 CPU cores, one for training): dense fine-tuning (MRPC 3 epochs, STS-B 2, CoLA 5, RTE 3,
# SST-2 1 epoch on all 67k examples, BBC 1 epoch on 500 of its 1,487 training articles); ACC continues from the dense
# checkpoint for 1 epoch of offline tuning (target speedup sampled in [1, 4] per batch); PoWER-BERT/FCA: 1 epoch of
# retention search from the dense checkpoint (SST-2: on a 10k subsample; BBC: the same 500 articles), then 1 epoch of
# re-training per variant; LTP: 1 epoch of threshold learning (soft stage), 1 epoch of hard-pruning
# fine-tuning, at three lambdas.
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/protocol.sh  # drop_variant, task_protocol, GLUE
LB="taskset -c ${CORE:-0} env PYTHONPATH=${SNAPSHOT:-$PWD/src} .venv/bin/python -m leanbert"
THREADS=${THREADS:-1}
train() {  # task epochs batch lr [extra...]
  local task=$1 epochs=$2 bs=$3 lr=$4; shift 4
  $LB finetune --task "$task" -o "runs/$task/dense" --data-dir "$GLUE" --epochs "$epochs" --batch-size "$bs" \
    --lr "$lr" --threads "$THREADS" "$@"
  $LB finetune --task "$task" -o "runs/$task/acc" --data-dir "$GLUE" --epochs 1 --batch-size "$bs" \
    --lr "$lr" --threads "$THREADS" --model "runs/$task/dense/best" --method acc --speedup-range 1,4 "$@"
}
reduce() {  # task batch lambda lr_soft [extra...]: PoWER-BERT and FCA (k=1 weighted, k=5 mean) sharing one search
  local task=$1 bs=$2 lam=$3 lrs=$4; shift 4
  local common=(--task "$task" --dense "runs/$task/dense/best" -o "runs/$task/reduce" --data-dir "$GLUE" --batch-size "$bs"
                --lambda "$lam" --lr-soft "$lrs" --lr 3e-5 --threads "$THREADS" "$@")
  $LB power-bert "${common[@]}"
  $LB fca "${common[@]}" --coarse 1 --merge weighted
  $LB fca "${common[@]}" --coarse 5 --merge mean
}
curve() {  # task batch lambda lr_soft [extra...]: one more PoWER-BERT point (its own search) for the accuracy/speed curve
  local task=$1 bs=$2 lam=$3 lrs=$4; shift 4
  $LB power-bert --task "$task" --dense "runs/$task/dense/best" -o "runs/$task/power-l$lam" --data-dir "$GLUE" \
    --batch-size "$bs" --lambda "$lam" --lr-soft "$lrs" --lr 3e-5 --threads "$THREADS" "$@"
}
# STAGES: "train" (dense + ACC), "reduce" (PoWER-BERT + FCA), "ltp", "curve" (PoWER-BERT at lambda / 3 and x 3),
# "lat"; default: train reduce ltp. LTP_LAMBDAS: the LTP lambdas (default 0.1 0.3 2).
has() { [[ " ${STAGES:-train reduce ltp} " == *" $1 "* ]]; }
peers() {  # task batch [extra...]: the LTP peer at three lambdas (stage ltp; timed by evaluate_reduce.sh with
  # VARIANTS="ltp-lambda0.1 ltp-lambda0.3 ltp-lambda2") and the LAT peer (stage lat: LengthDrop training, search,
  # then its chosen configs evaluated and timed on this core; its rows replace the task's `lat` rows in results/)
  local task=$1 bs=$2 lam lrs; shift 2
  if has ltp; then for lam in ${LTP_LAMBDAS:-0.1 0.3 2}; do  # threshold lr: 1e-2, 3e-2 from lambda 1 up
    lrs=$(python3 -c "print('3e-2' if $lam >= 1 else '1e-2')")
    $LB ltp --task "$task" --dense "runs/$task/dense/best" -o "runs/$task/ltp-l$lam" --data-dir "$GLUE" --lambda "$lam" \
      --lr-soft "$lrs" --batch-size "$bs" --threads "$THREADS" "$@"; done; fi
  if has lat; then  # max-drop 0.35 on 6 layers: the paper's smallest final length (docs/methods.md)
    rm -f "runs/$task/lat/rows.jsonl"
    task_protocol "$task"  # the per-task timed batches, as for every other method's rows
    local search=()  # BBC: 512-token documents make each candidate ~10x dearer to score; a smaller search
    [ "$task" = bbc ] && search=(--search-examples 100 --population 12 --generations 5)
    $LB lat --task "$task" --dense "runs/$task/dense/best" -o "runs/$task/lat" --data-dir "$GLUE" --max-drop 0.35 \
      --speedup 1.5,2,2.5,3 --batch-size "$bs" --threads "$THREADS" --results "runs/$task/lat/rows.jsonl" \
      "${bench[@]}" "${search[@]}" "$@"
    drop_variant "results/$task.jsonl" lat && cat "runs/$task/lat/rows.jsonl" >> "results/$task.jsonl"
  fi
}
curves() {  # task batch lambda lr_soft [extra...]: the two extra points around the reduce lambda
  local task=$1 bs=$2 lam=$3 lrs=$4; shift 4
  for l in $(python3 -c "print('%g %g' % ($lam / 3, $lam * 3))"); do curve "$task" "$bs" "$l" "$lrs" "$@"; done
}
for t in ${TASKS:-mrpc stsb cola sst2 bbc rte}; do
  # lr_soft: the search runs 1 epoch instead of ~5, so lr_soft is set so that (steps x lr_soft) ~ 1.5-2, i.e.
  # a retention weight can travel from 1 to 0 under Adam; lambda is the reference value (DESIGN 1.2).
  case $t in
    mrpc) has train && train mrpc 3 32 1e-4; has reduce && reduce mrpc 32 3e-3 1.5e-2; has curve && curves mrpc 32 3e-3 1.5e-2
          peers mrpc 32 ;;
    stsb) has train && train stsb 2 32 1e-4; has reduce && reduce stsb 32 1e-3 1e-2; has curve && curves stsb 32 1e-3 1e-2; peers stsb 32 ;;
    cola) has train && train cola 5 32 1e-4; has reduce && reduce cola 32 7e-3 7.5e-3; has curve && curves cola 32 7e-3 7.5e-3; peers cola 32 ;;
    sst2) has train && train sst2 1 32 5e-5; has reduce && reduce sst2 32 2e-4 5e-3 --max-train-examples 10000
          has curve && curves sst2 32 2e-4 5e-3 --max-train-examples 10000
          peers sst2 32 --max-train-examples 10000 ;;
    bbc)  has train && train bbc 1 16 1e-4 --max-train-examples 500
          has reduce && reduce bbc 16 2e-3 5e-2 --max-train-examples 500
          has curve && curves bbc 16 2e-3 5e-2 --max-train-examples 500; peers bbc 16 --max-train-examples 500 ;;
    rte)  has train && train rte 3 16 5e-5; has reduce && reduce rte 16 2e-4 1.5e-2; has curve && curves rte 16 2e-4 1.5e-2; peers rte 16 ;;
  esac
  touch "runs/$t/READY"
done
