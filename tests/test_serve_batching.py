"""`leanbert serve` under load: concurrent requests batched, a bounded queue (503), graceful shutdown, /health
at once, chunked bodies stopped at the limit, short error bodies."""
import asyncio
import threading
import time

import pytest
import torch

import leanbert
from leanbert.deploy.batcher import Batcher
from leanbert.deploy.serve import Classifier, Limits, RequestError

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from leanbert.deploy.serve_app import create_app  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture
def classifier(tiny_model_dir):
    model = leanbert.from_pretrained(tiny_model_dir)
    leanbert.apply(model, leanbert.ACCConfig(keep_fractions=(1.0, 1.0, 1.0)))
    model.save_pretrained(tiny_model_dir)
    return Classifier(tiny_model_dir, max_length=32, limits=Limits(max_texts=8))


def busy(batcher):
    """Hold the model (its lock) with one request the worker has already taken: what is submitted next queues."""
    batcher.submit(batcher.prepare(["good"], None, None))
    until(lambda: batcher.queued() == 0)


def until(condition, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def held(batcher, jobs):
    """Submit `jobs` while the model is busy, so they queue up together, then let it go."""
    with batcher.classifier._lock:
        busy(batcher)
        futures = [batcher.submit(j) for j in jobs]
    return [f.result(timeout=60) for f in futures]


def test_queued_requests_run_as_one_batch_and_equal_their_solo_answers(classifier):
    batcher = Batcher(classifier, max_wait=0.2)
    # every text 2 words (4 tokens): one length bucket, so all three requests queue for the same pass (an earlier
    # version mixed in a 4-word text, whose longer bucket is batched apart by design: 2 + 1 requests)
    requests = [["good movie"], ["bad film", "nice plot"], ["very nice"]]
    solo = [classifier.predict(texts) for texts in requests]
    answers = held(batcher, [batcher.prepare(t, None, None) for t in requests])
    assert [a["batch"] for a in answers] == [{"requests": 3, "texts": 4}] * 3
    for got, alone in zip(answers, solo):
        torch.testing.assert_close(torch.tensor(got["probabilities"]), torch.tensor(alone["probabilities"]), atol=1e-5,
                                   rtol=0)


def test_speedups_and_lengths_are_batched_apart(classifier):
    batcher = Batcher(classifier, max_wait=0.2)
    long = " ".join(["good movie"] * 12)
    jobs = [batcher.prepare(["good"], None, 2.0), batcher.prepare(["bad"], None, 1.5),
            batcher.prepare(["nice"], None, 2.0), batcher.prepare([long], None, 2.0)]
    sizes = [a["batch"]["requests"] for a in held(batcher, jobs)]
    assert sizes == [2, 1, 2, 1]


def test_no_batching_runs_one_request_per_forward(classifier):
    batcher = Batcher(classifier, batching=False)
    answers = held(batcher, [batcher.prepare(["good"], None, None) for _ in range(3)])
    assert [a["batch"]["requests"] for a in answers] == [1, 1, 1]


def test_a_full_queue_answers_503_and_shutdown_finishes_queued_work(classifier):
    batcher = Batcher(classifier, max_queue=2, max_wait=0)
    with classifier._lock:
        busy(batcher)
        futures = [batcher.submit(batcher.prepare(["good"], None, None)) for _ in range(2)]
        with pytest.raises(RequestError, match="server busy: 2 requests queued") as full:
            batcher.submit(batcher.prepare(["good"], None, None))
        assert full.value.status == 503
        closing = threading.Thread(target=batcher.close)
        closing.start()
        with pytest.raises(RequestError, match="shutting down"):
            batcher.submit(batcher.prepare(["good"], None, None))
    closing.join(60)
    assert not closing.is_alive() and all(len(f.result(timeout=0)["labels"]) == 1 for f in futures)


def test_health_answers_while_many_requests_wait_for_the_model(classifier):
    client = TestClient(create_app(classifier))
    results = []
    with classifier._lock:  # the model is busy for as long as this test says
        posts = [threading.Thread(target=lambda: results.append(client.post("/classify", json={"texts": ["good"]})),
                                  daemon=True) for _ in range(20)]
        for t in posts:
            t.start()
        health = []
        probe = threading.Thread(target=lambda: health.append(client.get("/health").json()), daemon=True)
        probe.start()
        probe.join(60)
        assert health and health[0]["status"] == "ok"  # answered with the model still held
    deadline = time.monotonic() + 120  # one budget for all, not a minute per thread
    for t in posts:
        t.join(max(0.0, deadline - time.monotonic()))
    assert len(results) == 20 and {r.status_code for r in results} == {200}


def test_queue_limit_reaches_http_as_503_with_retry_after(classifier):
    batcher = Batcher(classifier, max_queue=1, batching=False)
    client = TestClient(create_app(classifier, batcher=batcher))
    with classifier._lock:
        busy(batcher)  # the worker holds one request (waiting for the model) before anything queues
        queued = threading.Thread(target=lambda: client.post("/classify", json={"texts": ["good"]}), daemon=True)
        queued.start()
        until(lambda: client.get("/health").json()["queued"] >= 1)  # the queue is full
        response = client.post("/classify", json={"texts": ["bad"]})
    queued.join(60)
    assert not queued.is_alive() and response.status_code == 503 and response.headers["retry-after"] == "1"
    assert "server busy" in response.json()["detail"]


def test_a_chunked_body_is_counted_while_it_streams_and_stopped_at_the_limit(tiny_model_dir):
    app = create_app(Classifier(tiny_model_dir, max_length=32, limits=Limits(max_body_bytes=1000)))
    pulled, sent = [], []

    async def receive():
        pulled.append(1)
        return {"type": "http.request", "body": b"x" * 400, "more_body": len(pulled) < 10_000}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/classify", "raw_path": b"/classify", "query_string": b"", "root_path": "",
             "headers": [(b"transfer-encoding", b"chunked"), (b"content-type", b"application/json")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413 and len(pulled) <= 4  # 3 chunks pass the 1000-byte limit: reading stops


@pytest.mark.parametrize("payload, status, words", [
    (b'{"texts": ["' + b"a" * 5000 + b'", 3]}', 422, "invalid field 'texts.1'"),
    (b'{"texts": ["\\ud800"]}', 400, "texts[0]"),
    (b'{"texts": ["good"] * 2}', 422, "invalid JSON body"),
])
def test_errors_are_short_and_name_the_field(classifier, payload, status, words):
    response = TestClient(create_app(classifier)).post("/classify", content=payload,
                                                       headers={"content-type": "application/json"})
    assert response.status_code == status and words in response.json()["detail"], response.text
    assert len(response.content) < 400 and response.headers["x-request-id"]


def test_token_budget_bounds_one_request(tiny_model_dir):
    c = Classifier(tiny_model_dir, max_length=32, limits=Limits(max_tokens=40))
    with pytest.raises(RequestError, match="tokens after truncation, at most 40") as too_many:
        Batcher(c).prepare(["good movie " * 20, "bad film " * 20], None, None)
    assert too_many.value.status == 413


def test_api_key_guards_classify_and_health_reports_max_speedup_rounded_down(classifier):
    client = TestClient(create_app(classifier, api_key="s3cret"))
    assert client.post("/classify", json={"texts": ["good"]}).status_code == 401
    ok = client.post("/classify", json={"texts": ["good"]}, headers={"x-api-key": "s3cret"})
    assert ok.status_code == 200 and client.get("/docs", headers={"x-api-key": "s3cret"}).status_code == 404
    advertised = client.get("/health").json()["max_speedup"]
    assert advertised <= classifier.max_speedup and classifier.config_for(advertised) is not None


def test_concurrent_requests_tokenise_as_if_alone(classifier):
    """Tokenising sets truncation on the shared Rust tokenizer: requests from many threads must not see each
    other's setting (nor fail with "Already borrowed")."""
    long = " ".join(["good movie"] * 40)  # longer than max_length: truncated, while `full` is not
    alone = classifier.encode([long, "bad"], None)
    errors, answers = [], []

    def work():
        try:
            for _ in range(30):
                answers.append(classifier.encode([long, "bad"], None))
        except Exception as e:  # noqa: BLE001 - the test reports whatever a thread raised
            errors.append(e)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(answers) == 240 and all(a == alone for a in answers)
