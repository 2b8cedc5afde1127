"""Zero-shot quality of reduced sentence embeddings against the FLOPs they cost (issue 21).

For each variant (dense; ToMe merging; PoWER-BERT/ACC-style dropping, at several speedups and starting layers,
under each pooling rule), three measures on the base encoder with mean pooling, no training:
- STS-B dev: Spearman (x100) of the cosine similarity of each pair against the gold score;
- BBC test split: retrieval MAP (x100), each article querying the others, relevant = same category;
- MRPC dev: ROC AUC (x100) of the pair's cosine similarity for "paraphrase".
`flops_ratio` is dense / reduced encoder FLOPs, counted per text at its own length (batches hold one length
only, so each text keeps what its count assumes), averaged over every text the three sets embed.
Accuracy only: timings need an idle machine (the command for them is in docs/benchmarks.md).

    python -m benchmarks.embeddings --data-dir ../shared/data/glue --results results/embeddings/minilm.jsonl
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from leanbert.atomic import append_jsonl, read_jsonl
from leanbert.embeddings import config_for, embed, load_encoder

TASKS = ("stsb", "mrpc", "bbc")
DEFAULT_SPEEDUPS = (1.25, 1.5, 2.0, 2.5, 3.0)
DEFAULT_VARIANTS = ("tome", "tome-from2", "power", "power-survivors", "acc")
VARIANTS = {  # name: (method, start_layer, rule)
    "tome": ("tome", 0, "exit"), "tome-from2": ("tome", 2, "exit"), "tome-from3": ("tome", 3, "exit"),
    "power": ("power", 0, "exit"), "power-survivors": ("power", 0, "survivors"),
    "power-from2": ("power", 2, "exit"), "acc": ("acc", 0, "exit"),
}


def load_sets(data_dir: str | None, tasks=TASKS) -> dict:
    """{'stsb': (a, b, gold), 'mrpc': (a, b, labels), 'bbc': (texts, labels)}, the tasks asked for."""
    from leanbert.data.datasets import load_bbc, load_glue

    out = {}
    for task in [t for t in ("stsb", "mrpc") if t in tasks]:
        dev = load_glue(task, data_dir, splits=("dev",)).split("dev")
        out[task] = ([e.text_a for e in dev], [e.text_b for e in dev], np.array([e.label for e in dev], dtype=float))
    if "bbc" in tasks:
        test = load_bbc().split("test")
        out["bbc"] = ([e.text_a for e in test], np.array([e.label for e in test]))
    return out


def all_texts(sets: dict) -> list[str]:
    return [text for task, parts in sets.items() for text in (parts[0] + parts[1] if task != "bbc" else parts[0])]


def mean_average_precision(emb: np.ndarray, labels: np.ndarray) -> float:
    """Each item queries all others by cosine (embeddings are normalised); relevant: the same label."""
    sim = emb @ emb.T
    np.fill_diagonal(sim, -np.inf)
    order = np.argsort(-sim, axis=1)[:, :-1]  # (N, N-1) the others, nearest first
    relevant = labels[order] == labels[:, None]  # (N, N-1)
    hits = relevant.cumsum(axis=1)
    precision = hits / np.arange(1, relevant.shape[1] + 1)
    return float(((precision * relevant).sum(axis=1) / relevant.sum(axis=1).clip(min=1)).mean())


def scores(emb: dict[str, np.ndarray], sets: dict) -> dict:
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    def cosine(task):
        n = len(sets[task][0])
        return (emb[task][:n] * emb[task][n:]).sum(axis=1)

    measures = {"stsb_spearman": lambda: spearmanr(cosine("stsb"), sets["stsb"][2]).statistic,
                "mrpc_auc": lambda: roc_auc_score(sets["mrpc"][2], cosine("mrpc")),
                "bbc_map": lambda: mean_average_precision(emb["bbc"], sets["bbc"][1])}
    return {name: 100 * float(f()) for name, f in measures.items() if name.split("_")[0] in emb}


def embed_sets(model, tokenizer, sets: dict, config, rule: str, batch_size: int, max_length: int) -> dict:
    """{task: embeddings} of the sets loaded (pairs: first texts, then second texts)."""
    def run(texts):
        return embed(model, tokenizer, texts, config, batch_size=batch_size, max_length=max_length, rule=rule)

    return {task: run(parts[0] + parts[1] if task != "bbc" else parts[0]) for task, parts in sets.items()}


def flops_ratio(model, lengths: list[int], config) -> float:
    from leanbert.measure.flops import mean_gflops
    from leanbert.engine.registry import build_method

    if config is None:
        return 1.0
    return mean_gflops(lengths, model.config) / mean_gflops(lengths, model.config, build_method(config))


def rows(model, tokenizer, max_length: int, sets: dict, variants, speedups, batch_size: int, skip=frozenset()):
    """One result row per (variant, speedup), the dense row first; (variant, speedup) pairs in `skip` are not run."""
    lengths = [len(x) for x in tokenizer(all_texts(sets), truncation=True, max_length=max_length)["input_ids"]]
    grid = [("dense", "tome", 1.0, 0, "exit")] + [(v, *VARIANTS[v][:1], s, *VARIANTS[v][1:]) for s in speedups
                                                    for v in variants]
    for variant, method, speedup, start, rule in grid:
        if (variant, speedup) in skip:
            continue
        config = config_for(model, method, speedup, n0=max_length, start_layer=start)
        started = time.perf_counter()
        measured = scores(embed_sets(model, tokenizer, sets, config, rule, batch_size, max_length), sets)
        yield {"variant": variant, "method": "dense" if config is None else method, "target_speedup": speedup,
               "start_layer": start, "pooling": rule, "flops_ratio": round(flops_ratio(model, lengths, config), 4),
               **{k: round(v, 2) for k, v in measured.items()}, "config": None if config is None else config.to_dict(),
               "seconds_under_load": round(time.perf_counter() - started, 1)}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.embeddings", description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="a local base model (default: the shipped all-MiniLM-L6-v2)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--results", default="results/embeddings/minilm.jsonl")
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help=f"from {', '.join(VARIANTS)}")
    p.add_argument("--speedups", default=",".join(f"{s:g}" for s in DEFAULT_SPEEDUPS))
    p.add_argument("--tasks", default=",".join(TASKS), help="a row measures these (its flops_ratio over their texts)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--skip-dense", action="store_true", help="no dense row (another process makes it)")
    return p


def main(argv=None) -> None:
    a = build_parser().parse_args(argv)
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    model, tokenizer, max_length = load_encoder(a.model)
    variants = [v for v in a.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"error: unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}")
    tasks = tuple(t for t in TASKS if t in a.tasks.split(","))
    name = a.model or "all-MiniLM-L6-v2"
    done = {(r["variant"], r["target_speedup"]) for r in _existing(a.results)
            if tuple(r["tasks"]) == tasks and r.get("model", "all-MiniLM-L6-v2") == name}
    done |= {("dense", 1.0)} if a.skip_dense else set()
    speedups = [float(s) for s in a.speedups.split(",") if s]  # none: the dense row only
    for row in rows(model, tokenizer, max_length, load_sets(a.data_dir, tasks), variants, speedups, a.batch_size, done):
        append_jsonl(a.results, {"model": name, "tasks": list(tasks), **row})
        print({k: v for k, v in row.items() if k not in ("config", "start_layer", "pooling", "method")}, flush=True)


def _existing(path: str) -> list[dict]:
    from pathlib import Path

    return read_jsonl(path) if Path(path).is_file() else []


if __name__ == "__main__":
    main()
