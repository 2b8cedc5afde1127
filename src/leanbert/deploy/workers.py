"""What a `leanbert serve` process serves (`ServeSpec`), and `--workers N`: N server processes on one port.

On a CPU a classifier server is compute-bound: dynamic batching saves per-call overhead, not arithmetic
(docs/deployment.md measures +0-36%), and one process runs one forward at a time. More cores are the next
factor, and processes use them better than threads inside one forward (small batches scale poorly across
intra-op threads; the GIL serialises tokenising and JSON). With `--workers N` uvicorn's supervisor binds the
port once and starts N spawned processes that accept on it; each builds its own classifier and batcher
from the spec, so a request is batched with the requests its own worker received. A spawned process
inherits the environment, not Python objects, hence the spec travels as JSON in `SPEC_ENV`.

Each worker gets `threads` torch threads (default: the cores divided among the workers, at least one), so N
workers never oversubscribe the machine. SIGINT/SIGTERM reach every worker: each stops accepting, finishes
its in-flight and queued requests (up to 30 s), then exits.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

SPEC_ENV = "LEANBERT_SERVE_SPEC"


@dataclass(frozen=True)
class ServeSpec:
    """Everything a server process needs to build its classifier; JSON-serialisable for spawned workers."""
    checkpoint: str
    max_length: int | None = None  # None: the length the checkpoint was fine-tuned at
    limits: dict = field(default_factory=dict)  # serve.Limits fields
    batching: dict = field(default_factory=dict)  # batcher.Batcher options
    runtime: str = "torch"  # or onnxruntime / onnxruntime-fused (runtimes/serving.py)
    precision: str = "fp32"
    graphs: tuple[str, ...] = ()
    threads: int | None = None  # torch (and onnxruntime) threads per process; None: torch's default

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ServeSpec":
        data = json.loads(text)
        return cls(**{**data, "graphs": tuple(data.get("graphs", ()))})


def threads_per_worker(workers: int, threads: int | None) -> int | None:
    """The threads each of `workers` processes runs: as asked, else the cores this process may use (its affinity:
    taskset, a container's CPU set) shared out; one process: None, torch's own default."""
    if threads is not None or workers == 1:
        return threads
    return max(1, len(os.sched_getaffinity(0)) // workers)


def build_classifier(spec: ServeSpec):
    """The spec's classifier: PyTorch (serve.Classifier) or exported graphs (runtimes.serving.GraphClassifier)."""
    from ..predict.model import DEFAULT_LENGTH, trained_length
    from .serve import Classifier, Limits

    if spec.threads is not None:
        import torch

        torch.set_num_threads(spec.threads)
    length = spec.max_length or trained_length(spec.checkpoint) or DEFAULT_LENGTH
    limits = Limits(**spec.limits)
    if spec.runtime == "torch":
        return Classifier(spec.checkpoint, length, limits)
    from .runtimes.serving import GraphClassifier

    return GraphClassifier(spec.checkpoint, list(spec.graphs), length, limits, spec.runtime, spec.precision,
                           spec.threads)


def build_app(spec: ServeSpec, classifier=None):
    """The FastAPI app for `spec` (its classifier built here unless given), requests batched per `spec.batching`."""
    from .batcher import Batcher
    from .serve import create_app

    classifier = classifier or build_classifier(spec)
    return create_app(classifier, batcher=Batcher(classifier, **spec.batching))


def app_factory():
    """uvicorn's factory in each `--workers` process: the app for the spec the parent put in the environment.

    A failure exits with uvicorn's STARTUP_FAILURE code after printing why: the supervisor then stops instead of
    respawning a worker that would fail the same way forever, and `serve` reports it (any other exception would
    read to the supervisor as a crash, restarted in a loop)."""
    import sys

    from uvicorn.config import STARTUP_FAILURE

    from .serve import setup_logging

    setup_logging()  # a spawned worker starts with no handler: its access log would be lost
    text = os.environ.get(SPEC_ENV)
    if not text:
        raise RuntimeError(f"{SPEC_ENV} is not set: this factory is started by `leanbert serve --workers N`")
    try:
        return build_app(ServeSpec.from_json(text))
    except Exception as e:  # noqa: BLE001 -- whatever it is, the worker cannot serve
        print(f"error: leanbert serve worker {os.getpid()} failed to start: {e}", file=sys.stderr, flush=True)
        sys.exit(STARTUP_FAILURE)
