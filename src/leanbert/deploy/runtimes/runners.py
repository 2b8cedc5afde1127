"""Runners: one small interface over a PyTorch model (fp32 or dynamically quantised int8) and an onnxruntime
session, so evaluation, timing and serving treat every runtime alike."""
from __future__ import annotations

import copy
import warnings
from types import SimpleNamespace

import torch

from ...engine.api import applied


class Runner:
    """`predict(batch) -> logits (B, C)`; `runner(**batch)` returns an object with `.logits` and `eval()` is a
    no-op, so `evaluation.evaluate` scores a runner exactly as it scores a model."""
    runtime = "?"
    precision = "?"

    def predict(self, batch: dict) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, **batch):
        return SimpleNamespace(logits=self.predict(batch))

    def eval(self):
        return self


def quantize_torch(model, per_channel: bool = False):
    """A copy of `model` with every nn.Linear dynamically quantised to int8 (weights int8, activations quantised
    per batch at run time); the leanbert patch (and any applied config) is carried over by the copy."""
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

    qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    with warnings.catch_warnings():  # torch.ao's eager quantisation is deprecated in favour of torchao: still shipped
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear: qconfig}, dtype=torch.qint8).eval()


class TorchRunner(Runner):
    """A copy of the model with `config` (None: dense) applied, quantised for int8. Its own copy: the runner's
    state never changes the caller's model, and nothing is re-applied per call (timings see only the forward)."""
    runtime = "torch"

    def __init__(self, model, config=None, precision: str = "fp32"):
        self.config, self.precision = config, precision
        with applied(model, config):  # the copy keeps the patched encoder the config needs
            if precision == "fp32":
                self.model = copy.deepcopy(model).eval()
            else:
                self.model = quantize_torch(model, per_channel=precision == "int8-per-channel")

    @torch.inference_mode()
    def predict(self, batch: dict) -> torch.Tensor:
        return self.model(**batch).logits


class OrtRunner(Runner):
    """An exported graph in onnxruntime; feeds the graph's inputs (int64) from a batch of tensors."""
    runtime = "onnxruntime"

    def __init__(self, path, threads: int | None = None, runtime: str = "onnxruntime", precision: str = "fp32"):
        from ..export import onnx_session

        self.session = onnx_session(path, threads=threads)
        self.names = [i.name for i in self.session.get_inputs()]
        self.runtime, self.precision, self.path = runtime, precision, str(path)

    def feeds(self, batch: dict) -> dict:
        return {n: batch[n].numpy() for n in self.names}

    def predict(self, batch: dict) -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, self.feeds(batch))[0])
