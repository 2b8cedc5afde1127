"""The plan's runtime part (issue 19): results/runtimes/<task>.jsonl, every runtime x precision cell for the dense
model and each reduction target of the task's elastic (or, without one, ACC offline-tuned) checkpoint, timed."""
from __future__ import annotations

from .plan import ELASTIC_TASKS
from .steps import RESULTS, Rows, Step, python

RUNTIME_TASKS = ("mrpc", "sst2", "stsb", "bbc")
RUNTIME_SPEEDUPS = {"bbc": "4,8"}  # BBC's elastic checkpoint is trained and searched up to 8x (its recipe)
DEFAULT_SPEEDUPS = "1.5,2,3"
# BBC: 426 test articles of 512 tokens take ~4 minutes per dense cell on one thread, so three cells, the ones that
# decided the other tasks' tables (the PyTorch baseline, its int8, and onnxruntime's int8 per channel)
RUNTIME_CELLS = {"bbc": "torch:fp32,torch:int8,onnxruntime:int8-per-channel"}


def _checkpoint(task: str) -> tuple[str, str]:
    """(reduction checkpoint, the training step that makes it)."""
    if task in ELASTIC_TASKS:
        return f"runs/{task}/elastic/best", f"{task}:train-elastic"
    return f"runs/{task}/acc/best", f"{task}:train-acc"


def _command(task: str, o, *extra) -> tuple:
    checkpoint, _ = _checkpoint(task)
    bbc = ("--split", "test", "--examples", "4,32", "--min-run-time", "0.5") if task == "bbc" else ()
    cells = ("--cells", RUNTIME_CELLS[task]) if task in RUNTIME_CELLS else ()
    return python("runtimes", "--task", task, "--dense", f"runs/{task}/dense/best", "--checkpoint", checkpoint,
                  "--speedups", RUNTIME_SPEEDUPS.get(task, DEFAULT_SPEEDUPS), "--data-dir", o.data_dir,
                  "--threads", "1", *bbc, *cells, *extra, "--out", RESULTS)


ACCURACY_CELLS = ("torch:fp32,torch:int8,onnxruntime:int8,onnxruntime:int8-per-channel,onnxruntime-fused:fp32,"
                  "onnxruntime:fp32,onnxruntime-fused:int8")  # the most informative cells first


def accuracy_only(o) -> Step:
    """The scores-only MRPC file, made while no core was quiet: dense and the first elastic checkpoint of the
    ablation (sandwich rule, 1 epoch; its searched 1.5x and 2x profiles), every runtime x precision cell."""
    cmd = python("runtimes", "--task", "mrpc", "--dense", "runs/mrpc/dense/best", "--checkpoint",
                 "runs/mrpc/elastic-sandwich/best", "--speedups", "1.5,2", "--cells", ACCURACY_CELLS,
                 "--data-dir", o.data_dir, "--threads", "1", "--no-timing", "--out", RESULTS)
    return Step("runtimes/mrpc_accuracy", (cmd,), rows=Rows("results/runtimes/mrpc_accuracy.jsonl"),
                needs=("mrpc:train-dense", "ablation/mrpc:train-elastic-sandwich"), task="mrpc",
                note="scores only, not timed; the timed file is runtimes/mrpc")


def runtime_parts(o) -> list[Step]:
    steps = [accuracy_only(o)]
    for task in RUNTIME_TASKS:
        needs = (f"{task}:train-dense", _checkpoint(task)[1])
        steps.append(Step(f"runtimes/{task}", (_command(task, o),), rows=Rows(f"results/runtimes/{task}.jsonl"),
                          needs=needs, task=task))
    return steps
