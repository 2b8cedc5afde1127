"""The benchmark plan: every committed results file under results/ and the commands that produce it.

    python -m benchmarks plan                      # every step's command lines, in order, done or not
    python -m benchmarks run --only mrpc --core 0  # (re)make results/mrpc.jsonl: the steps not done yet
    python -m benchmarks files                     # each results file and the steps that write it

plan.py and plan_studies.py declare the steps; leanbert.training.recipes holds the per-task hyper-parameters and the
timing protocol; execute.py runs steps (resumable); checks.py checks that each command parses. The speed
scripts (bert_base_speed, onnx_speed, sparse_speed, load_test) and rescore are modules of this package.
See docs/benchmarks.md.
"""
