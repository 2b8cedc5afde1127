#!/usr/bin/env bash
# Issue #5's studies on the default backbone (accuracy only; no timing, so they may share a core with training).
#   Study 2 (no fine-tuning): global + random + neighbour at several degrees, each component removed.
#   Study 1 (fine-tuned 1 epoch with the mask): six families at 78% sparsity on all vs the later layers.
#   Study 3 (fine-tuned): learned neighbour degrees at three lambdas vs BigBird at matched sparsities, and a
#   dense control fine-tuned with the same recipe and no mask (the cells' loss is the mask's, not the recipe's).
# STUDIES picks which (default "2 1 3"); TASKS which tasks (default mrpc). Each cell is resumable (runs/study/): a cell
# whose row is already in the results file is not run again.
set -euo pipefail
cd "$(dirname "$0")/.."
LB="taskset -c ${CORE:-0} env PYTHONPATH=${SNAPSHOT:-$PWD/src} .venv/bin/python -m leanbert"
GLUE=${LEANBERT_GLUE_DIR:-../shared/data/glue}
declare -A bigbird=([sst2]=0.4,0.6 [cola]=0.3,0.45)
for t in ${TASKS:-mrpc}; do
  dense="runs/$t/dense/best"
  # SST-2 (67k sentences) and BBC (512-token articles): each fine-tuned cell trains on a seeded subsample.
  cap=(); case $t in sst2) cap=(--max-train-examples 4000) ;; bbc) cap=(--max-train-examples 500) ;; esac
  # Study 3's BigBird sparsities: with [CLS]'s row and column and >= 1 neighbour and random key, short inputs
  # cannot go past ~74% (SST-2, ~25 pieces) or ~52% (CoLA, ~11): two targets each below that floor
  for s in ${STUDIES:-2 1 3}; do
    case $s in
      2) $LB study combos --task "$t" --dense "$dense" --data-dir "$GLUE" --widths 1,2,4,8 --randoms 1,2,4 \
           --placement later --threads 1 --results "results/sparse/${t}_combos.jsonl" ;;
      1) $LB study sparse --task "$t" --dense "$dense" --data-dir "$GLUE" --epochs 1 --threads 1 \
           --families neighbour,random,lexical,global+neighbour,bigbird,syntax --placements all,later --sparsity 0.78 "${cap[@]}" \
           --results "results/sparse/${t}_study_finetuned.jsonl" ;;
      3) $LB study sparse --task "$t" --dense "$dense" --data-dir "$GLUE" --epochs 1 --threads 1 \
           --families bigbird --placements all --sparsity "${bigbird[$t]:-0.6,0.9}" --learned-lambdas 0.2,1,4 \
           --control "${cap[@]}" --results "results/sparse/${t}_study_learned.jsonl" ;;
    esac
  done
done
