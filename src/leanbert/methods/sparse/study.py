"""`leanbert study sparse`: the Breaking BERT grid -- pattern families at matched sparsity, placed on all
layers or on the later half, evaluated as they are (epochs 0) or after fine-tuning with the mask.

Matched sparsity: each family has one integer knob (neighbour width, random keys per query, lexical
top-t; BigBird turns width and random keys together). For a target sparsity the runner picks the largest
knob whose mean measured sparsity on the task's dev examples is still >= the target (sparsity falls as the
knob grows), so every family is compared at (at least) the same sparsity. The value found and the
sparsity reached are in each row.
"""
from __future__ import annotations

import functools
from pathlib import Path

from ...data import syntax
from .config import SparseConfig
from ...errors import ConfigError

# family -> how its knob k becomes pattern fields; global_cls only where the family is about it
FAMILIES = {
    "neighbour": lambda k: dict(width=k, global_cls=False),
    "random": lambda k: dict(n_random=k, global_cls=False),
    "lexical": lambda k: dict(lexical_top=k, global_cls=False),
    "global+neighbour": lambda k: dict(width=k, global_cls=True),
    "bigbird": lambda k: dict(width=max(1, k // 2), n_random=max(1, k - k // 2), global_cls=True),
    # a parse has no edge to [CLS]: without the global link [CLS] attends only to itself and the classifier
    # sees no input (measured on MRPC: constant predictions at every placement), so syntax keeps [CLS] global
    "syntax": lambda k: dict(syntax_hops=k, global_cls=True),
}
# knob ranges: a family's sparsity stops changing past its upper bound (a parse tree of a 512-piece input
# is far less than 64 hops deep), so the binary search stays short
MAX_KNOB = {"syntax": 64}
LEARNED_LR_SOFT, LEARNED_INIT_WIDTH = 0.3, 16.0  # the learn-band defaults: widths start at 16 and move ~0.3/step
DEFAULT_MAX_KNOB = 256


def placement_layers(placement: str, num_layers: int) -> tuple[int, ...]:
    if placement == "all":
        return tuple(range(num_layers))
    if placement == "later":
        return tuple(range(num_layers // 2, num_layers))
    if placement.startswith("from"):
        start = int(placement[4:])
        if not 0 <= start < num_layers:
            raise ConfigError(f"invalid config field 'placement': {placement} (layers 0-{num_layers - 1})")
        return tuple(range(start, num_layers))
    raise ConfigError(f"invalid config field 'placement': {placement!r}, choose all, later or fromN")


def pattern_config(family: str, knob: int, layers: tuple[int, ...], num_layers: int) -> SparseConfig:
    if family not in FAMILIES:
        raise ConfigError(f"invalid config field 'family': {family!r}, choose from {sorted(FAMILIES)}")
    return SparseConfig.for_layers(num_layers, layers, **FAMILIES[family](knob))


def match_knob(family: str, target: float, layers, num_layers: int, measure) -> tuple[int, float]:
    """Largest knob whose measured sparsity is >= target (binary search; sparsity falls as the knob grows).
    `measure(config) -> sparsity`. Returns (knob, sparsity reached)."""
    if not 0 < target < 1:
        raise ConfigError(f"invalid config field 'sparsity': {target} must be in (0, 1)")
    lo, hi = 1, MAX_KNOB.get(family, DEFAULT_MAX_KNOB)
    best = (1, measure(pattern_config(family, 1, layers, num_layers)))
    if best[1] < target:
        return best  # even the sparsest setting of this family stays below the target: reported as is
    while lo < hi:
        mid = (lo + hi + 1) // 2
        s = measure(pattern_config(family, mid, layers, num_layers))
        if s >= target:
            lo, best = mid, (mid, s)
        else:
            hi = mid - 1
    return best


def run_study(task: str, dense: str, out_dir: Path, families, placements, sparsities, epochs: float = 0.0,
              data_dir=None, results: Path | None = None, finetune_args: dict | None = None,
              learned_lambdas=(), control: bool = False) -> list[dict]:
    """Evaluate every cell; with epochs > 0 each cell is first fine-tuned from `dense` with its mask.
    `learned_lambdas`: also learn neighbour degrees (learned_band.py) at each lambda and placement; those
    rows land at whatever sparsity the lambda reaches (family "learned", knob = lambda, no target).
    `control`: also fine-tune `dense` with the same recipe and no mask (family "dense-control", sparsity 0):
    a cell's loss against it is the mask's, not the extra epoch's or the training subsample's.
    A cell whose fine-tuned checkpoint already has a row in `results` is not run again (an interrupted study
    resumes instead of training again and appending the row twice; zero-shot studies have nothing to resume)."""
    if (learned_lambdas or control) and epochs <= 0:
        raise ConfigError("invalid config field 'epochs': learned degrees and the dense control are trained, "
                          "give --epochs > 0")
    from ...engine.registry import build_method
    from ...report.results import append
    from ...measure.runner import evaluate_rows, load_split
    from ...measure.sparsity import mean_sparsity

    tokenizer, model, _, _, ds, n0 = load_split(dense, task, "dev", data_dir, None)  # embeddings: the lexical input
    if "syntax" in families:
        syntax.attach(ds, tokenizer, n0)
    common = dict(task=task, dense=dense, epochs=epochs, data_dir=data_dir, finetune_args=finetune_args or {},
                  dense_score=evaluate_rows(dense, task, "dev", data_dir)[0]["score"])
    cells = _control_cells(out_dir, common) if control else []
    cells += _pattern_cells(out_dir, common, families, placements, sparsities, model.config.num_hidden_layers,
                            lambda config: mean_sparsity(build_method(config), model, ds))
    cells += _learned_cells(out_dir, common, placements, learned_lambdas, model.config.num_hidden_layers)
    rows, finished = [], _finished_cells(results) if epochs > 0 else {}
    for checkpoint, run, labels in cells:
        if str(checkpoint) in finished:
            rows.append(finished[str(checkpoint)])
            continue
        row = run()
        row.update(study="sparse", epochs=epochs, **labels)
        rows.append(row)
        if results:
            append(results, row)
    return rows


def _control_cells(out_dir: Path, common: dict) -> list:
    """(checkpoint, run, labels) of the dense control: the same recipe, no mask."""
    cell_dir = out_dir / "dense-control"
    return [(cell_dir / "best", lambda: _evaluate_cell(config=None, cell_dir=cell_dir, **common),
             dict(family="dense-control", placement="none", target_sparsity=None, knob=0, sparsity=0.0))]


def _pattern_cells(out_dir: Path, common: dict, families, placements, sparsities, num_layers: int, measure) -> list:
    """(checkpoint, run, labels) of every family x placement x target, each at its matched knob."""
    cells = []
    for family in families:
        for placement in placements:
            layers = placement_layers(placement, num_layers)
            for target in sparsities:
                knob, reached = match_knob(family, target, layers, num_layers, measure)
                config = pattern_config(family, knob, layers, num_layers)
                cell_dir = out_dir / f"{family}-{placement}-{target}"
                run = functools.partial(_evaluate_cell, config=config, cell_dir=cell_dir, **common)
                cells.append((cell_dir / "best", run, dict(family=family, placement=placement, target_sparsity=target,
                                                            knob=knob, sparsity=round(reached, 4))))
    return cells


def _learned_cells(out_dir: Path, common: dict, placements, learned_lambdas, num_layers: int) -> list:
    """(checkpoint, run, labels) of the learned neighbour degrees at each lambda and placement."""
    from .pipeline import BAND_STAGE

    cells = []
    for placement in placements if learned_lambdas else ():
        start = placement_layers(placement, num_layers)[0]
        for lam in learned_lambdas:
            cell_dir = out_dir / f"learned-{placement}-{lam:g}"
            run = functools.partial(_learned_cell, lam=lam, start=start, cell_dir=cell_dir, **common)
            cells.append((cell_dir / BAND_STAGE / "best", run,
                          dict(family="learned", placement=placement, target_sparsity=None, knob=lam)))
    return cells


def _finished_cells(results: Path | None) -> dict[str, dict]:
    """Rows of fine-tuned cells already in `results`, by checkpoint."""
    from ...atomic import read_jsonl

    if not results or not Path(results).is_file():
        return {}
    return {r["checkpoint"]: r for r in read_jsonl(results) if r.get("study") == "sparse" and r.get("epochs", 0) > 0}


def _learned_cell(task, dense, lam, start, epochs, cell_dir: Path, data_dir, dense_score, finetune_args) -> dict:
    from .pipeline import learned_band_pipeline
    from ...measure.runner import evaluate_rows
    from ...training.train import FinetuneArgs

    base = FinetuneArgs(task=task, output_dir=str(cell_dir), model=dense, data_dir=data_dir, epochs=epochs, **finetune_args)
    summary = learned_band_pipeline(base, lam, LEARNED_LR_SOFT, LEARNED_INIT_WIDTH, start, progress=False)
    return evaluate_rows(summary["checkpoint"], task, "dev", data_dir, method="saved", dense_score=dense_score)[0]


def _evaluate_cell(task, dense, config, epochs, cell_dir: Path, data_dir, dense_score, finetune_args) -> dict:
    """One cell's row; `config` None: the dense control (fine-tuned the same way, evaluated without a mask)."""
    from ...measure.runner import evaluate_rows
    from ...training.train import FinetuneArgs, finetune

    if epochs <= 0:  # the mask on the dense checkpoint as it is
        return evaluate_rows(dense, task, "dev", data_dir, configs=[(None, config)], dense_score=dense_score)[0]
    args = FinetuneArgs(task=task, output_dir=str(cell_dir), model=dense, data_dir=data_dir, epochs=epochs,
                        apply_config=config.to_dict() if config is not None else None, **finetune_args)
    finetune(args, progress=False)
    return evaluate_rows(str(cell_dir / "best"), task, "dev", data_dir, method="saved" if config is not None else "dense",
                         dense_score=dense_score)[0]


def parse_grid(families: str, placements: str, sparsities: str):
    fams = [f.strip() for f in families.split(",") if f.strip()]
    unknown = [f for f in fams if f not in FAMILIES]
    if unknown or not fams:
        raise ConfigError(f"invalid config field 'families': {unknown or families!r}, choose from {sorted(FAMILIES)}")
    places = [p.strip() for p in placements.split(",") if p.strip()]
    try:
        targets = [float(s) for s in sparsities.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"invalid config field 'sparsity': {sparsities!r}") from None
    return fams, places, targets


COMPONENTS = ("global", "random", "neighbour")


def combination_configs(widths, randoms, layers, num_layers) -> list[tuple[dict, SparseConfig]]:
    """Study 2: every BigBird-style combination global + random(r) + neighbour(w) over the given degrees,
    and each with one component removed. Returns (labels, config) pairs; labels name what is present."""
    cells = []  # a removal shared by two cells (without neighbour: same for every width) is run for each
    for w in widths:
        for r in randoms:
            full = dict(global_cls=True, n_random=r, width=w)
            variants = [("global+random+neighbour", full)] + [
                (f"without {c}", {**full, **{"global": dict(global_cls=False), "random": dict(n_random=0),
                                             "neighbour": dict(width=0)}[c]}) for c in COMPONENTS]
            for removed, fields in variants:
                labels = dict(combination=removed, width=w, n_random=r, global_cls=fields["global_cls"],
                              pattern_width=fields["width"], pattern_random=fields["n_random"])
                cells.append((labels, SparseConfig.for_layers(num_layers, layers, **fields)))
    return cells


def run_combinations(task: str, dense: str, widths, randoms, placement: str = "later", data_dir=None,
                     results: Path | None = None) -> list[dict]:
    """Study 2 on the dense checkpoint as it is (masks applied at inference): one row per cell, with the
    measured sparsity, so removing a component can be read as accuracy lost per sparsity gained."""
    from ...engine.models import load_config
    from ...report.results import append
    from ...measure.runner import evaluate_rows

    num_layers = load_config(dense).num_hidden_layers  # evaluate_rows loads the model
    cells = combination_configs(widths, randoms, placement_layers(placement, num_layers), num_layers)
    rows = evaluate_rows(dense, task, "dev", data_dir, configs=[(None, cfg) for _, cfg in cells])
    for (labels, _), row in zip(cells, rows):
        row.update(study="combination", placement=placement, **labels)
        if results:
            append(results, row)
    return rows
