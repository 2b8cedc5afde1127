"""`leanbert serve`: an HTTP server (FastAPI + uvicorn) for a saved classifier.

A model fine-tuned with ACC offline tuning can run at any speedup without retraining, so each request
may name its own target speedup; the profile for it is solved once at the serving length and cached, and
passed to the model per call (`model(..., leanbert_config=...)`), so requests never change shared state.
Models with a fixed profile (PoWER-BERT, FCA) or none (dense) run as saved and refuse a speedup.

Limits are checked before any model work: request body size (413), number of texts and characters per
text (413), empty or whitespace-only texts and impossible speedups (400, message names the field);
malformed JSON or wrong types get FastAPI's 422. Texts longer than the serving length are truncated
(standard for BERT classifiers), and the response says which were.
"""

import math
import threading
import time
from dataclasses import dataclass

import torch

from ..engine.api import current_config
from ..data.batching import check_max_length
from ..methods.acc.config import ACCConfig
from ..methods.acc.profiles import profile_for, saved_table
from ..errors import ConfigError, LeanbertError
from ..measure.evaluation import check_finite
from ..measure.flops import model_dims
from ..engine.registry import build_method, has
from ..engine.models import load_classifier, load_tokenizer
from ..core.schedule import max_speedup, predicted_speedup, solve_fractions


PROFILE_CACHE = 256  # solved ACC profiles kept


@dataclass(frozen=True)
class Limits:
    max_texts: int = 64  # texts per request
    max_chars: int = 20_000  # characters per text, before tokenisation
    max_body_bytes: int = 2_000_000
    max_tokens: int = 16_384  # per request, after truncation: bounds how long one request holds the model


