"""The plan's other parts: the elastic recipe's ablation, the sparse-attention studies and the speed benchmarks
(each writes a whole file under results/ablation, results/sparse or results/speed)."""
from __future__ import annotations

from leanbert.training.recipes import recipe

from .plan import dense_score as late_dense
from .plan import elastic_steps, evaluate
from .steps import RESULTS, THREADS, Options, Rows, Step, leanbert, nums, opt, python

ABLATION_TASKS = ("mrpc", "stsb")
ABLATION_BUDGETS = "1.5,2,3,4"  # searched, then scored with the full length (1x) beside; not timed: equal budgets
# cost equal FLOPs
ABLATION_SEARCH = ("--budgets", ABLATION_BUDGETS, "--population", "4", "--generations", "1")
# each variant adds one part of the recipe to the previous one, 1 epoch from runs/<task>/dense/best. The variants
# name the range and in-place setting they ran with: the command's defaults changed after this ablation (range
# 1.25-3, in-place off for regression) and the rows must stay reproducible.
R5 = ("--speedup-range", "1.25,5")
ABLATION_VARIANTS = {
    "elastic-sandwich": (*R5, "--teacher-weight", "0", "--rank-weight", "0", "--no-inplace"),  # sandwich rule, labels
    "elastic-inplace": (*R5, "--teacher-weight", "0", "--rank-weight", "0", "--inplace"),  # + in-place distillation
    "elastic-teacher": (*R5, "--rank-weight", "0", "--inplace"),  # + distillation from the dense teacher
    "elastic-rank1ep": (*R5, "--inplace"),  # + ranking distillation: the full recipe, 1 epoch
    # the full recipe trained on budgets up to 3x instead of 5x (LAT's LengthDrop range reaches ~3x on 6 layers):
    # does training capacity spent on 4-5x profiles cost the 1.5-2x ones?
    "elastic-range3": ("--speedup-range", "1.25,3", "--inplace"),
}
ABLATION_BUDGETS_BY_VARIANT = {"elastic-range3": "1.5,2,3"}  # no profile is searched beyond the trained range
STUDY_TASKS = ("mrpc", "sst2", "cola")  # Breaking BERT's studies 1 and 3 (issue 5)
COMBO_TASKS = ("mrpc",)  # study 2
STUDY_FAMILIES = "neighbour,random,lexical,global+neighbour,bigbird,syntax"
ZERO_SHOT_PATTERNS = (("--width", "2"), ("--random", "5"), ("--width", "1", "--random", "2"), ("--lexical-top", "5"),
                      ("--width", "2", "--no-global-cls"))
ONE_OFF = "a one-off measurement (docs/analysis.md); re-running it measures again, on this machine"


def ablation_part(task: str, o: Options) -> list[Step]:
    """results/ablation/<task>.jsonl: the old ACC offline tuning, the recipe built up part by part, and the full
    recipe's checkpoint run with geometric profiles instead of its searched ones."""
    r, file, part = recipe(task), f"results/ablation/{task}.jsonl", f"ablation/{task}"

    old = leanbert("finetune", "--task", task, "-o", f"runs/{task}/elastic-old", "--data-dir", o.data_dir,
                   "--model", f"runs/{task}/dense/best", "--method", "acc", "--speedup-range", "1,4", "--epochs", "1",
                   "--batch-size", r.batch_size, "--lr", f"{r.elastic_lr:g}", THREADS,
                   opt("--max-train-examples", r.stage_train_examples))
    score_old = evaluate(task, f"runs/{task}/elastic-old/best", o, "--method", "acc", "--speedup", f"1,{ABLATION_BUDGETS}",
                         "--variant", "elastic-old", "--dense-score", late_dense(task))
    steps = [Step(f"{part}:train-elastic-old", (old,), outputs=(f"runs/{task}/elastic-old",), task=task,
                  needs=(f"{task}:train-dense",)),
             Step(f"{part}:elastic-old", (score_old,), rows=Rows(file, ("elastic-old",)), task=task,
                  needs=(f"{part}:train-elastic-old", f"{task}:dense"))]
    for variant, flags in ABLATION_VARIANTS.items():
        budgets = ABLATION_BUDGETS_BY_VARIANT.get(variant, ABLATION_BUDGETS)
        search = ("--budgets", budgets, *ABLATION_SEARCH[2:])
        steps += elastic_steps(task, o, variant, (*flags, *search), f"1,{budgets}", file)
    geometric = evaluate(task, f"runs/{task}/elastic-rank1ep/best", o, "--method", "acc", "--profiles", "geometric",
                         "--speedup", f"1,{ABLATION_BUDGETS}", "--variant", "elastic-geometric",
                         "--dense-score", late_dense(task))
    return steps + [Step(f"{part}:elastic-geometric", (geometric,), rows=Rows(file, ("elastic-geometric",)), task=task,
                         needs=(f"{part}:train-elastic-rank1ep", f"{task}:dense"))]


