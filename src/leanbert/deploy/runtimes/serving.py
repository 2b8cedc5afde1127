"""`leanbert serve --runtime onnxruntime`: the HTTP server of serve.py answering from exported graphs.

Per-request speedups with exported graphs: **one graph per profile**. A graph holds one reduction profile
(its keep counts are functions of the length, but which tokens each layer keeps is fixed in the graph), so
the server is given one graph per speedup it offers (`--graph` repeated, each written by `leanbert export`
with its PATH.json). A request's `speedup` picks the graph with the smallest predicted FLOPs speedup at the
serving length that is at least the one asked for; no speedup picks the first graph given. With no --graph
the server exports the checkpoint's saved config once at start-up.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from ...engine.config import config_from_dict
from ...errors import LeanbertError
from ...engine.registry import build_method
from ...core.schedule import predicted_speedup
from ..serve import Classifier, Limits, RequestError
from .graphs import export_runtime_graph
from .runners import OrtRunner


def graph_info(path) -> tuple:
    """(leanbert config or None for dense, the export record PATH.json); refuses a graph without its record."""
    meta = Path(str(path) + ".json")
    if not Path(path).is_file() or not meta.is_file():
        raise LeanbertError(f"--graph {path}: needs the .onnx file and the {meta.name} that `leanbert export` writes")
    info = json.loads(meta.read_text(encoding="utf-8"))
    return (config_from_dict(info["leanbert"]) if info.get("leanbert") else None), info


class GraphClassifier(Classifier):
    """Classifier (tokeniser, limits, labels from the checkpoint) whose forward runs onnxruntime graphs."""

    def __init__(self, checkpoint, graphs=(), max_length: int = 128, limits: Limits = Limits(), runtime: str = "onnxruntime",
                 precision: str = "fp32", threads: int | None = None):
        super().__init__(checkpoint, max_length, limits)
        self._exported = None
        if not graphs:  # the saved config, exported once for this server's lifetime
            self._exported = tempfile.TemporaryDirectory()
            graphs = [Path(self._exported.name) / "model.onnx"]
            export_runtime_graph(self.model, graphs[0], runtime, precision)
        self.graphs = [self._entry(path, threads) for path in graphs]  # (speedup, config, runner), in given order
        self.adjustable = len(self.graphs) > 1
        self.max_speedup = max(s for s, _, _ in self.graphs)

    def _entry(self, path, threads) -> tuple:
        config, info = graph_info(path)
        runner = OrtRunner(path, threads, info.get("runtime", "onnxruntime"), info.get("precision", "fp32"))
        labels = runner.session.get_outputs()[0].shape[-1]
        if isinstance(labels, int) and labels != len(self.labels):
            raise LeanbertError(f"--graph {path}: {labels} outputs, but the checkpoint has {len(self.labels)} labels")
        speedup = 1.0
        if config is not None:
            plan = build_method(config).plan(self.max_length)
            speedup = predicted_speedup(plan, self.max_length, self.shape["hidden"], self.shape["ffn"])
        return round(speedup, 3), config, runner

    def info(self) -> dict:
        graphs = [{"predicted_speedup": s, "config": c.to_dict() if c else None, "onnx": r.path, "runtime": r.runtime,
                   "precision": r.precision} for s, c, r in self.graphs]
        return {**super().info(), "runtime": "onnxruntime", "graphs": graphs}

    def config_for(self, speedup: float | None):
        if speedup is None:
            return self.graphs[0][1]
        fits = [g for g in self.graphs if g[0] >= speedup]
        if not fits:
            offered = ", ".join(f"{s:g}" for s, _, _ in self.graphs)
            raise RequestError(f"invalid field 'speedup': {speedup:g} is beyond this server's graphs (speedups {offered})")
        return min(fits, key=lambda g: g[0])[1]

    def run_model(self, batch: dict, config):
        runner = next(r for _, c, r in self.graphs if c is config)
        return runner.predict(batch)
