"""Running `leanbert serve`: what a server process serves (`ServeSpec`), start-up, and `--workers N`: N server
processes on one port.

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

import gc
import json
import os
from dataclasses import asdict, dataclass, field

from ..errors import LeanbertError

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

    setup_logging()  # a spawned worker starts with no handler: its access log would be lost
    text = os.environ.get(SPEC_ENV)
    if not text:
        raise RuntimeError(f"{SPEC_ENV} is not set: this factory is started by `leanbert serve --workers N`")
    try:
        return build_app(ServeSpec.from_json(text))
    except Exception as e:  # noqa: BLE001 -- whatever it is, the worker cannot serve
        print(f"error: leanbert serve worker {os.getpid()} failed to start: {e}", file=sys.stderr, flush=True)
        sys.exit(STARTUP_FAILURE)


WORKER_START_S = 600  # how long a worker may take to answer the supervisor's first ping (imports, model load)


def serve(spec, host: str = "127.0.0.1", port: int = 8000, limit_concurrency: int | None = None,
          workers: int = 1) -> None:
    """Run the server for `spec` (ServeSpec) until SIGINT/SIGTERM; then in-flight and queued requests finish
    (up to 30 s) first. `workers` > 1: that many processes on one port (module docstring)."""
    try:
        import uvicorn
    except ImportError:
        raise LeanbertError("serving needs the deploy extra: pip install 'leanbert[deploy]'") from None
    if workers < 1:
        raise LeanbertError(f"--workers must be >= 1, got {workers}")
    # Built here even for several workers: a bad checkpoint or graph fails once, with its message, before any spawn
    classifier = build_classifier(spec)
    _announce(spec.checkpoint, host, port, classifier, workers)
    options = dict(host=host, port=port, log_level="warning", limit_concurrency=limit_concurrency,
                   timeout_keep_alive=5, timeout_graceful_shutdown=30)
    if workers == 1:  # workers=1 said outright: a WEB_CONCURRENCY in the environment would ask uvicorn for more
        uvicorn.run(build_app(spec, classifier), workers=1, **options)
        return
    del classifier  # each worker loads its own
    gc.collect()
    _run_workers(spec, workers, options)


def _run_workers(spec, workers: int, options: dict) -> None:
    """uvicorn's supervisor with `workers` processes (what uvicorn.run does for an import string), and an error
    when it stopped because a worker could not start rather than on a signal."""
    from uvicorn import Config
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    os.environ[SPEC_ENV] = spec.to_json()
    # the supervisor kills a worker that does not answer its ping in time; a spawned worker imports torch first
    config = Config("leanbert.deploy.workers:app_factory", factory=True, workers=workers,
                    timeout_worker_healthcheck=WORKER_START_S, **options)
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
        raise LeanbertError("a server worker failed to start (its message is above); the server stopped")


def setup_logging() -> None:
    """The access log (leanbert.deploy.serve, INFO) on stderr, in the server and in each worker process."""
    import logging
    import sys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)


def _announce(checkpoint, host: str, port: int, classifier, workers: int = 1) -> None:
    import ipaddress
    import sys

    setup_logging()
    processes = f"; {workers} worker processes" if workers > 1 else ""
    print(f"leanbert serve: {checkpoint} at http://{host}:{port} (max_length {classifier.max_length}{processes}); "
          f"access log on stderr", file=sys.stderr, flush=True)
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        print(f"warning: listening on {host}, beyond this machine; set LEANBERT_API_KEY to require an "
              "x-api-key header, and put TLS in front", file=sys.stderr, flush=True)
