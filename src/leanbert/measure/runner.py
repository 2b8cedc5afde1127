"""Evaluate a checkpoint under one or more reduction configs and build result rows."""
from __future__ import annotations

from pathlib import Path

from ..core.schedule import predicted_speedup
from ..data import syntax
from ..data.batching import check_max_length, encode
from ..data.datasets import load_task
from ..engine import registry
from ..engine.api import applied, current_config, remove
from ..engine.config import uses_syntax
from ..engine.models import backbone_name, load_classifier, load_tokenizer
from .. import progress
from ..errors import ConfigError
from ..report.results import make_row
from .configs import DENSE, SAVED, check_options_used, configs_for, label, searched
from .evaluation import evaluate
from .flops import counted_gflops, mean_gflops, model_dims
from .sparsity import sparsity_fields


def load_split(checkpoint, task, split, data_dir, max_length, user=None):
    """Tokenizer, dense model (its saved config removed and returned), task spec, encoded split, max length."""
    tokenizer = load_tokenizer(checkpoint)
    model = load_classifier(checkpoint)
    saved = current_config(model)
    remove(model)  # every row or timing applies its own config to this one loaded model
    data = load_task(task, data_dir, splits=(split,), user=with_model_labels(user, model))
    check_label_count(model.config, data.spec)
    n0 = check_max_length(tokenizer, model.config, max_length or data.spec.max_length)
    ds, _ = encode(tokenizer, data.split(split), n0)
    return tokenizer, model, saved, data.spec, ds, n0


def make_bench(checkpoint, task, split, data_dir, max_length, timing, user=None):
    """A SpeedBench on the split's real text, measuring as `timing` (a bench.Timing) says."""
    from .bench import SpeedBench

    tokenizer, model, _, _, ds, n0 = load_split(checkpoint, task, split, data_dir, max_length, user)
    sizes = timing.examples_per_batch_size
    return SpeedBench(model, tokenizer, ds, n0, tuple(sizes), sizes, timing.min_run_time, rounds=timing.rounds,
                      warm_allocator=timing.warm_allocator)


def check_label_count(hf_config, spec) -> None:
    """A checkpoint trained for another label set scores garbage (or crashes in the metric after the
    whole run): refuse it before any work."""
    if hf_config.num_labels != spec.num_labels:
        raise ConfigError(f"the checkpoint has {hf_config.num_labels} output labels but task {spec.name} has "
                          f"{spec.num_labels}: it was fine-tuned for another task")


def evaluate_rows(checkpoint, task, split="dev", data_dir=None, method="dense", speedups=(), counts=(),
                  max_length=None, dense_score=None, bench=None, score="acc", pattern=None, user=None,
                  configs=None, profiles: str = "searched", runtime=None) -> list[dict]:
    """One row per config: `configs` [(target, config)] given directly, or built from method/speedups/counts."""
    return list(iter_rows(checkpoint, task, split, data_dir, method, speedups, counts, max_length, dense_score, bench,
                          score, pattern, user, configs, profiles, runtime))


def iter_rows(checkpoint, task, split="dev", data_dir=None, method="dense", speedups=(), counts=(),
              max_length=None, dense_score=None, bench=None, score="acc", pattern=None, user=None, configs=None,
              profiles: str = "searched", runtime=None):
    """evaluate_rows, yielding each row as soon as it is measured: a caller that saves each one keeps
    every finished row when the run is interrupted. The configs are built (and checked) before any scoring.
    `runtime` (a deploy.runtimes.measure.Runtime): score and time each config in that runtime and precision instead."""
    tokenizer, model, saved, spec, ds, n0 = load_split(checkpoint, task, split, data_dir, max_length, user)
    if configs is not None:
        pairs = list(configs)
    elif method == SAVED:
        check_options_used(method, speedups, counts)
        if saved is None:
            raise ConfigError(f"invalid config field 'method': {checkpoint} has no saved leanbert config")
        pairs = [(None, saved)]
    else:
        pairs = configs_for(method, list(speedups), list(counts), model.config, n0, score, pattern, profiles)
    if runtime is not None:
        runtime.check([cfg for _, cfg in pairs])
    elastic = configs is None and searched(method, profiles, model.config)
    if dense_score is None:
        dense_score = evaluate(model, tokenizer, ds, spec)["score"]
    if any(uses_syntax(cfg) for _, cfg in pairs):  # after the dense score: parses are inputs of patterned models only
        syntax.attach(ds, tokenizer, n0)
    context = dict(checkpoint=checkpoint, split=split, model=model, tokenizer=tokenizer, spec=spec, ds=ds, n0=n0,
                   dense_score=dense_score, bench=bench, runtime=runtime)
    for target, cfg in progress.bar(pairs, desc=f"evaluate {spec.name}", unit="config"):
        yield measure_row(context, target, cfg, "elastic" if elastic else label(cfg))


