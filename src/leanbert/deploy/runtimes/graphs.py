"""Exported graphs for onnxruntime: fp32 as export.py writes it, optionally through onnxruntime's transformer
optimiser (model_type bert) and/or dynamic int8 quantisation, then verified against PyTorch fp32 on the logits.

Tolerances (max |logit difference| against the same model and profile in PyTorch fp32, at three lengths, batch
1 and 3 with padded rows): fp32 1e-4 (export.TOLERANCE), fused fp32 1e-3 (fused kernels reorder float sums),
int8 1.0 (weights rounded to 8 bits: a bound on gross errors such as a wrong keep count or a broken fusion,
not a statement about accuracy; the task score is checked separately, `leanbert export --task`).
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import tempfile
import warnings
from collections import Counter
from pathlib import Path

from ...atomic import atomic_path, write_json
from ...errors import ConfigError, LeanbertError
from ..export import TOLERANCE, export_and_verify, verify_onnx

TOLERANCES = {"fp32": TOLERANCE, "fused-fp32": 1e-3, "int8": 1.0, "int8-per-channel": 1.0}
# the operators the optimiser fuses into (and their int8 forms): which of them a reduced graph keeps is reported
FUSED_OPS = ("EmbedLayerNormalization", "Attention", "MultiHeadAttention", "QAttention", "SkipLayerNormalization",
             "LayerNormalization", "BiasGelu", "FastGelu", "Gelu", "DynamicQuantizeMatMul", "MatMulInteger",
             "DynamicQuantizeLinear")


def tolerance(runtime: str, precision: str) -> float:
    return TOLERANCES["fused-fp32" if precision == "fp32" and runtime == "onnxruntime-fused" else precision]


def fusion_counts(path) -> dict:
    """{operator: count} of the fused and quantised operators in the graph at `path` (only those present)."""
    import onnx

    ops = Counter(node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node)
    return {op: ops[op] for op in FUSED_OPS if ops[op]}


@contextlib.contextmanager
def _quiet():
    """The optimiser and quantiser log shape-inference notices and advice on every call; errors still raise."""
    root, level = logging.getLogger(), logging.getLogger().level
    root.setLevel(logging.ERROR)
    try:  # the optimiser also prints to stdout, where a command's JSON answer goes
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def _optimize(src: Path, dst: Path, hf_config) -> None:
    from onnxruntime.transformers.optimizer import optimize_model

    # model_type bert: the BERT fusion patterns (embedding + LayerNorm, attention, skip LayerNorm, bias GELU);
    # MiniLM and MPNet graphs use the same post-LN block, and what matches is counted, not assumed
    optimized = optimize_model(str(src), model_type="bert", num_heads=hf_config.num_attention_heads,
                               hidden_size=hf_config.hidden_size)
    optimized.save_model_to_file(str(dst))


def _quantize(src: Path, dst: Path, per_channel: bool) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=per_channel)


def transform_graph(src, dst, runtime: str, precision: str, hf_config) -> dict:
    """Write the fp32 graph `src` as `runtime`/`precision` to `dst` (atomically); returns its fusion counts."""
    if runtime not in ("onnxruntime", "onnxruntime-fused"):
        raise ConfigError(f"invalid config field 'runtime': {runtime!r} does not run exported graphs")
    with tempfile.TemporaryDirectory() as tmp, _quiet(), atomic_path(dst) as out:
        current = Path(src)
        if runtime == "onnxruntime-fused":
            _optimize(current, Path(tmp) / "fused.onnx", hf_config)
            current = Path(tmp) / "fused.onnx"
        if precision == "fp32":
            shutil.copyfile(current, out)
        else:
            _quantize(current, out, per_channel=precision == "int8-per-channel")
    return fusion_counts(dst)


def export_runtime_graph(model, path, runtime: str, precision: str, lengths=(7, 33, 100), example_length: int = 16,
                         fp32=None) -> dict:
    """Export `model` (its applied config, if any) for `runtime`/`precision`, verify it against PyTorch fp32
    at `lengths` within the stated tolerance, and write PATH.json with what was checked and which fusions are
    in the graph. The fp32 export is verified first (at 1e-4), so a failure says which stage broke. `fp32`: the
    path of that verified fp32 export of this model and config, when the caller kept one (it is reused)."""
    with tempfile.TemporaryDirectory() as tmp:
        if fp32 is None or not Path(str(fp32) + ".json").is_file():
            fp32 = fp32 or Path(tmp) / "fp32.onnx"
            export_and_verify(model, fp32, lengths, example_length)
        base = json.loads(Path(str(fp32) + ".json").read_text(encoding="utf-8"))
        fusions = transform_graph(fp32, path, runtime, precision, model.config)
    limit = tolerance(runtime, precision)
    try:
        checks = verify_onnx(model, path, lengths, tolerance=limit)
    except LeanbertError:
        Path(path).unlink(missing_ok=True)  # a graph that failed its check is not left where it would be used
        raise
    info = {**base, "onnx": str(path), "runtime": runtime, "precision": precision, "tolerance": limit,
            "checks": checks, "fp32_checks": base["checks"], "fusions": fusions}
    write_json(Path(str(path) + ".json"), info)
    return info
