"""torch.compile traces every reduction method in one graph, and the compiled model matches eager."""
import pytest
import torch

import leanbert
from conftest import make_batch, tiny_model

CONFIGS = {
    "power": leanbert.PowerConfig(keep_counts=(8, 5, 3)),
    "acc": leanbert.ACCConfig(keep_fractions=(0.75, 0.5, 0.25)),
    "fca": leanbert.FCAConfig(keep_fractions=(0.6, 0.5, 0.3), coarse=2),
    "tome": leanbert.TomeConfig(keep_fractions=(0.75, 0.5, 0.4)),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_no_graph_breaks_and_compiled_equals_eager(name):
    torch._dynamo.reset()
    model = leanbert.apply(tiny_model(), CONFIGS[name])
    ids, mask = make_batch(2, 12)
    with torch.no_grad():
        eager = model(input_ids=ids, attention_mask=mask).logits
        # fullgraph: a graph break raises (with its reason) instead of splitting the graph, so one trace
        # checks both "no breaks" and "compiled equals eager" (torch._dynamo.explain traced a second time)
        compiled = torch.compile(model, backend="aot_eager", fullgraph=True)(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(compiled, eager, atol=1e-5, rtol=1e-5)
