"""The plan's 12-layer part (issues 17 and 18): results/mpnet/<task>.jsonl, all-mpnet-base-v2 fine-tuned on a task
and reduced, so that the seed claims (ACC: up to 4.8x at < 0.75% drop; FCA: 2x fewer FLOPs at < 1% loss) and the
elastic recipe are tested at the papers' depth.

CPU budget (12 s per training step of 32 MRPC pairs here) sets the recipe: the dense model trains 2 epochs
**without the search slice** (`--hold-out-search-slice`: the clean protocol, so the elastic search picks its
profiles on examples no model in the chain has trained on), the elastic recipe trains 0.25 epoch of the same data
(one teacher pass caches logits for all of it: 26 steps) on budgets 1.25-4 (the 12-layer goal is >= 4x FLOPs),
then the per-budget search on the slice at 2, 3 and 4x (a small search: ~10 s per candidate here), timed on fewer
examples than the MiniLM rows. The elastic steps come first: the training-free rows (ACC scores on the dense
model, ToMe) need no training and follow.
Needs `leanbert backbone install all-mpnet-base-v2`."""
from __future__ import annotations

from leanbert.training.recipes import protocol

from .plan import evaluate
from .steps import THREADS, Late, Options, Rows, Step, leanbert, nums

MPNET = "all-mpnet-base-v2"
MPNET_TASKS = ("mrpc",)  # STS-B, SST-2, CoLA, RTE, BBC: not run (CPU time; see docs/analysis.md)
MPNET_DENSE = ("--epochs", "2", "--lr", "2e-05", "--batch-size", "32", "--hold-out-search-slice")
MPNET_ELASTIC = ("--epochs", "0.25", "--lr", "2e-05", "--batch-size", "32", "--speedup-range", "1.25,4",
                 "--budgets", "2,3,4", "--population", "4", "--generations", "1")  # what one session's CPU allows
MPNET_BENCH = ("--bench", "--bench-batch-sizes", "1,32", "--bench-examples", "16,64")  # ~3 s per dense batch of 32
NOTE = f"needs `leanbert backbone install {MPNET}`"


def mpnet_part(task: str, o: Options) -> list[Step]:
    part, runs, file = f"mpnet/{task}", f"runs/mpnet/{task}", f"results/mpnet/{task}.jsonl"
    dense, elastic, speedups = f"{runs}/dense/best", f"{runs}/elastic", nums(protocol(task).speedups)
    ds = ("--dense-score", Late("dense_score", file))

    def score(variant, checkpoint, needs, *args):
        cmd = evaluate(task, checkpoint, o, *args, "--variant", variant)
        needs = (f"{part}:{needs}", *((f"{part}:dense",) if variant != "dense" else ()))
        return Step(f"{part}:{variant}", (cmd,), rows=Rows(file, (variant,)), needs=needs, task=task, note=NOTE)

    train_dense = leanbert("finetune", "--task", task, "--model", MPNET, "-o", f"{runs}/dense", "--data-dir", o.data_dir,
                           THREADS, *MPNET_DENSE)
    train_elastic = leanbert("elastic", "--task", task, "--dense", dense, "-o", elastic, "--data-dir", o.data_dir,
                             THREADS, *MPNET_ELASTIC)
    return [
        Step(f"{part}:train-dense", (train_dense,), outputs=(f"{runs}/dense",), task=task, note=NOTE),
        score("dense", dense, "train-dense"),
        Step(f"{part}:train-elastic", (train_elastic,), outputs=(elastic,), needs=(f"{part}:train-dense",), task=task,
             note=NOTE),
        score("elastic", f"{elastic}/best", "train-elastic", *ds, "--method", "acc",
              "--speedup", Late("budgets", f"{elastic}/search.json"), *MPNET_BENCH),
        score("acc-without-offline-tuning", dense, "train-dense", *ds, "--method", "acc", "--speedup", speedups),
        score("tome-no-training", dense, "train-dense", *ds, "--method", "tome", "--speedup", speedups),
    ]


def mpnet_parts(o: Options) -> list[Step]:
    return [s for task in MPNET_TASKS for s in mpnet_part(task, o)]
