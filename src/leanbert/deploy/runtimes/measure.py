"""A runtime and precision as one object the evaluation and bench commands hand around: it checks the configs
it is asked to run, builds a runner per config (exporting one graph per profile for onnxruntime), scores it on
the task's batches and, with a RuntimeBench, times it against dense fp32 PyTorch."""
from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ...engine.api import applied
from ...errors import ConfigError, LeanbertError
from ...measure.evaluation import evaluate
from . import check_runtime
from .graphs import export_runtime_graph
from .runners import OrtRunner, TorchRunner


@dataclass(frozen=True)
class Runtime:
    """`graph_dir`: keep each verified fp32 export there and reuse it for the other graph runtimes and precisions
    of the same checkpoint and config (the export is the slow step; the transforms take seconds)."""
    runtime: str = "torch"
    precision: str = "fp32"
    graph_dir: str | None = None

    def __post_init__(self):
        check_runtime(self.runtime, self.precision)

    @property
    def exports(self) -> bool:
        return self.runtime != "torch"

    def check(self, configs) -> None:
        """Refuse, before any scoring, a config this runtime cannot run (onnxruntime: what export refuses)."""
        from ..export import exportable_config

        if not self.exports:
            return
        for config in configs:
            try:
                exportable_config(config)
            except ConfigError as e:
                raise LeanbertError(f"--runtime {self.runtime} runs exported graphs: {e}") from None

    def runner(self, model, config, workdir) -> tuple:
        """(runner, export info or {}) for `model` under `config` (None: dense)."""
        if not self.exports:
            return TorchRunner(model, config, self.precision), {}
        from ..export import exportable_config

        path = Path(workdir) / "graph.onnx"
        with applied(model, exportable_config(config)):  # min_tokens >= 2 in graphs (export.py)
            info = export_runtime_graph(model, path, self.runtime, self.precision, fp32=self._kept(model, config))
        runner = OrtRunner(path, threads=torch.get_num_threads(), runtime=self.runtime, precision=self.precision)
        return runner, info

    def _kept(self, model, config) -> Path | None:
        """Where the fp32 export of this checkpoint and config is kept (None: no graph_dir)."""
        if self.graph_dir is None:
            return None
        key = json.dumps([model.config._name_or_path, config.to_dict() if config else None], sort_keys=True)
        return Path(self.graph_dir) / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.onnx"

    def measure(self, model, config, tokenizer, ds, spec, bench=None) -> tuple[dict, dict]:
        """(score result with `row_fields`, timing) of this runtime on `config`; timing is {} without a bench."""
        with tempfile.TemporaryDirectory() as tmp:
            runner, info = self.runner(model, config, tmp)
            result = evaluate(runner, tokenizer, ds, spec, equal_length=config is not None)
            timing = bench.speedups(runner) if bench is not None else {}
        result["row_fields"] = self.row_fields(info)
        return result, timing

    def bench(self, checkpoint, task, split, data_dir, max_length, timing, user=None):
        """The timing harness this runtime is measured with (against dense fp32 PyTorch, dynamic padding)."""
        from .timing import runtime_bench

        return runtime_bench(checkpoint, task, split, data_dir, max_length, timing, user)

    def time(self, bench, config) -> dict:
        """`bench.speedups` of this runtime on `config`, with the row fields naming the runtime."""
        self.check([config])
        with tempfile.TemporaryDirectory() as tmp:
            runner, info = self.runner(bench.model, config, tmp)
            return {**bench.speedups(runner), **self.row_fields(info)}

    def row_fields(self, info: dict) -> dict:
        """What a results row records about the runtime: names, and for graphs the checks and fusions."""
        fields = {"runtime": self.runtime, "precision": self.precision}
        if info:
            fields["export"] = {"config": info["leanbert"], "tolerance": info["tolerance"], "fusions": info["fusions"],
                                "max_abs_diff": max(c["max_abs_diff"] for c in info["checks"])}
        return fields
