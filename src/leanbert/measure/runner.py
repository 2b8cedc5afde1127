"""Evaluate a checkpoint under one or more reduction configs and build result rows."""
from __future__ import annotations

from pathlib import Path

from ..data import syntax
from ..backbones import for_model
from ..engine.api import applied, current_config, remove
from ..data.batching import check_max_length, encode
from ..engine.config import ACCConfig, PowerConfig, SparseConfig, TomeConfig, uses_syntax
from ..data.datasets import load_task
from ..methods.acc.profiles import profile_for, saved_table
from ..errors import ConfigError
from .evaluation import evaluate
from .flops import counted_gflops, mean_gflops, model_dims
from ..methods import build_method
from ..engine.models import backbone_name, load_classifier, load_tokenizer
from ..report.results import make_row
from ..core.schedule import predicted_speedup, solve_fractions


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


PROFILED_METHODS = ("acc", "power", "tome")  # the methods whose profile is solved for a target speedup


def check_options_used(method: str, speedups, counts) -> None:
    """Options a method would silently ignore are refused: a row must be what its options say."""
    if speedups and method not in PROFILED_METHODS:
        raise ConfigError(f"invalid config field 'speedup': --method {method} takes no --speedup "
                          f"({', '.join(PROFILED_METHODS)} do)")
    if counts and method != "power":
        raise ConfigError(f"invalid config field 'keep_counts': --method {method} takes no --keep-counts (power does)")
    if counts and speedups:
        raise ConfigError("invalid config field 'keep_counts': give --keep-counts or --speedup, not both")


def patterned_layers(start: int, layers: int) -> range:
    """Layers `start`..last; a start outside the model would give an empty pattern, a dense run labelled sparse."""
    if not 0 <= start < layers:
        raise ConfigError(f"invalid config field 'from_layers': {start} is not a layer of this {layers}-layer "
                          f"model (0 to {layers - 1})")
    return range(start, layers)


def configs_for(method: str, speedups: list[float], counts: list[int], hf_config, n0: int, score: str = "acc",
                pattern: dict | None = None, profiles: str = "searched") -> list:
    """[(target speedup or None, config)]. An elastic checkpoint's `acc` targets take its searched profiles
    (elastic.profile_for) unless `profiles` is "geometric"."""
    hidden, ffn, layers, _ = model_dims(hf_config)
    check_options_used(method, speedups, counts)
    if profiles not in ("searched", "geometric"):
        raise ConfigError(f"invalid config field 'profiles': {profiles!r}, use searched or geometric")
    if method == "acc" and profiles == "searched" and saved_table(hf_config):
        if not speedups:
            raise ConfigError("invalid config field 'speedup': --method acc needs --speedup, e.g. 1.5,2,3")
        return [(s, profile_for(hf_config, s)) for s in speedups]
    if method == "dense":
        return [(1.0, None)]
    if method == "power" and counts:
        return [(None, PowerConfig(keep_counts=tuple(counts)))]
    if method == "power" and not speedups:
        raise ConfigError("invalid config field 'keep_counts': --method power needs --keep-counts or --speedup")
    if method == "sparse":
        pattern = dict(pattern or {})
        starts = pattern.pop("from_layers", None) or [0]
        return [(None, SparseConfig.for_layers(layers, patterned_layers(l0, layers), **pattern)) for l0 in starts]
    profiled = {"acc": lambda fr: ACCConfig(keep_fractions=fr, score=score), "power": lambda fr: PowerConfig(keep_fractions=fr),
                "tome": lambda fr: TomeConfig(keep_fractions=fr)}
    if method in profiled:  # one geometric profile per target speedup, solved at the task's length
        if not speedups:
            raise ConfigError(f"invalid config field 'speedup': --method {method} needs --speedup, e.g. 1,2,3")
        composed = _composed_pattern(pattern, layers)
        return [(s, profiled[method](solve_fractions(s, layers, n0, hidden, ffn)).replace(pattern=composed)) for s in speedups]
    raise ConfigError(f"invalid config field 'method': unknown method {method!r} (dense, acc, power, tome, saved)")


