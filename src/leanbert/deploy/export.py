"""ONNX export of a (reduced) classifier, dynamic in batch size and sequence length, checked with onnxruntime.

The keep counts are integer functions of the padded length (schedule.keep_counts is guard-free), so the
exported graph computes them for whatever length it is given instead of freezing the example's. Two
things are decided here, both documented in docs/deployment.md:
- only static-profile methods export (dense, power, acc, fca); ToMe's plan and the sparse patterns compare
  lengths in Python and are refused with a message;
- every reducing layer keeps at least 2 tokens in the graph ([CLS] and one more): the exporter cannot prove
  shape facts about a length that may be 1, so `min_tokens` is raised to 2 (the adjusted config is what
  gets verified, returned and written beside the .onnx file).
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import warnings
from pathlib import Path

import torch

from ..engine import registry
from ..engine.api import apply, current_config
from ..atomic import atomic_path, write_json
from ..errors import ConfigError, LeanbertError

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")  # BERT's; families without segments take two
TOLERANCE = 1e-4  # max |logit difference| accepted between onnxruntime and PyTorch (float32, both CPU)


class ClassifierLogits(torch.nn.Module):
    """The classifier as a function of int64 tensors to logits: the signature ONNX users expect (input_ids,
    attention_mask, and token_type_ids where the family has segments)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        types = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **types).logits


def input_names(model) -> tuple[str, ...]:
    from ..backbones import for_model

    return for_model(model).input_names()


def max_positions(model) -> int:
    from ..backbones import for_model

    return for_model(model).max_length(model.config)


def exportable_config(config):
    """The config the graph will run (min_tokens >= 2), or a ConfigError naming why it cannot export."""
    if config is None:
        return None
    if not registry.has(config.method, "exportable"):
        exportable = [name for name, spec in sorted(registry.specs().items()) if spec.exportable]
        raise ConfigError(f"invalid config field 'method': {config.method!r} cannot be exported to ONNX "
                          f"(its token counts depend on comparisons of the length); exportable: dense, "
                          f"{', '.join(exportable)}")
    if config.pattern is not None:
        raise ConfigError("invalid config field 'pattern': a sparse pattern composed with the reduction cannot be exported")
    if config.keep_counts is not None and min(config.keep_counts) < 2:
        raise ConfigError("invalid config field 'keep_counts': ONNX export needs every layer to keep >= 2 tokens")
    return config if config.min_tokens >= 2 else dataclasses.replace(config, min_tokens=2)


def example_inputs(vocab_size: int, batch: int, length: int, seed: int = 0, padded: bool = True) -> tuple:
    """Random token ids ([CLS]=101-like position 0 kept real), rows of decreasing real length, a second
    segment in the back half: exercises padding and token types at any length."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab_size, (batch, length), generator=g)
    mask = torch.ones(batch, length, dtype=torch.long)
    types = torch.zeros(batch, length, dtype=torch.long)
    types[:, length // 2:] = 1
    if padded:
        for row in range(1, batch):
            real = max(2, length - (length * row) // (2 * batch))
            mask[row, real:] = 0
            ids[row, real:] = 0
    return ids, mask, types


def export_onnx(model, path, example_length: int = 16) -> dict:
    """Write `model` (with its applied leanbert config, if any) to `path` as ONNX; returns the config used.

    The model is changed in place only by raising min_tokens to 2 (see the module docstring).
    """
    try:
        import onnxscript  # noqa: F401 - torch's ONNX exporter needs it; fail with the install line instead
    except ImportError:
        raise LeanbertError("ONNX export needs the deploy extra: pip install 'leanbert[deploy]'") from None
    config = exportable_config(current_config(model))
    if config is not None:
        apply(model, config)
    max_length, names = max_positions(model), input_names(model)
    example = example_inputs(model.config.vocab_size, 2, min(example_length, max_length))[:len(names)]
    batch, seq = torch.export.Dim("batch", min=1, max=4096), torch.export.Dim("sequence", min=2, max=max_length)
    wrapper = ClassifierLogits(model).eval()
    shapes = {n: {0: batch, 1: seq} for n in names}
    with torch.no_grad(), _quiet_exporter():
        program = torch.export.export(wrapper, example, dynamic_shapes=shapes,
                                      strict=False, prefer_deferred_runtime_asserts_over_guards=True)
        onnx_program = torch.onnx.export(program, example, input_names=list(names), output_names=["logits"],
                                         dynamo=True, verbose=False)
    with atomic_path(path) as tmp:
        onnx_program.save(str(tmp))
    return {"leanbert": config.to_dict() if config is not None else None}


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter logs optional-package notices and deprecation warnings that bury our one-line output."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def verify_onnx(model, path, lengths, batch: int = 3, tolerance: float = TOLERANCE) -> list[dict]:
    """Max |ORT - PyTorch| on the logits at each length (padded rows included); raises past `tolerance`."""
    session, names = onnx_session(path), input_names(model)
    checks = []
    for length, rows in [(n, b) for n in lengths for b in (1, batch)]:
        inputs = example_inputs(model.config.vocab_size, rows, length, seed=length)[:len(names)]
        with torch.no_grad():
            expected = ClassifierLogits(model)(*inputs)
        got = session.run(None, {n: t.numpy() for n, t in zip(names, inputs)})[0]
        diff = float((torch.from_numpy(got) - expected).abs().max())
        checks.append({"length": length, "batch": rows, "max_abs_diff": diff})
        if not diff <= tolerance:
            raise LeanbertError(f"ONNX output differs from PyTorch at batch {rows}, length {length}: max |diff| {diff:.3g} > "
                                f"{tolerance:g}")
    return checks


def onnx_session(path, threads: int | None = None):
    try:
        import onnxruntime
    except ImportError:
        raise LeanbertError("running ONNX models needs the deploy extra: pip install 'leanbert[deploy]'") from None
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def export_and_verify(model, path, lengths=(7, 33, 100), example_length: int = 16) -> dict:
    """Export, check at `lengths` (none equal to the example's), and write PATH.json with what was checked."""
    exportable_config(current_config(model))  # refuse an unexportable config before anything else
    if example_length in lengths:
        raise ConfigError(f"invalid config field 'lengths': verify at lengths other than the example's ({example_length})")
    limit = max_positions(model)
    too_long = [n for n in lengths if not 2 <= n <= limit]
    if too_long:
        raise ConfigError(f"invalid config field 'lengths': {too_long} outside [2, {limit}]")
    info = export_onnx(model, path, example_length)
    info.update(onnx=str(path), example_length=example_length, tolerance=TOLERANCE,
                checks=verify_onnx(model, path, lengths), torch=torch.__version__)
    write_json(Path(str(path) + ".json"), info)
    return info