def _study(name: str, task: str, *args) -> Step:
    """A whole results/sparse file from one `leanbert study` command (resumable cell by cell)."""
    return Step(f"sparse/{name}", (leanbert("study", *args, THREADS, "--results", RESULTS),),
                rows=Rows(f"results/sparse/{name}.jsonl"), needs=(f"{task}:train-dense",), task=task, resumes_rows=True)


def sparse_parts(o: Options) -> list[Step]:
    """Issue 5's studies on the default backbone (accuracy only: no timing)."""
    steps = [_study("mrpc_study", "mrpc", "sparse", "--task", "mrpc", "--dense", "runs/mrpc/dense/best", "-o", "runs/study0",
                    "--families", "neighbour,random,lexical,global+neighbour,bigbird", "--placements", "all,later",
                    "--sparsity", "0.78,0.9", "--epochs", "0", "--data-dir", o.data_dir)]
    for task in STUDY_TASKS:
        dense, cap = f"runs/{task}/dense/best", opt("--max-train-examples", recipe(task).study_train_examples)
        common = ["--task", task, "--dense", dense, "--data-dir", o.data_dir]
        if task in COMBO_TASKS:  # global + random + neighbour at several degrees, each component removed
            steps.append(_study(f"{task}_combos", task, "combos", *common, "--widths", "1,2,4,8", "--randoms", "1,2,4",
                                "--placement", "later"))
        # study 1: six families at 78% sparsity on all vs the later layers, fine-tuned 1 epoch with the mask
        steps.append(_study(f"{task}_study_finetuned", task, "sparse", *common, "--epochs", "1", "--families", STUDY_FAMILIES,
                            "--placements", "all,later", "--sparsity", "0.78", *cap))
        # study 3: learned neighbour degrees at three lambdas vs BigBird at matched sparsities, and a dense control
        steps.append(_study(f"{task}_study_learned", task, "sparse", *common, "--epochs", "1", "--families", "bigbird",
                            "--placements", "all", "--sparsity", nums(recipe(task).bigbird_sparsity),
                            "--learned-lambdas", "0.2,1,4", "--control", *cap))
    # patterns on the dense checkpoint without fine-tuning with the mask (not the paper's protocol), from layer l0 up
    zero = tuple(evaluate("mrpc", "runs/mrpc/dense/best", o, "--method", "sparse", "--from-layers", "0,2,4", *pattern)
                 for pattern in ZERO_SHOT_PATTERNS)
    return steps + [Step("sparse/mrpc_zeroshot", zero, rows=Rows("results/sparse/mrpc_zeroshot.jsonl"),
                         needs=("mrpc:train-dense",), task="mrpc")]


def _bench(name: str, o: Options, *commands, note: str = ONE_OFF) -> Step:
    """A latency-only file from `leanbert bench` on the MRPC ACC checkpoint (one process per command), at 2, 3 and
    4x unless a command's options say otherwise."""
    def bench(more: tuple) -> tuple:
        speedup = () if "--speedup" in more else ("--speedup", "2,3,4")
        return leanbert("bench", "--checkpoint", "runs/mrpc/acc/best", "--task", "mrpc", "--data-dir", o.data_dir,
                        *speedup, *more, THREADS, "--results", RESULTS)

    cmds = tuple(bench(more) for more in commands)
    return Step(f"speed/{name}", cmds, rows=Rows(f"results/speed/{name}.jsonl"), needs=("mrpc:train-acc",), task="mrpc",
                note=note)


