"""Soft extraction: rank-wise scaling, penalty, clipping, counts, and gradients into the weights."""
import torch

from leanbert.methods.power.retention import RetentionWeights, SoftExtractionMethod, attach_search, detach_search
from conftest import make_batch, tiny_model


def test_soft_extraction_scales_tokens_by_rank_weight():
    w = RetentionWeights(1, 4)
    with torch.no_grad():
        w.weight[0] = torch.tensor([1.0, 0.5, 0.25, 0.0])
    method = SoftExtractionMethod(w)
    hidden = torch.ones(1, 4, 2)
    scores = torch.tensor([[0.1, 0.9, 0.3, 0.5]])  # ranks: [CLS] 0, then token1, token3, token2
    out, mask, _ = method.reduce(hidden, torch.ones(1, 4, dtype=torch.bool), scores, 4, 0)
    torch.testing.assert_close(out[0, :, 0], torch.tensor([1.0, 0.5, 0.0, 0.25]))


def test_penalty_weights_later_layers_more_and_counts_are_monotone():
    w = RetentionWeights(3, 10)
    assert w.penalty().item() == (1 + 2 + 3) * 10
    with torch.no_grad():
        w.weight[0, 6:] = 0.0
        w.weight[1, 8:] = 0.0  # layer 1 keeps 8 > layer 0's 6: made non-increasing
        w.weight[2] = 1.7
    w.clip_()
    assert w.weight.max() <= 1.0
    assert w.keep_counts() == (6, 6, 6)


def test_search_gradients_reach_retention_weights_and_detach_restores_model():
    model = tiny_model("sdpa")
    ids, mask = make_batch(2, 10)
    dense = model(input_ids=ids, attention_mask=mask).logits
    weights = attach_search(model, 16)
    model.train()
    out = model(input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 1]))
    (out.loss + 1e-3 * weights.penalty()).backward()
    assert weights.weight.grad is not None and weights.weight.grad[:, :10].abs().sum() > 0
    counts = detach_search(model)
    assert counts == (16, 16, 16)
    model.eval()
    torch.testing.assert_close(model(input_ids=ids, attention_mask=mask).logits, dense)
