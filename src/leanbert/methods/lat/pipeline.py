"""LAT's pipeline: LengthDrop fine-tuning, the search of length configs, and one result row per target."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ...errors import ConfigError
from ...training.train import FinetuneArgs, finetune
from ..power.config import PowerConfig


SEARCH_ON = ("held-out", "dev")


def lat_pipeline(base: FinetuneArgs, max_drop: float, n_random: int, speedups, population: int = 16,
                 generations: int = 8, search_examples: int | None = None, search_on: str = "held-out",
                 progress: bool = True) -> dict:
    """LAT: LengthDrop fine-tuning (OUTPUT/lengthdrop), then an evolutionary search of length configs; for each
    target FLOPs reduction (at the padded task length) the best config within budget. Writes OUTPUT/search.json
    (the Pareto front and the choices).

    `search_on` "held-out" (default): LengthDrop trains without the training data's search slice
    (data/held_out.py, the elastic recipe's) and the search scores on it, so the configs are picked on data the
    reported dev rows never saw. "dev": the published recipe (and this peer's rows before session 12), scoring on a
    seeded sample of dev examples: a selection advantage on the rows it reports. `search_examples` caps the
    search sample (None: the whole slice; 200 on dev)."""
    from ... import atomic
    from ...engine.api import apply, applied
    from ...engine.registry import build_method
    from ...measure.bench import sample_dataset
    from ...measure.flops import mean_gflops
    from ...measure.runner import score_config
    from .lengthdrop import best_within, full_config, search_front

    if search_on not in SEARCH_ON:
        raise ConfigError(f"invalid search_on {search_on!r}: choose one of {', '.join(SEARCH_ON)}")
    out = Path(base.output_dir)
    finetune(replace(base, output_dir=str(out / "lengthdrop"), lat_max_drop=max_drop, lat_random=n_random,
                     search_slice=search_on == "held-out"), progress)
    checkpoint = str(out / "lengthdrop" / "best")
    tokenizer, model, spec, ds, n0 = _search_data(checkpoint, base, search_on)
    layers = model.config.num_hidden_layers
    apply(model, full_config(layers))  # each candidate is applied over it in score()
    cap = search_examples if search_examples is not None else (200 if search_on == "dev" else len(ds))
    subset = sample_dataset(ds, cap, base.seed)

    def score(fractions):  # batched as every row is (runner.score_config): a small sample's wide batches would
        config = PowerConfig(keep_fractions=fractions)  # let short rows keep every token
        with applied(model, config):
            return score_config(model, tokenizer, subset, spec, config)["score"]

    def cost(fractions):
        return mean_gflops([n0], model.config, build_method(PowerConfig(keep_fractions=fractions)))

    front = search_front(score, cost, layers, max_drop, population, generations, base.seed)
    dense = mean_gflops([n0], model.config)
    chosen = [_choice(best_within(front, dense / s), s) for s in speedups]
    summary = {"checkpoint": checkpoint, "max_length": n0, "search_on": search_on, "search_examples": len(subset),
               "dense_gflops": dense,
               "front": [{"gflops": c, "score": sc, "keep_fractions": list(f)} for c, sc, f in front], "chosen": chosen}
    atomic.write_json(out / "search.json", summary)
    return summary


def _choice(point, target: float) -> dict:
    """The search's answer for one target: the best front config within budget (None: none reaches it)."""
    return {"target_speedup": target, "keep_fractions": None if point is None else list(point[2]),
            "search_score": None if point is None else point[1]}


def _search_data(checkpoint: str, base: FinetuneArgs, search_on: str):
    """Tokenizer, model, spec, the encoded search examples and the padded task length."""
    from ...data.batching import check_max_length, encode
    from ...engine.models import load_classifier, load_tokenizer
    from ...measure.runner import load_split
    from ...training.train import search_slice_examples

    if search_on == "dev":
        tokenizer, model, _, spec, ds, n0 = load_split(checkpoint, base.task, "dev", base.data_dir, base.max_length,
                                                       base.user)
        return tokenizer, model, spec, ds, n0
    spec, held = search_slice_examples(replace(base, search_slice=True))  # the slice LengthDrop did not train on
    tokenizer, model = load_tokenizer(checkpoint), load_classifier(checkpoint)
    n0 = check_max_length(tokenizer, model.config, base.max_length or spec.max_length)
    return tokenizer, model, spec, encode(tokenizer, held, n0)[0], n0


def lat_rows(summary: dict, dense: str, task: str, split: str, data_dir, max_length, bench=None):
    """One row per chosen config on the full split, labelled method "lat" (they run as PoWER-BERT profiles),
    beside the dense checkpoint's score; variant "lat", or "lat-dev-search" where the configs were picked on dev."""
    from ...measure.runner import evaluate_rows

    configs = [(c["target_speedup"], PowerConfig(keep_fractions=tuple(c["keep_fractions"])))
               for c in summary["chosen"] if c["keep_fractions"] is not None]
    dense_score = evaluate_rows(dense, task, split, data_dir, max_length=max_length)[0]["score"]  # the dense baseline's
    for row in evaluate_rows(summary["checkpoint"], task, split, data_dir, configs=configs, bench=bench,
                             max_length=max_length, dense_score=dense_score):
        search_on = summary.get("search_on", "dev")  # search.json files before session 12 searched on dev
        row.update(variant="lat" if search_on == "held-out" else "lat-dev-search", method="lat", search_on=search_on,
                   search_examples=summary["search_examples"])
        yield row