def speed_parts(o: Options) -> list[Step]:
    out = ("--data-dir", o.data_dir, "--out", RESULTS)
    warm = ("--rounds", "7", "--min-run-time", "7")
    rounds25 = ("--rounds", "25,7", "--min-run-time", "7")
    return [
        Step("speed/bert_base", (python("bert_base_speed", "--threads", "1", "--speedups", "2,3,4", *out),),
             rows=Rows("results/speed/bert_base.jsonl"), note="also writes docs/speed_bert_base.md"),
        Step("speed/mpnet", (python("backbone_speed", "--model", "all-mpnet-base-v2", "--threads", "1", "--speedups", "2,3,4",
                                    *out),),
             rows=Rows("results/speed/mpnet.jsonl"),
             note="needs `leanbert backbone install all-mpnet-base-v2`; also writes docs/speed_mpnet.md"),
        _bench("repeatability", o, ("--repeats", "2"), note="the same ACC benchmark twice, fresh dense baselines each time"),
        _bench("repeatability_rounds7", o, ("--repeats", "2", *warm, "--default-allocator")),
        _bench("repeatability_warm_heap", o, ("--repeats", "2", *warm), ("--repeats", "1", *warm)),
        # the second process was stopped after its 3x config for lack of session time: 2x and 3x only
        _bench("repeatability_warm_heap_rounds25", o, ("--repeats", "2", *rounds25),
               ("--speedup", "2,3", "--repeats", "1", *rounds25)),
        Step("speed/onnx", (python("onnx_speed", "--checkpoint", "runs/mrpc/acc/best", "--task", "mrpc", "--speedups", "2,3",
                                   *out),), rows=Rows("results/speed/onnx.jsonl"), needs=("mrpc:train-acc",), task="mrpc"),
        Step("speed/serve", (python("load_test", "--checkpoint", "runs/sst2/acc/best", "--task", "sst2", "--speedups", "1,2,3,4",
                                    "--core", "1" if o.core is None else str(o.core), *out),),
             rows=Rows("results/speed/serve.jsonl"), needs=("sst2:train-acc",), task="sst2", pin=False,
             note="the server is pinned to --core by the script; the clients run unpinned"),
        # issue 20: the batching server against the unbatched one. The MRPC elastic checkpoint stands in for SST-2's
        # ACC checkpoint (the same MiniLM-L6 shapes; a profile per budget, so the same FLOPs per text at each
        # speedup; its labels are not read); SST-2 dev sentences are what is sent, as in speed/serve.
        Step("speed/serve_batching", (python("load_test", "--checkpoint", "runs/mrpc/elastic/best", "--task", "sst2",
                                             "--speedups", "1,2,3", "--clients", "1,4,16", "--batching", "off,on",
                                             "--seconds", "20", "--requests", "400",
                                             "--core", "1" if o.core is None else str(o.core), *out),),
             rows=Rows("results/speed/serve_batching.jsonl"), needs=("mrpc:train-elastic",), task="mrpc", pin=False,
             note="the server is pinned to --core by the script; the clients run unpinned. " + ONE_OFF),
        serve_workers_step(o),
        Step("speed/predict", (python("predict_speed", "--checkpoint", "runs/mrpc/elastic/best", "--input",
                                      f"{o.data_dir}/SST-2/train.tsv", "--text-col", "sentence", "--speedups", "1,3",
                                      "--processes", "1,2", "--out", RESULTS),),
             rows=Rows("results/speed/predict.jsonl"), needs=("mrpc:train-elastic",), task="mrpc", pin=False,
             note="uses cores 0 and 1 (two processes); the same checkpoint stand-in as speed/serve_batching. " + ONE_OFF),
        Step("speed/sparse_512", (python("sparse_speed", "--checkpoint", "runs/bbc/dense/best", "--widths", "48,24", *out),),
             rows=Rows("results/speed/sparse_512.jsonl"), needs=("bbc:train-dense",), task="bbc"),
        Step("speed/sparse_512_accuracy", (leanbert("evaluate", "--checkpoint", "runs/bbc/acc/best", "--task", "bbc",
                                                    "--split", "test", "--method", "acc", "--speedup", "2,3", "--width", "48",
                                                    "--data-dir", o.data_dir, THREADS, "--results", RESULTS),),
             rows=Rows("results/speed/sparse_512_accuracy.jsonl"), needs=("bbc:train-acc",), task="bbc", note=ONE_OFF),
    ]


