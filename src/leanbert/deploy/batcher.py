"""Dynamic batching for `leanbert serve`: concurrent requests run together as one forward pass.

Requests wait in one queue. A single worker thread takes the oldest request, waits at most `max_wait`
seconds for company, and runs it together with the queued requests that share its speedup and length
bucket (powers of two of the padded length), up to `max_texts` texts. The oldest request always goes
next, so no request starves behind a busier group. Grouping by length matters beyond padding: a reduction's
keep counts are fractions of the batch's padded length, so a short text batched with long ones would keep
more tokens than it would alone.

The queue is bounded (`max_queue` requests): beyond it a request gets 503 at once instead of waiting
unboundedly. `close()` refuses new requests (503) and returns once every queued one is answered.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import torch

from .serve import Classifier, RequestError


@dataclass
class Job:
    speedup: float | None
    config: object
    features: list[dict]
    truncated: list[bool]
    arrived: float = field(default_factory=time.monotonic)
    future: Future = field(default_factory=Future)

    @property
    def key(self) -> tuple:
        longest = max(len(f["input_ids"]) for f in self.features)
        return self.speedup, (longest - 1).bit_length()  # same speedup, padded length within a power of two


class Batcher:
    def __init__(self, classifier: Classifier, max_texts: int = 64, max_wait: float = 0.005, max_queue: int = 256,
                 batching: bool = True):
        self.classifier, self.max_texts, self.max_wait, self.max_queue = classifier, max_texts, max_wait, max_queue
        self.batching = batching  # off: one request per forward (the server as it was, for comparison)
        self._queue: list[Job] = []
        self._ready = threading.Condition()
        self._closing = False
        self._worker: threading.Thread | None = None

    def prepare(self, texts: list[str], pairs: list[str] | None, speedup: float | None) -> Job:
        """Checks and tokenises a request (any thread); errors are RequestErrors with the status to answer."""
        c = self.classifier
        c.check(texts, pairs)
        config = c.config_for(speedup)
        features, truncated = c.encode(texts, pairs)
        return Job(speedup, config, features, truncated)

    def submit(self, job: Job) -> Future:
        with self._ready:
            if self._closing:
                raise RequestError("the server is shutting down; retry on another instance", 503)
            if len(self._queue) >= self.max_queue:
                raise RequestError(f"server busy: {len(self._queue)} requests queued (limit {self.max_queue}); "
                                   "retry shortly", 503)
            self._queue.append(job)
            if self._worker is None:  # started on first use: an app built without a lifespan still serves
                self._worker = threading.Thread(target=self._loop, name="leanbert-batcher", daemon=True)
                self._worker.start()
            self._ready.notify()
        return job.future

    def queued(self) -> int:
        return len(self._queue)

    def close(self, timeout: float | None = None) -> None:
        """Refuse new requests, finish the queued ones, stop the worker."""
        with self._ready:
            self._closing = True
            self._ready.notify_all()
        if self._worker is not None:
            self._worker.join(timeout)

    def _loop(self) -> None:
        while True:
            jobs = self._take()
            if not jobs:
                return
            self._run(jobs)

    def _take(self) -> list[Job]:
        """The next batch: the oldest job and its group, once the group is full or the oldest has waited enough."""
        with self._ready:
            while not self._queue:
                if self._closing:
                    return []
                self._ready.wait()
            first = self._queue[0]
            while self.batching and not self._closing:
                left = first.arrived + self.max_wait - time.monotonic()
                if left <= 0 or self._group_texts(first) >= self.max_texts:
                    break
                self._ready.wait(left)
            jobs = self._group(first) if self.batching else [first]
            self._queue = [j for j in self._queue if all(j is not taken for taken in jobs)]
            return jobs

    def _group(self, first: Job) -> list[Job]:
        jobs, texts = [first], len(first.features)
        for job in self._queue[1:]:
            if job.key == first.key and texts + len(job.features) <= self.max_texts:
                jobs.append(job)
                texts += len(job.features)
        return jobs

    def _group_texts(self, first: Job) -> int:
        return sum(len(j.features) for j in self._queue if j.key == first.key)

    def _run(self, jobs: list[Job]) -> None:
        c = self.classifier
        try:
            batch = c.pad([f for j in jobs for f in j.features])
            logits, ms = c.forward(batch, jobs[0].config)  # (sum of texts, labels)
            n0 = batch["input_ids"].shape[1]
            parts = torch.split(logits, [len(j.features) for j in jobs])
            for job, part in zip(jobs, parts):
                out = c.respond(part, job.config, n0, job.speedup, ms, job.truncated)
                out["batch"] = {"requests": len(jobs), "texts": len(logits)}
                job.future.set_result(out)
        except Exception as e:  # every waiting request gets an answer, never a hang
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(e)