def measure_row(context: dict, target, cfg, variant: str) -> dict:
    """One row: the score, FLOPs and (with a bench) speed of `cfg` on the loaded split."""
    model, ds, n0, spec = context["model"], context["ds"], context["n0"], context["spec"]
    hidden, ffn, _, _ = model_dims(model.config)
    result, timing = _score_and_time(context, cfg)
    m = registry.build_method(cfg) if cfg is not None else None
    data_dependent = cfg is not None and registry.spec_of(cfg).data_dependent  # counts vary per example
    plan = m.plan(n0) if m and not data_dependent else None
    gflops = _gflops(model, ds, cfg, m, data_dependent)
    # The papers' protocol pads every input to the task length; the method's ratio there is what a FLOPs
    # claim like FCA's "2x fewer" refers to (pads are the first tokens a reduction drops).
    padded_gflops = None if data_dependent else {
        "dense": mean_gflops([n0], model.config), "method": mean_gflops([n0], model.config, m)}
    return make_row(
        task=spec.name, split=context["split"], method=cfg.method if cfg is not None else DENSE,
        config=cfg.to_dict() if cfg else {}, backbone=backbone_name(Path(context["checkpoint"])), metric=spec.metric,
        score=result["score"], dense_score=context["dense_score"], gflops=gflops,
        dense_gflops=mean_gflops(ds.lengths(), model.config), speedup_padded=timing.get("padded"),
        speedup_dynamic=timing.get("dynamic"),
        predicted_speedup=round(predicted_speedup(plan, n0, hidden, ffn), 3) if plan else (None if data_dependent else 1.0),
        metrics=result["metrics"], variant=variant, target_speedup=target, keep_counts_at_max_length=plan,
        max_length=n0, checkpoint=str(context["checkpoint"]),
        timing_seconds=timing.get("seconds"), calibrated_speedup=timing.get("calibrated"), timing_rounds=timing.get("rounds"),
        timing_spread=timing.get("spread"), timing_allocator=timing.get("allocator"),
        gflops_padded=padded_gflops, eval_batches=EVAL_BATCHES if cfg is not None else "sorted",
        **sparsity_fields(m, model, ds, cfg), **result.get("row_fields", {}))


def _score_and_time(context: dict, cfg) -> tuple[dict, dict]:
    """The score and (with a bench) the timing of `cfg`: in PyTorch, or in the context's runtime and precision."""
    model, tokenizer, ds, spec, bench = (context[k] for k in ("model", "tokenizer", "ds", "spec", "bench"))
    if context["runtime"] is not None:
        return context["runtime"].measure(model, cfg, tokenizer, ds, spec, bench)
    with applied(model, cfg):
        result = score_config(model, tokenizer, ds, spec, cfg)
    return result, bench.speedups(cfg) if bench is not None and cfg is not None else {}


def _gflops(model, ds, cfg, method, data_dependent: bool) -> float:
    """Mean GFLOPs per example: counted where the counts depend on the data, else derived from the plan."""
    if data_dependent:
        with applied(model, cfg):
            return counted_gflops(model, ds)
    return mean_gflops(ds.lengths(), model.config, method)


# Keep counts are fractions of a batch's padded length (one count per batch, DESIGN 1.1), so a row's score is
# measured on batches that each hold one length: every example then keeps what its per-example FLOPs count
# assumes, at any batch size. Length-sorted batches of mixed lengths let short rows keep more tokens than that
# (1-2.6 points higher F1 on MRPC at 1.5-3x, docs/analysis.md "Evaluation batches").
EVAL_BATCHES = "equal_length"


def score_config(model, tokenizer, ds, spec, cfg) -> dict:
    """The task score of `model` (with `cfg` applied by the caller, None: dense) on `ds`, batched as rows record."""
    return evaluate(model, tokenizer, ds, spec, equal_length=cfg is not None)


def with_model_labels(user, model):
    """User files are labelled with the names the model was trained on (saved in its config)."""
    if user is None or user.regression:
        return user
    from dataclasses import replace

    names = tuple(model.config.id2label[i] for i in range(model.config.num_labels))
    return replace(user, labels=names)