EMBEDDING_GRIDS = (  # (tasks, variants, speedups): STS-B over the whole grid, the costlier sets at fewer points
    ("stsb", "tome,power,power-survivors,tome-from2", "1.5,2"),
    ("mrpc,bbc", "tome,power", "1.5"),
)


SERVE_CHECKPOINT = "runs/mrpc/elastic-no-teacher/best"  # a stand-in, as in speed/serve_batching: MiniLM-L6 shapes
SERVE_GRAPHS = "runs/serve-graphs"


def serve_workers_step(o: Options) -> Step:
    """Issue 20's next factor after batching: server processes (`serve --workers`), and onnxruntime int8 graphs (one
    per speedup, each export checked on MRPC dev against PyTorch fp32 and the score recorded in its PATH.json). One
    and two one-thread workers, and one two-thread worker (threads instead of processes), on cores 0-1; 4 and 16
    clients (unpinned, on the same two cores); SST-2 dev sentences."""
    # no 3x graph: its int8 logits differ from PyTorch fp32 by 1.92 > the export's tolerance 1 (refused)
    graphs = {s: f"{SERVE_GRAPHS}/int8pc-{s}x.onnx" for s in ("1", "2")}
    exports = [leanbert("export", SERVE_CHECKPOINT, "-o", path, *(("--method", "dense") if s == "1" else
                        ("--method", "acc", "--speedup", s)), "--quantize", "int8-per-channel", "--task", "mrpc",
                        "--data-dir", o.data_dir, "--max-drop", "100", THREADS) for s, path in graphs.items()]
    load = ("--checkpoint", SERVE_CHECKPOINT, "--task", "sst2", "--data-dir", o.data_dir, "--clients", "4,16",
            "--batching", "on", "--seconds", "20", "--requests", "400", "--core", "0,1", "--out", RESULTS)
    ort = "--runtime onnxruntime " + " ".join(f"--graph {p}" for p in graphs.values())
    torch = (*load, "--speedups", "1,2,3")
    return Step("speed/serve_workers", (*exports, python("load_test", *torch, "--workers", "1,2"),
                                        python("load_test", *torch, "--workers", "1", "--threads", "2"),
                                        python("load_test", *load, "--speedups", "1,2", "--workers", "1,2",
                                               "--server-args", ort)),
                rows=Rows("results/speed/serve_workers.jsonl"), needs=("mrpc:train-elastic-no-teacher",), task="mrpc",
                pin=False,
                note="uses cores 0 and 1 (the server's workers and the clients): run it alone. " + ONE_OFF)


def embedding_parts(o: Options) -> list[Step]:
    """Issue 21: zero-shot quality of the shipped MiniLM's reduced sentence embeddings against counted FLOPs
    (accuracy only: the machine was shared when it ran)."""
    cmds = tuple(python("embeddings", "--data-dir", o.data_dir, "--tasks", tasks, "--variants", variants, "--speedups",
                        speedups, "--threads", "1", "--batch-size", "64", "--results", RESULTS)
                 for tasks, variants, speedups in EMBEDDING_GRIDS)
    speed = python("embeddings_speed", "--data-dir", o.data_dir, "--threads", "1", "--methods", "tome,power",
                   "--speedups", "1.5,2,3", "--out", RESULTS)
    return [Step("embeddings/minilm", cmds, rows=Rows("results/embeddings/minilm.jsonl"), note=ONE_OFF),
            Step("embeddings/minilm_speed", (speed,), rows=Rows("results/embeddings/minilm_speed.jsonl"), note=ONE_OFF),
            *distilled_embedding_steps(o), *strong_distill_steps(o)]


