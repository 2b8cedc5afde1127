"""Rewrite imports written against the flat pre-layout package (leanbert.runner, leanbert.config, ...) to the
layered layout (docs/architecture.md). Idempotent: imports already in the new layout are left alone.

    python tools/relayout.py FILE...            # tests, benchmarks, examples, new packages under src/leanbert
    python tools/relayout.py --moved FILE...    # files moved by the layout commit (resolved from their old place)

Merging a branch made before the layout: resolve conflicts in its favour for files under tests/ etc., then run
this on them. New modules it added under src/leanbert/ keep their place; this fixes what they import.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

MOVES = {  # old module -> new module
    "scoring": "core.scoring", "merging": "core.merging", "banded": "core.banded", "patterns": "core.patterns",
    "schedule": "core.schedule",
    "api": "engine.api", "config": "engine.config", "patch": "engine.patch", "models": "engine.models",
    "methods.base": "engine.method",
    "methods.power": "methods.power.method", "methods.acc": "methods.acc.method", "methods.fca": "methods.fca.method",
    "methods.tome": "methods.tome.method", "methods.ltp": "methods.ltp.method", "methods.sparse": "methods.sparse.method",
    "retention": "methods.power.retention", "pipeline": "methods.power.pipeline", "ltp_training": "methods.ltp.training",
    "learned_band": "methods.sparse.learned_band", "study": "methods.sparse.study", "lat": "methods.lat.lengthdrop",
    "elastic.profiles": "methods.acc.profiles", "elastic.command": "cli.elastic", "backbones.command": "cli.backbone",
    "elastic": "training.elastic", "elastic.losses": "training.elastic.losses",
    "elastic.pipeline": "training.elastic.pipeline", "elastic.recipe": "training.elastic.recipe",
    "elastic.search": "training.elastic.search",
    "data": "data.datasets", "tasks": "data.tasks", "batching": "data.batching", "syntax": "data.syntax",
    "evaluation": "measure.evaluation", "metrics": "measure.metrics", "flops": "measure.flops", "bench": "measure.bench",
    "latency": "measure.latency", "allocator": "measure.allocator", "runner": "measure.runner",
    "results": "report.results", "report": "report.render", "export": "deploy.export", "serve": "deploy.serve",
    "train": "training.train", "recipes": "training.recipes", "demo": "cli.demo",
    # packages other branches added before they met the layout
    **{f"runtimes{m}": f"deploy.runtimes{m}" for m in ("", ".accuracy", ".graphs", ".measure", ".runners", ".serving",
                                                       ".timing")},
    "embeddings.command": "cli.embed",
    "batcher": "deploy.batcher", "serve_app": "deploy.serve_app", "predict.command": "cli.predict",
}
NAME_MOVES = {  # (old module, name) -> the new module of a name that left its module
    **{("config", c): f"methods.{m}.config" for c, m in (("PowerConfig", "power"), ("ACCConfig", "acc"),
                                                          ("FCAConfig", "fca"), ("TomeConfig", "tome"),
                                                          ("LTPConfig", "ltp"), ("SparseConfig", "sparse"))},
    ("methods", "build_method"): "engine.registry",
    ("runner", "configs_for"): "measure.configs", ("runner", "check_options_used"): "measure.configs",
    ("runner", "patterned_layers"): "methods.sparse.options", ("runner", "mean_sparsity"): "measure.sparsity",
    ("runner", "layer_sparsity"): "measure.sparsity",
    ("pipeline", "ltp_pipeline"): "methods.ltp.pipeline", ("pipeline", "learned_band_pipeline"): "methods.sparse.pipeline",
    ("pipeline", "BAND_STAGE"): "methods.sparse.pipeline", ("pipeline", "lat_pipeline"): "methods.lat.pipeline",
    ("report", "fca_claim_section"): "methods.fca.report", ("report", "study_section"): "methods.sparse.report",
    ("report", "sparse_section"): "methods.sparse.report", ("report", "combination_section"): "methods.sparse.report",
    ("report", "sparse_speed_section"): "methods.sparse.report", ("report", "deployment_section"): "report.speed",
    ("report", "repeatability_section"): "report.speed", ("report", "speed_rows"): "report.speed",
    ("patch", "attention_with_stats"): "engine.attention", ("patch", "attention_with_kernel"): "engine.attention",
    ("patch", "project_heads"): "engine.attention", ("patch", "hf_mask"): "engine.masks",
    ("patch", "pair_mask"): "engine.masks", ("patch", "proportional_mask"): "engine.masks",
    ("patch", "key_mask_from_hf"): "engine.masks", ("train", "ACCSampler"): "methods.acc.tuning",
}
SRC = Path(__file__).resolve().parents[1] / "src" / "leanbert"


def is_new_module(dotted: str) -> bool:
    """Whether leanbert.<dotted> names a module or package of the new layout."""
    path = SRC.joinpath(*dotted.split(".")) if dotted else SRC
    return path.is_dir() or path.with_suffix(".py").is_file()


def new_name(old: str, names: list[str] | None = None) -> str:
    """The new module for an old dotted name ('' is the package); `names` imported from it disambiguate
    old modules that became packages (leanbert.data, leanbert.report)."""
    if old in MOVES:
        if names is not None and is_new_module(old) and all(is_new_module(f"{old}.{n}") for n in names):
            return old  # already the new package: `from leanbert.data import batching`
        return MOVES[old]
    return old


def rewrite_from(module: str, names_text: str) -> list[tuple[str, str]]:
    """[(new module, names text)] for `from leanbert.<module> import <names_text>`."""
    names = [n.strip() for n in names_text.strip("() \n").replace("\n", " ").split(",") if n.strip()]
    plain = [n.split(" as ")[0].strip() for n in names]
    target = new_name(module, plain)
    moved_names = [(full, NAME_MOVES.get((module, n)) or NAME_MOVES.get((_old_of(module), n))) for n, full in zip(plain, names)]
    if any(dest for _, dest in moved_names):
        groups: dict[str, list[str]] = {}
        for full, dest in moved_names:
            groups.setdefault(dest or target, []).append(full)
        return [(mod, ", ".join(ns)) for mod, ns in groups.items()]
    if not any((f"{module}.{n}" if module else n) in MOVES for n in plain):
        return [(target, names_text)]
    groups: dict[str, list[str]] = {}  # `from leanbert import a, b`: each old module to its new package
    for name, full in zip(plain, names):
        sub = f"{module}.{name}" if module else name
        moved = new_name(sub) if sub in MOVES and not is_new_module(sub) else sub
        if moved == sub:
            groups.setdefault(target, []).append(full)
            continue
        parent, _, leaf = moved.rpartition(".")
        alias = full.split(" as ")[1] if " as " in full else name
        groups.setdefault(parent, []).append(leaf if leaf == alias else f"{leaf} as {alias}")
    return [(mod, ", ".join(ns)) for mod, ns in groups.items()]


def _old_of(module: str) -> str | None:
    return next((old for old, new in MOVES.items() if new == module), None)


FROM = re.compile(r"^(?P<indent>[ \t]*)from (?P<dots>\.*)(?P<mod>[\w.]*) import (?P<names>\([^)]*\)|[^\n#]*)", re.M)


def absolute(file_pkg: list[str], dots: str, mod: str) -> str | None:
    """The dotted name under leanbert of a (possibly relative) import, or None when outside leanbert."""
    if not dots:
        if mod == "leanbert" or mod.startswith("leanbert."):
            return mod[len("leanbert."):] if "." in mod else ""
        return None
    base = file_pkg[: len(file_pkg) - (len(dots) - 1)]
    return ".".join(base + ([mod] if mod else []))


def relative(file_pkg: list[str], target: str) -> str:
    parts = target.split(".") if target else []
    common = 0
    while common < min(len(parts), len(file_pkg)) and parts[common] == file_pkg[common]:
        common += 1
    dots = "." * (len(file_pkg) - common + 1)
    return dots + ".".join(parts[common:])


def rewrite(text: str, old_pkg: list[str] | None, new_pkg: list[str] | None) -> str:
    def replace(m: re.Match) -> str:
        if m["dots"] and old_pkg is None:
            return m[0]  # a relative import outside leanbert
        mod = absolute(old_pkg, m["dots"], m["mod"]) if m["dots"] else absolute([], "", m["mod"])
        if mod is None:
            return m[0]
        out = []
        for target, names in rewrite_from(mod, m["names"]):
            head = relative(new_pkg, target) if m["dots"] else ("leanbert." + target if target else "leanbert")
            out.append(f"{m['indent']}from {head} import {names.rstrip()}")
        trailing = m["names"][len(m["names"].rstrip()):]
        return "\n".join(out) + trailing

    text = FROM.sub(replace, text)
    text = DOTTED.sub(lambda m: "leanbert." + new_name(m[1]) if not _already_new(m[1], m.string, m.end())
                      else m[0], text)
    for (old, name), dest in NAME_MOVES.items():
        text = re.sub(rf"(?<![\w.])leanbert\.({re.escape(old)}|{re.escape(MOVES.get(old, old))})\.{name}\b",
                      f"leanbert.{dest}.{name}", text)
    return text


OLD = sorted(MOVES, key=len, reverse=True)
DOTTED = re.compile(r"(?<!from )(?<![\w.])leanbert\.(" + "|".join(re.escape(o) for o in OLD) + r")(?![\w])")


def _already_new(old: str, text: str, end: int) -> bool:
    follow = re.match(r"\.(\w+)", text[end:])
    return bool(follow) and is_new_module(old) and is_new_module(f"{old}.{follow[1]}")


def package_of(path: Path) -> list[str] | None:
    parts = path.resolve().parts
    if "leanbert" not in parts or "src" not in parts:
        return None
    inner = list(parts[parts.index("leanbert") + 1:])
    return inner[:-1]


def moved_from() -> dict[str, str]:
    out = subprocess.run(["git", "log", "--diff-filter=R", "-M", "--name-status", "--format=", "--grep", "^layout: move"],
                         capture_output=True, text=True, check=True).stdout
    return {Path(new).resolve().as_posix(): Path(old).resolve().as_posix()
            for status, old, new in (line.split("\t") for line in out.splitlines() if line.startswith("R"))}


def main(argv: list[str]) -> None:
    moved = argv and argv[0] == "--moved"
    renames = moved_from() if moved else {}
    for name in argv[1:] if moved else argv:
        path = Path(name)
        new_pkg = package_of(path)
        old_path = Path(renames.get(path.resolve().as_posix(), path.resolve().as_posix()))
        old_pkg = package_of(old_path)
        text = path.read_text()
        out = rewrite(text, old_pkg, new_pkg)
        if out != text:
            path.write_text(out)
            print(f"rewrote {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