def _composed_pattern(pattern: dict | None, layers: int):
    """A sparse pattern to run with a reduction method, when the sparse options ask for one."""
    pattern = dict(pattern or {})
    if not any(pattern.get(k, 0) > 0 for k in ("width", "n_random", "lexical_top", "syntax_hops")):
        return None
    start = (pattern.pop("from_layers", None) or [0])[0]
    return SparseConfig.for_layers(layers, patterned_layers(start, layers), **pattern)


def evaluate_rows(checkpoint, task, split="dev", data_dir=None, method="dense", speedups=(), counts=(),
                  max_length=None, dense_score=None, bench=None, score="acc", pattern=None, user=None,
                  configs=None, profiles: str = "searched") -> list[dict]:
    """One row per config: `configs` [(target, config)] given directly, or built from method/speedups/counts."""
    return list(iter_rows(checkpoint, task, split, data_dir, method, speedups, counts, max_length, dense_score, bench,
                          score, pattern, user, configs, profiles))


def iter_rows(checkpoint, task, split="dev", data_dir=None, method="dense", speedups=(), counts=(),
              max_length=None, dense_score=None, bench=None, score="acc", pattern=None, user=None, configs=None,
              profiles: str = "searched"):
    """evaluate_rows, yielding each row as soon as it is measured: a caller that saves each one keeps
    every finished row when the run is interrupted. The configs are built (and checked) before any scoring."""
    tokenizer, model, saved, spec, ds, n0 = load_split(checkpoint, task, split, data_dir, max_length, user)
    lengths = ds.lengths()
    hidden, ffn, _, _ = model_dims(model.config)
    dense_gflops = mean_gflops(lengths, model.config)
    if configs is not None:
        pairs = list(configs)
    elif method == "saved":
        check_options_used(method, speedups, counts)
        if saved is None:
            raise ConfigError(f"invalid config field 'method': {checkpoint} has no saved leanbert config")
        pairs = [(None, saved)]
    else:
        pairs = configs_for(method, list(speedups), list(counts), model.config, n0, score, pattern, profiles)
    searched = configs is None and method == "acc" and profiles == "searched" and bool(saved_table(model.config))
    if dense_score is None:
        dense_score = evaluate(model, tokenizer, ds, spec)["score"]
    if any(uses_syntax(cfg) for _, cfg in pairs):  # after the dense score: parses are inputs of patterned models only
        syntax.attach(ds, tokenizer, n0)
    for target, cfg in pairs:
        with applied(model, cfg):
            result = score_config(model, tokenizer, ds, spec, cfg)
        m = build_method(cfg) if cfg is not None else None
        data_dependent = cfg is not None and cfg.method == "ltp"  # counts vary per example: count, don't derive
        plan = m.plan(n0) if m and not data_dependent else None
        if data_dependent:
            with applied(model, cfg):
                gflops = counted_gflops(model, ds)
        else:
            gflops = mean_gflops(lengths, model.config, m)
        # The papers' protocol pads every input to the task length; the method's ratio there is what a FLOPs
        # claim like FCA's "2x fewer" refers to (pads are the first tokens a reduction drops).
        padded_gflops = None if data_dependent else {
            "dense": mean_gflops([n0], model.config), "method": mean_gflops([n0], model.config, m)}
        timing = bench.speedups(cfg) if bench is not None and cfg is not None else {}
        yield make_row(
            task=spec.name, split=split, method=cfg.method if cfg is not None else "dense", config=cfg.to_dict() if cfg else {},
            backbone=backbone_name(Path(checkpoint)), metric=spec.metric,
            score=result["score"], dense_score=dense_score, gflops=gflops,
            dense_gflops=dense_gflops, speedup_padded=timing.get("padded"), speedup_dynamic=timing.get("dynamic"),
            predicted_speedup=round(predicted_speedup(plan, n0, hidden, ffn), 3) if plan else (None if data_dependent else 1.0),
            metrics=result["metrics"], variant="elastic" if searched else _variant(method, cfg), target_speedup=target,
            keep_counts_at_max_length=plan,
            max_length=n0, checkpoint=str(checkpoint),
            timing_seconds=timing.get("seconds"), calibrated_speedup=timing.get("calibrated"), timing_rounds=timing.get("rounds"),
            timing_spread=timing.get("spread"), timing_allocator=timing.get("allocator"),
            gflops_padded=padded_gflops, eval_batches=EVAL_BATCHES if cfg is not None else "sorted",
            **_sparsity_fields(m, model, ds, cfg))