DISTILL_RUNS = {  # run name: (method trained for, options)
    "tome": ("tome", ("--speedup-range", "1.25,4", "--epochs", "1")),
    "power": ("power", ("--speedup-range", "1.25,4", "--epochs", "1")),
    # after the first two: the loss still fell at the end and 4x took capacity; a narrower range, 5x the lr, 2 epochs
    "tome-long": ("tome", ("--speedup-range", "1.25,3", "--epochs", "2", "--lr", "1e-4")),
}
DISTILL_SPEEDUPS = "1.5,2,2.5,3,4"


def distilled_embedding_steps(o: Options) -> list[Step]:
    """Issue 21's self-distillation: one checkpoint per run, distilled on STS-B's *training* sentences (labels
    unused; dev sentences unseen), then STS-B dev Spearman of the training-free and the distilled encoders at the
    same speedups, rows in results/embeddings/minilm_distilled.jsonl (`model` names the run folder)."""
    def run(name):
        return f"runs/embeddings/minilm-distill-{name}"

    train = [Step(f"embeddings/minilm_distilled:train-{name}", (leanbert(
        "embed-distill", "default", "-o", run(name), "--task", "stsb", "--data-dir", o.data_dir, "--method", method,
        *options, THREADS),), outputs=(run(name),),
        note="embed-distill never overwrites: delete the run folder to train it again")
        for name, (method, options) in DISTILL_RUNS.items()]
    grid = ("--data-dir", o.data_dir, "--tasks", "stsb", "--speedups", DISTILL_SPEEDUPS, "--threads", "1",
            "--batch-size", "64", "--results", RESULTS)
    methods = ",".join(dict.fromkeys(method for method, _ in DISTILL_RUNS.values()))
    cmds = (python("embeddings", "--variants", methods, *grid),
            *(python("embeddings", "--model", run(name), "--variants", method, *grid)
              for name, (method, _) in DISTILL_RUNS.items()))
    return train + [Step("embeddings/minilm_distilled", cmds, rows=Rows("results/embeddings/minilm_distilled.jsonl"),
                         needs=tuple(s.name for s in train), note=ONE_OFF)]


# Session 15: the run session 13 stopped at 42% (more training kept paying): 3 epochs at lr 2e-4 on range 1.25-2.5.
# Its own rows file, so the three earlier run folders are not needed to reproduce it; BBC retrieval and MRPC AUC too,
# with the training-free encoder at the same speedups beside it.
STRONG_RUN = "runs/embeddings/minilm-distill-tome-strong"
STRONG_OPTIONS = ("--speedup-range", "1.25,2.5", "--epochs", "3", "--lr", "2e-4")
STRONG_GRIDS = (("stsb", "1.5,2,2.5,3"), ("mrpc,bbc", "1.5,2"))  # (tasks, speedups)


def strong_distill_steps(o: Options) -> list[Step]:
    train = Step("embeddings/minilm_distilled_strong:train", (leanbert(
        "embed-distill", "default", "-o", STRONG_RUN, "--task", "stsb", "--data-dir", o.data_dir, "--method", "tome",
        *STRONG_OPTIONS, THREADS),), outputs=(STRONG_RUN,), note="embed-distill never overwrites: delete the run "
                                                                 "folder to train it again")
    cmds = tuple(python("embeddings", *model, "--variants", "tome", "--data-dir", o.data_dir, "--tasks", tasks,
                        "--speedups", speedups, "--threads", "1", "--batch-size", "64", "--results", RESULTS)
                 for tasks, speedups in STRONG_GRIDS for model in ((), ("--model", STRONG_RUN)))
    return [train, Step("embeddings/minilm_distilled_strong", cmds,
                        rows=Rows("results/embeddings/minilm_distilled_strong.jsonl"), needs=(train.name,), note=ONE_OFF)]