class RequestError(LeanbertError):
    """A bad request; `status` is the HTTP code to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class Classifier:
    """The model side of the server, usable without HTTP: tokenise, pick the config, run, format."""

    def __init__(self, checkpoint, max_length: int = 128, limits: Limits = Limits()):
        self.tokenizer, self.model = load_tokenizer(checkpoint), load_classifier(checkpoint)
        self.limits = limits
        self.max_length = check_max_length(self.tokenizer, self.model.config, max_length)
        self.saved = current_config(self.model)
        self.adjustable = self.saved is not None and has(self.saved.method, "adjustable")  # ACC offline-tuned
        c = self.model.config
        hidden, ffn, layers, _ = model_dims(c)
        self.shape = dict(num_layers=layers, hidden=hidden, ffn=ffn)
        self.table = saved_table(self.model)  # an elastic checkpoint's searched profiles, if any
        self.max_speedup = max_speedup(n0=self.max_length, **self.shape) if self.adjustable else 1.0
        if self.table:
            self.max_speedup = self.table[-1]["speedup"]
        self.regression = c.problem_type == "regression" or c.num_labels == 1
        self.labels = [c.id2label[i] for i in range(c.num_labels)]
        self._profiles: dict[float, ACCConfig] = {}
        self._lock = threading.Lock()  # one forward at a time: torch already uses every thread it was given
        # A fast tokenizer's truncation setting is state on the shared Rust object: two requests tokenising at once
        # raise "Already borrowed" or, worse, one gets the other's truncation. Tokenising is short; serialise it.
        self._tokenizer_lock = threading.Lock()

    def info(self) -> dict:
        return {"status": "ok", "max_length": self.max_length, "labels": None if self.regression else self.labels,
                "config": self.saved.to_dict() if self.saved else None, "speedup_adjustable": self.adjustable,
                "max_speedup": math.floor(self.max_speedup * 1000) / 1000, "limits": self.limits.__dict__}

    def config_for(self, speedup: float | None):
        """The config a request runs: the saved one, or (ACC) the profile for `speedup`, cached."""
        if speedup is None:
            return self.saved
        if not self.adjustable:
            raise RequestError("invalid field 'speedup': this model runs a fixed profile (it was not fine-tuned "
                               "with ACC offline tuning); leave speedup out")
        if self.table:  # the searched profile for this budget (the next faster one when between budgets)
            try:
                return profile_for(self.model, speedup)
            except ConfigError as e:
                raise RequestError(str(e)) from None
        if speedup not in self._profiles:
            try:
                fractions = solve_fractions(speedup, n0=self.max_length, **self.shape)
            except ConfigError as e:
                raise RequestError(f"{e} (allowed: 1 to {self.max_speedup:.2f})") from None
            if len(self._profiles) >= PROFILE_CACHE:  # distinct speedups are unbounded: forget the oldest
                self._profiles.pop(next(iter(self._profiles)), None)
            self._profiles[speedup] = ACCConfig(keep_fractions=fractions, score=self.saved.score)
        return self._profiles[speedup]

    def check(self, texts: list[str], pairs: list[str] | None) -> None:
        if not texts:
            raise RequestError("invalid field 'texts': give at least one text")
        if len(texts) > self.limits.max_texts:
            raise RequestError(f"invalid field 'texts': {len(texts)} texts, at most {self.limits.max_texts} per request", 413)
        if pairs is not None and len(pairs) != len(texts):
            raise RequestError(f"invalid field 'text_pairs': {len(pairs)} pairs for {len(texts)} texts")
        for field, values in (("texts", texts), ("text_pairs", pairs or [])):
            for i, t in enumerate(values):
                if len(t) > self.limits.max_chars:
                    raise RequestError(f"invalid field '{field}[{i}]': {len(t)} characters, at most "
                                       f"{self.limits.max_chars}", 413)
                if not t.strip():
                    raise RequestError(f"invalid field '{field}[{i}]': empty or whitespace-only text")
                if not t.isascii():
                    _check_unicode(t, f"{field}[{i}]")

    def predict(self, texts: list[str], pairs: list[str] | None = None, speedup: float | None = None) -> dict:
        """One request on its own (the server batches requests together: batcher.py)."""
        self.check(texts, pairs)
        config = self.config_for(speedup)
        features, truncated = self.encode(texts, pairs)
        batch = self.pad(features)
        logits, ms = self.forward(batch, config)
        return self.respond(logits, config, batch["input_ids"].shape[1], speedup, ms, truncated)

    def pad(self, features: list[dict]) -> dict:
        with self._tokenizer_lock:
            return self.tokenizer.pad(features, return_tensors="pt")

    def encode(self, texts: list[str], pairs: list[str] | None) -> tuple[list[dict], list[bool]]:
        """Token ids per text (truncated to the serving length) and which were truncated; a request over the
        token budget is refused before it can hold the model for long (413)."""
        with self._tokenizer_lock:
            full = self.tokenizer(texts, pairs, truncation=False)["input_ids"]
            enc = self.tokenizer(texts, pairs, truncation=True, max_length=self.max_length)
        tokens = sum(len(ids) for ids in enc["input_ids"])
        if tokens > self.limits.max_tokens:
            raise RequestError(f"invalid field 'texts': {tokens} tokens after truncation, at most "
                               f"{self.limits.max_tokens} per request", 413)
        keys = [k for k in ("input_ids", "token_type_ids", "attention_mask") if k in enc]
        features = [{k: enc[k][i] for k in keys} for i in range(len(texts))]
        return features, [len(ids) > self.max_length for ids in full]

    def forward(self, batch, config) -> tuple[torch.Tensor, float]:
        """Logits (B, labels) and model milliseconds; one forward at a time."""
        start = time.perf_counter()
        with self._lock, torch.inference_mode():
            try:  # a model that computes NaN/inf is the server's fault: a JSON 500 naming it, never null probabilities
                logits = check_finite(self.run_model(batch, config))  # (B, labels)
            except LeanbertError as e:
                raise RequestError(str(e), 500) from None
        return logits, round(1000 * (time.perf_counter() - start), 2)

    def run_model(self, batch: dict, config) -> torch.Tensor:
        """Logits of one tokenised batch under `config` (runtimes.serving runs exported graphs instead)."""
        kwargs = {"leanbert_config": config} if config is not None else {}
        return self.model(**batch, **kwargs).logits

    def respond(self, logits, config, n0: int, speedup, ms: float, truncated: list[bool]) -> dict:
        out = {"speedup": speedup, "milliseconds": ms, "truncated": truncated}
        if config is not None:
            plan = build_method(config).plan(n0)
            predicted = predicted_speedup(plan, n0, self.shape["hidden"], self.shape["ffn"])
            out.update(keep_counts=plan, predicted_speedup=round(predicted, 3))
        if self.regression:
            out["values"] = logits[:, 0].tolist()
        else:
            probs = logits.softmax(dim=-1)
            out["labels"] = [self.labels[i] for i in probs.argmax(dim=-1).tolist()]
            out["probabilities"] = [[round(p, 6) for p in row] for row in probs.tolist()]
        return out


def _check_unicode(text: str, field: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\\ud800") would be a TypeError inside the tokenizer
        raise RequestError(f"invalid field '{field}': an unpaired surrogate, not valid Unicode text") from None


def create_app(classifier: Classifier, **options):
    """The FastAPI app (serve_app.py): GET /health, POST /classify, requests batched together under load."""
    from .serve_app import create_app as make

    return make(classifier, **options)
