"""`leanbert serve`: health, classification at a requested speedup, and clear 4xx answers."""
import pytest
import torch

import leanbert
from conftest import tiny_model
from leanbert.deploy.serve import Classifier, Limits, create_app

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402




def client(path, **limits):
    return TestClient(create_app(Classifier(path, max_length=32, limits=Limits(**limits))))


def test_health_reports_the_model_and_limits(acc_dir):
    body = client(acc_dir).get("/health").json()
    assert body["status"] == "ok" and body["speedup_adjustable"] is True and body["max_speedup"] > 2


def test_classify_equals_the_model_at_speedup_one_and_reduces_at_two(acc_dir, tiny_tokenizer):
    c = client(acc_dir)
    texts = ["the movie was very good and the plot was great", "bad film"]
    dense = c.post("/classify", json={"texts": texts}).json()
    assert "probabilities" in dense, dense  # a 422 here once meant the body was read as a query parameter
    model = leanbert.remove(leanbert.from_pretrained(acc_dir))
    with torch.no_grad():
        expected = model(**tiny_tokenizer(texts, padding=True, return_tensors="pt")).logits.softmax(-1)
    torch.testing.assert_close(torch.tensor(dense["probabilities"]), expected, atol=1e-5, rtol=0)
    fast = c.post("/classify", json={"texts": texts, "speedup": 2}).json()
    n0 = len(tiny_tokenizer(texts[0])["input_ids"])
    # the profile is solved at the serving length (32); this 12-token batch rounds to a little less
    assert fast["keep_counts"][-1] < n0 and fast["predicted_speedup"] > 1.5 and len(fast["labels"]) == 2


def test_pairs_truncation_and_odd_unicode(acc_dir):
    c = client(acc_dir)
    long = "good " * 500
    body = c.post("/classify", json={"texts": [long, "héllo wörld 🙂 \u0007 猫"], "text_pairs": ["a", "b"]}).json()
    assert body["truncated"] == [True, False]
    assert all(abs(sum(p) - 1) < 1e-4 for p in body["probabilities"])


@pytest.mark.parametrize("payload, status, words", [
    ({"texts": []}, 400, "texts"),
    ({"texts": ["   "]}, 400, "texts[0]"),
    ({"texts": ["good", ""]}, 400, "texts[1]"),
    ({"texts": ["good"], "speedup": 0.5}, 400, "speedup"),
    ({"texts": ["good"], "speedup": 1000}, 400, "speedup"),
    ({"texts": ["good"], "text_pairs": ["a", "b"]}, 400, "text_pairs"),
    ({"texts": ["good"] * 5}, 413, "at most 4"),
    ({"texts": ["x" * 101]}, 413, "characters"),
    ({"texts": "good"}, 422, None),
    ({"text": ["good"]}, 422, None),
])
def test_bad_requests_get_a_clear_4xx(acc_dir, payload, status, words):
    response = client(acc_dir, max_texts=4, max_chars=100).post("/classify", json=payload)
    assert response.status_code == status
    if words:
        assert words in response.json()["detail"]


def test_oversized_body_is_refused_before_parsing(acc_dir):
    response = client(acc_dir, max_body_bytes=1000).post("/classify", content=b'{"texts": ["' + b"a" * 5000 + b'"]}',
                                                          headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_fixed_profile_model_refuses_a_speedup(tiny_model_dir):
    model = leanbert.from_pretrained(tiny_model_dir)
    leanbert.apply(model, leanbert.PowerConfig(keep_counts=(6, 4, 2)))
    model.save_pretrained(tiny_model_dir)
    c = client(tiny_model_dir)
    assert c.post("/classify", json={"texts": ["good movie"]}).status_code == 200
    response = c.post("/classify", json={"texts": ["good movie"], "speedup": 2})
    assert response.status_code == 400 and "fixed profile" in response.json()["detail"]


def test_regression_model_returns_values(tmp_path, tiny_tokenizer):
    model = tiny_model(num_labels=1, vocab_size=64)
    model.config.problem_type = "regression"
    model.save_pretrained(tmp_path)
    tiny_tokenizer.save_pretrained(tmp_path)
    body = client(tmp_path).post("/classify", json={"texts": ["good"]}).json()
    assert len(body["values"]) == 1 and "labels" not in body
