# Sourced (not run) by evaluate_all.sh, evaluate_reduce.sh and train_all.sh: the per-task evaluation protocol, so
# every method on a task is scored on the same split and timed with the same batch sizes and examples.
# LB pins to core 1 (timing); train_all.sh redefines it for core 0.
LB="taskset -c ${CORE:-1} env PYTHONPATH=${SNAPSHOT:-$PWD/src} .venv/bin/python -m leanbert"
GLUE=${LEANBERT_GLUE_DIR:-../shared/data/glue}

task_protocol() {  # task -> sets $split and the $bench arguments (1 thread, batch 1 and 32, both baselines)
  split=dev; bench=(--bench --bench-batch-sizes 1,32 --bench-examples 32,128)
  if [ "$1" = bbc ]; then  # 512-token documents (test split): fewer timed examples to fit the time budget
    split=test; bench=(--bench --bench-batch-sizes 1,32 --bench-examples 4,32 --min-run-time 0.5)
  fi
}

dense_score() {  # results file -> the dense model's score recorded in it
  python3 -c "import json,sys; print(next(r['score'] for r in map(json.loads, open(sys.argv[1])) if r['method'] == 'dense'))" "$1"
}

drop_variant() {  # results file, variant -> the file without that variant's rows (before they are re-measured)
  [ -f "$1" ] || return 0
  python3 -c "import json,sys; rows=[l for l in open(sys.argv[1]) if json.loads(l).get('variant') != sys.argv[2]]; open(sys.argv[1], 'w').writelines(rows)" "$1" "$2"
}
