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

import threading
import time
from dataclasses import dataclass

import torch

from ..engine.api import current_config
from ..data.batching import check_max_length
from ..methods.acc.profiles import profile_for, saved_table
from ..errors import ConfigError, LeanbertError
from ..measure.evaluation import check_finite
from ..measure.flops import model_dims
from ..engine.registry import build_method, has
from ..engine.models import load_classifier, load_tokenizer
from ..core.schedule import max_speedup, predicted_speedup, solve_fractions


@dataclass(frozen=True)
class Limits:
    max_texts: int = 64  # texts per request
    max_chars: int = 20_000  # characters per text, before tokenisation
    max_body_bytes: int = 2_000_000


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
        self._profiles: dict[float, object] = {}
        self._lock = threading.Lock()  # one forward at a time: torch already uses every thread it was given

    def info(self) -> dict:
        return {"status": "ok", "max_length": self.max_length, "labels": None if self.regression else self.labels,
                "config": self.saved.to_dict() if self.saved else None, "speedup_adjustable": self.adjustable,
                "max_speedup": round(self.max_speedup, 3), "limits": self.limits.__dict__}

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
            self._profiles[speedup] = self.saved.replace(keep_fractions=fractions)  # the tuned config, re-profiled
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

    def forward(self, batch: dict, config) -> torch.Tensor:
        """Logits of one tokenised batch under `config` (runtimes.serving serves exported graphs instead)."""
        kwargs = {"leanbert_config": config} if config is not None else {}
        return self.model(**batch, **kwargs).logits

    def predict(self, texts: list[str], pairs: list[str] | None = None, speedup: float | None = None) -> dict:
        self.check(texts, pairs)
        config = self.config_for(speedup)
        full = self.tokenizer(texts, pairs, truncation=False)["input_ids"]
        batch = self.tokenizer(texts, pairs, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")
        n0 = batch["input_ids"].shape[1]
        start = time.perf_counter()
        with self._lock, torch.inference_mode():
            try:  # a model that computes NaN/inf is the server's fault: a JSON 500 naming it, never null probabilities
                logits = check_finite(self.forward(batch, config))  # (B, labels)
            except LeanbertError as e:
                raise RequestError(str(e), 500) from None
        out = {"speedup": speedup, "milliseconds": round(1000 * (time.perf_counter() - start), 2),
               "truncated": [len(ids) > self.max_length for ids in full]}
        if config is not None:
            plan = build_method(config).plan(n0)
            speedup = predicted_speedup(plan, n0, self.shape["hidden"], self.shape["ffn"])
            out.update(keep_counts=plan, predicted_speedup=round(speedup, 3))
        if self.regression:
            out["values"] = logits[:, 0].tolist()
        else:
            probs = logits.softmax(dim=-1)
            out["labels"] = [self.labels[i] for i in probs.argmax(dim=-1).tolist()]
            out["probabilities"] = [[round(p, 6) for p in row] for row in probs.tolist()]
        return out


def create_app(classifier: Classifier):
    """The FastAPI app: GET /health, POST /classify."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, ConfigDict

    class ClassifyRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        texts: list[str]
        text_pairs: list[str] | None = None
        speedup: float | None = None

    app = FastAPI(title="leanbert", summary="BERT classifier with adjustable token reduction")

    @app.middleware("http")
    async def bound_body(request: Request, call_next):
        declared = request.headers.get("content-length")
        too_big = declared is not None and declared.isdigit() and int(declared) > classifier.limits.max_body_bytes
        if not too_big and request.method == "POST":
            too_big = len(await request.body()) > classifier.limits.max_body_bytes  # chunked bodies have no length
        if too_big:
            return JSONResponse({"detail": f"request body larger than {classifier.limits.max_body_bytes} bytes"}, 413)
        return await call_next(request)

    @app.exception_handler(RequestError)
    async def bad_request(request: Request, exc: RequestError):
        return JSONResponse({"detail": str(exc)}, exc.status)

    @app.get("/health")
    def health() -> dict:
        return classifier.info()

    @app.post("/classify")
    def classify(req: ClassifyRequest) -> dict:
        return classifier.predict(req.texts, req.text_pairs, req.speedup)

    return app


def serve(checkpoint, host: str = "127.0.0.1", port: int = 8000, max_length: int = 128, limits: Limits = Limits(),
          classifier: Classifier | None = None) -> None:
    """Serve `checkpoint` in PyTorch, or the given `classifier` (e.g. runtimes.serving.GraphClassifier)."""
    try:
        import uvicorn
    except ImportError:
        raise LeanbertError("serving needs the deploy extra: pip install 'leanbert[deploy]'") from None
    app = create_app(classifier or Classifier(checkpoint, max_length, limits))
    uvicorn.run(app, host=host, port=port, log_level="warning")
