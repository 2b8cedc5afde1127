"""What users run instead of (or on top of) token reduction: int8 and optimised runtimes, behind one interface.

A runtime is a pair (runtime, precision):
- runtime `torch` (eager PyTorch), `onnxruntime` (the exported graph, export.py) or `onnxruntime-fused` (that
  graph after onnxruntime's transformer optimiser: attention, SkipLayerNorm, BiasGelu fusions where they match);
- precision `fp32`, `int8` (dynamic quantisation of the linear layers / MatMuls, per-tensor weight scales) or
  `int8-per-channel` (one weight scale per output channel).
Every runner answers `runner.predict(batch) -> logits` (and `runner(**batch).logits`, so the evaluation loop
scores it like a model). Exported graphs hold one reduction profile each (docs/deployment.md, "int8 and
optimised runtimes"): per-request speedups choose among graphs, one per profile.
"""
from __future__ import annotations

from ...errors import LeanbertError

RUNTIMES = ("torch", "onnxruntime", "onnxruntime-fused")
PRECISIONS = ("fp32", "int8", "int8-per-channel")


def check_runtime(runtime: str, precision: str) -> None:
    """Refuse an unknown runtime or precision before any work, naming the option."""
    if runtime not in RUNTIMES:
        raise LeanbertError(f"--runtime {runtime}: unknown runtime (choose from {', '.join(RUNTIMES)})")
    if precision not in PRECISIONS:
        raise LeanbertError(f"--precision {precision}: unknown precision (choose from {', '.join(PRECISIONS)})")


def is_default(runtime: str, precision: str) -> bool:
    """The plain PyTorch fp32 model: the path every other command already measures."""
    return runtime == "torch" and precision == "fp32"


from .runners import OrtRunner, Runner, TorchRunner, quantize_torch  # noqa: E402
from .graphs import export_runtime_graph, fusion_counts, transform_graph  # noqa: E402

__all__ = ["RUNTIMES", "PRECISIONS", "check_runtime", "is_default", "Runner", "TorchRunner", "OrtRunner",
           "quantize_torch", "export_runtime_graph", "transform_graph", "fusion_counts"]
