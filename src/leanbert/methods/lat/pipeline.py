"""LAT's pipeline: LengthDrop fine-tuning, the search of length configs, and one result row per target."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ...training.train import FinetuneArgs, finetune
from ..power.config import PowerConfig


def lat_pipeline(base: FinetuneArgs, max_drop: float, n_random: int, speedups, population: int = 16,
                 generations: int = 8, search_examples: int = 200, progress: bool = True) -> dict:
    """LAT: LengthDrop fine-tuning (OUTPUT/lengthdrop), then an evolutionary search of length configs on a
    seeded sample of `search_examples` dev examples; for each target FLOPs reduction (at the padded task
    length) the best config within budget. Writes OUTPUT/search.json (the Pareto front and the choices)."""
    from ... import atomic
    from ...engine.api import apply, applied
    from ...engine.registry import build_method
    from ...measure.bench import sample_dataset
    from ...measure.flops import mean_gflops
    from ...measure.runner import load_split, score_config
    from .lengthdrop import best_within, full_config, search_front

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


def lat_rows(summary: dict, dense: str, task: str, split: str, data_dir, max_length, bench=None):
    """One row per chosen config on the full split, labelled method "lat" (they run as PoWER-BERT profiles),
    beside the dense checkpoint's score."""
    from ...measure.runner import evaluate_rows

    configs = [(c["target_speedup"], PowerConfig(keep_fractions=tuple(c["keep_fractions"])))
               for c in summary["chosen"] if c["keep_fractions"] is not None]
    dense_score = evaluate_rows(dense, task, split, data_dir, max_length=max_length)[0]["score"]  # the dense baseline's
    for row in evaluate_rows(summary["checkpoint"], task, split, data_dir, configs=configs, bench=bench,
                             max_length=max_length, dense_score=dense_score):
        row.update(variant="lat", method="lat")
        yield row
