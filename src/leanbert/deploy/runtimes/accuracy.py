"""The task-accuracy half of an exported graph's verification (`leanbert export --task`): the graph and PyTorch
fp32 (same model, same profile) score the task's split on the same batches; a graph that loses more than
`max_drop` points is an error and is removed, like one that fails the logit check."""
from __future__ import annotations

import json
from pathlib import Path

from ...engine.api import current_config
from ...atomic import write_json
from ...errors import LeanbertError
from ...measure.evaluation import evaluate
from .runners import OrtRunner


def task_check(model, graph, checkpoint, task: str, data_dir=None, split: str = "dev", max_drop: float = 1.0) -> dict:
    """Both scores, recorded in GRAPH.json under `task_check`; raises past `max_drop` points."""
    from ...measure.runner import load_split

    tokenizer, _, _, spec, ds, _ = load_split(checkpoint, task, split, data_dir, None)
    equal = current_config(model) is not None  # reduced: batches of one length each, as result rows are scored
    reference = evaluate(model, tokenizer, ds, spec, equal_length=equal)["score"]
    score = evaluate(OrtRunner(graph), tokenizer, ds, spec, equal_length=equal)["score"]
    check = {"task": spec.name, "split": split, "metric": spec.metric, "torch_fp32": round(reference, 4),
             "graph": round(score, 4), "max_drop": max_drop}
    meta = Path(str(graph) + ".json")
    if not score >= reference - max_drop:
        Path(graph).unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
        raise LeanbertError(f"the graph scores {score:.2f} {spec.metric} on {spec.name} {split}, PyTorch fp32 "
                            f"{reference:.2f}: more than --max-drop {max_drop:g} points lower (graph removed)")
    write_json(meta, {**json.loads(meta.read_text(encoding="utf-8")), "task_check": check})
    return check
