"""The stages after dense fine-tuning for PoWER-BERT and FCA: retention-configuration search (soft
extraction), then re-training with hard extraction at the counts found -- dropping the rest
(PoWER-BERT, coarse=0) or merging it into coarse tokens (FCA). The search is shared: FCA variants and
PoWER-BERT trained into the same output folder reuse one search.

The counts are kept as absolute counts: a layer keeps at most r_l tokens, whatever the batch's padded
length. That is what PoWER-BERT does to the real tokens of an input padded to the task length (pads go
first), so a dynamically padded batch gets the same real tokens kept as in the papers' protocol. (Fractions
of the padded length would cut short inputs far harder than the method was searched and trained for.)
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ...engine.config import FCAConfig, PowerConfig
from ...training.recipes import GENERIC, RECIPES, recipe
from ...training.train import FinetuneArgs, finetune

BAND_STAGE = "band"  # OUTPUT/band: the learned-degree model fine-tuned with its hard bands


# Per-task search defaults (lambda, lr_soft, batch size): views of the one table, recipes.RECIPES.
REDUCTION_DEFAULTS = {task: (r.retention_lambda, r.lr_soft, r.batch_size) for task, r in RECIPES.items()}
GENERIC_DEFAULTS = (GENERIC.retention_lambda, GENERIC.lr_soft, GENERIC.batch_size)


def reduction_defaults(task: str, retention_lambda=None, lr_soft=None, batch_size=None) -> tuple[float, float, int]:
    """The per-task defaults, each overridden by a value given."""
    r = recipe(task)
    lam, lr, bs = r.retention_lambda, r.lr_soft, r.batch_size
    return (lam if retention_lambda is None else retention_lambda, lr if lr_soft is None else lr_soft,
            bs if batch_size is None else batch_size)


def final_config(counts, coarse: int, merge: str, divide_by_count: bool):
    counts = tuple(int(c) for c in counts)
    if coarse == 0:
        return PowerConfig(keep_counts=counts), "power"
    config = FCAConfig(keep_counts=counts, coarse=coarse, merge=merge, divide_by_count=divide_by_count)
    return config, f"fca-k{coarse}-{merge}" + ("-div" if divide_by_count else "")


def _soft_then_hard(base: FinetuneArgs, soft_name: str, soft_changes: dict, config_of, progress: bool):
    """The two stages every learned reduction shares: a soft stage in OUTPUT/<soft_name> (skipped once done, so
    variants reuse it), then fine-tuning with the hard config it yields, starting from its best checkpoint.
    `config_of(soft_log) -> (config dict, hard stage name)`. Returns (soft log, hard log, config, name)."""
    out = Path(base.output_dir)
    soft = finetune(replace(base, output_dir=str(out / soft_name), **soft_changes), progress)
    config, name = config_of(soft)
    hard = finetune(replace(base, output_dir=str(out / name), model=str(out / soft_name / "best"), apply_config=config),
                    progress)
    return soft, hard, config, name


def reduction_pipeline(base: FinetuneArgs, retention_lambda: float, lr_soft: float, coarse: int = 0,
                       merge: str = "weighted", divide_by_count: bool = False, progress: bool = True) -> dict:
    """`base.model` is the fine-tuned dense checkpoint; writes OUTPUT/search and OUTPUT/<variant>."""
    def config_of(search):
        config, name = final_config(search["retention_keep_counts"], coarse, merge, divide_by_count)
        return config.to_dict(), name

    search, retrain, config, name = _soft_then_hard(
        base, "search", dict(retention_lambda=retention_lambda, lr_soft=lr_soft), config_of, progress)
    return {"variant": name, "keep_counts": search["retention_keep_counts"], "config": config,
            "search_best": search["best_score"], "retrain_best": retrain["best_score"],
            "checkpoint": str(Path(base.output_dir) / name / "best")}


def ltp_pipeline(base: FinetuneArgs, ltp_lambda: float, lr_soft: float, temperature: float = 0.1,
                 progress: bool = True) -> dict:
    """LTP: the soft stage learns per-layer thresholds (OUTPUT/ltp-soft), then the model is fine-tuned with
    hard pruning at those thresholds (OUTPUT/ltp). `base.model` is the fine-tuned dense checkpoint."""
    soft, hard, config, name = _soft_then_hard(
        base, "ltp-soft", dict(ltp_lambda=ltp_lambda, ltp_temperature=temperature, lr_soft=lr_soft),
        lambda log: (log["ltp_config"], "ltp"), progress)
    return {"variant": "ltp", "config": config, "soft_best": soft["best_score"], "hard_best": hard["best_score"],
            "checkpoint": str(Path(base.output_dir) / name / "best")}


def learned_band_pipeline(base: FinetuneArgs, band_lambda: float, lr_soft: float, init: float = 16.0,
                          from_layer: int = 0, temperature: tuple[float, float] = (4.0, 0.5), progress: bool = True) -> dict:
    """Learned neighbour degrees: the soft stage learns a width per layer and head (OUTPUT/band-soft), then the
    model is fine-tuned with the hard bands (OUTPUT/band). `base.model` is the fine-tuned dense checkpoint."""
    soft, hard, config, name = _soft_then_hard(
        base, "band-soft", dict(band_lambda=band_lambda, band_init=init, band_from_layer=from_layer,
                                band_temperature=tuple(temperature), lr_soft=lr_soft),
        lambda log: (log["band_config"], BAND_STAGE), progress)
    return {"variant": "learned-band", "config": config, "soft_best": soft["best_score"], "hard_best": hard["best_score"],
            "checkpoint": str(Path(base.output_dir) / name / "best")}


def lat_pipeline(base: FinetuneArgs, max_drop: float, n_random: int, speedups, population: int = 16,
                 generations: int = 8, search_examples: int = 200, progress: bool = True) -> dict:
    """LAT: LengthDrop fine-tuning (OUTPUT/lengthdrop), then an evolutionary search of length configs on a
    seeded sample of `search_examples` dev examples; for each target FLOPs reduction (at the padded task
    length) the best config within budget. Writes OUTPUT/search.json (the Pareto front and the choices)."""
    from ... import atomic
    from ...engine.api import apply, applied
    from ...measure.bench import sample_dataset
    from ...measure.flops import mean_gflops
    from ..lat.lengthdrop import best_within, full_config, search_front
    from .. import build_method
    from ...measure.runner import load_split, score_config

    out = Path(base.output_dir)
    finetune(replace(base, output_dir=str(out / "lengthdrop"), lat_max_drop=max_drop, lat_random=n_random), progress)
    checkpoint = str(out / "lengthdrop" / "best")
    tokenizer, model, _, spec, ds, n0 = load_split(checkpoint, base.task, "dev", base.data_dir, base.max_length, base.user)
    layers = model.config.num_hidden_layers
    apply(model, full_config(layers))  # each candidate is applied over it in score()
    subset = sample_dataset(ds, search_examples, base.seed)

    def score(fractions):  # batched as every row is (runner.score_config): a small sample's wide batches would
        config = PowerConfig(keep_fractions=fractions)  # let short rows keep every token
        with applied(model, config):
            return score_config(model, tokenizer, subset, spec, config)["score"]

    def cost(fractions):
        return mean_gflops([n0], model.config, build_method(PowerConfig(keep_fractions=fractions)))

    front = search_front(score, cost, layers, max_drop, population, generations, base.seed)
    dense = mean_gflops([n0], model.config)
    chosen = []
    for s in speedups:
        point = best_within(front, dense / s)
        chosen.append({"target_speedup": s, "keep_fractions": None if point is None else list(point[2]),
                       "search_score": None if point is None else point[1]})
    summary = {"checkpoint": checkpoint, "max_length": n0, "search_examples": len(subset), "dense_gflops": dense,
               "front": [{"gflops": c, "score": sc, "keep_fractions": list(f)} for c, sc, f in front], "chosen": chosen}
    atomic.write_json(out / "search.json", summary)
    return summary