# Keep counts are fractions of a batch's padded length (one count per batch, DESIGN 1.1), so a row's score is
# measured on batches that each hold one length: every example then keeps what its per-example FLOPs count
# assumes, at any batch size. Length-sorted batches of mixed lengths let short rows keep more tokens than that
# (1-2.6 points higher F1 on MRPC at 1.5-3x, docs/analysis.md "Evaluation batches").
EVAL_BATCHES = "equal_length"


def score_config(model, tokenizer, ds, spec, cfg) -> dict:
    """The task score of `model` (with `cfg` applied by the caller, None: dense) on `ds`, batched as rows record."""
    return evaluate(model, tokenizer, ds, spec, equal_length=cfg is not None)


def _sparsity_fields(method, model, ds, cfg) -> dict:
    if cfg is None or cfg.method != "sparse":
        return {"sparsity": None}
    per_layer = layer_sparsity(method, model, ds)
    return {"sparsity": _mean_over_layers(per_layer), "sparsity_by_layer": {str(k): v for k, v in per_layer.items()}}


def _variant(method: str, cfg) -> str:
    """A short default label: the method plus what distinguishes its config."""
    if cfg is None:
        return "dense"
    if cfg.method == "sparse":
        lexical = (f"-lex{cfg.lexical_top}" if cfg.lexical_top else "") + (f"-syn{cfg.syntax_hops}" if cfg.syntax_hops else "")
        return f"sparse-w{cfg.width}-r{cfg.n_random}{lexical}{'-g' if cfg.global_cls else ''}-from{min(cfg.layers, default=0)}"
    if cfg.method == "fca":
        return f"fca-k{cfg.coarse}-{cfg.merge}" + ("-div" if cfg.divide_by_count else "")
    score = getattr(cfg, "score", "acc")
    name = cfg.method if score == "acc" else f"{cfg.method}-{score}"
    return name + ("+" + _variant("sparse", cfg.pattern) if cfg.pattern is not None else "")


def mean_sparsity(method, model, ds) -> float:
    """Mean attention sparsity over the patterned layers, each example at its own length (real tokens)."""
    return _mean_over_layers(layer_sparsity(method, model, ds))


def _mean_over_layers(per_layer: dict[int, float]) -> float:
    return round(sum(per_layer.values()) / max(1, len(per_layer)), 4)


def layer_sparsity(method, model, ds) -> dict[int, float]:
    """Attention sparsity of each patterned layer, averaged over (up to 256) examples at their own lengths.
    The lexical pattern is measured on the input embeddings (the first layer's input) for every layer."""
    import torch

    from ..core.patterns import sparsity
    from ..data.syntax import collate_distances

    values = {index: [] for index in method.config.layers}
    backbone = for_model(model)
    with torch.no_grad():
        for features in ds.features[:256]:
            ids = torch.tensor([features["input_ids"]])
            key_mask = torch.ones_like(ids, dtype=torch.bool)
            hidden = backbone.embeddings(model, ids)  # (1, N, D): the pattern's lexical input at layer 0
            parse = collate_distances([features], ids.shape[1])  # None unless syntax.attach ran
            for index in values:
                values[index].append(sparsity(method.allowed_pairs(index, key_mask, hidden, parse), key_mask).item())
    return {index: round(sum(v) / max(1, len(v)), 4) for index, v in values.items()}


def with_model_labels(user, model):
    """User files are labelled with the names the model was trained on (saved in its config)."""
    if user is None or user.regression:
        return user
    from dataclasses import replace

    names = tuple(model.config.id2label[i] for i in range(model.config.num_labels))
    return replace(user, labels=names)
