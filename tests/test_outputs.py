"""A patched model as a Hugging Face model: its optional outputs (hidden states honoured, attentions
refused), pickling and deep copies, and the per-token heads that refuse token reduction."""
import copy
import io
import pickle

import pytest
import torch
from transformers import BertForMaskedLM, BertForQuestionAnswering, BertForTokenClassification, BertModel

import leanbert
import reference
from conftest import make_batch, tiny_config, tiny_model

CONFIGS = {
    "power": leanbert.PowerConfig(keep_counts=(12, 6, 3)),
    "fca": leanbert.FCAConfig(keep_counts=(8, 5, 3), coarse=2),
    "tome": leanbert.TomeConfig(keep_fractions=(0.8, 0.6, 0.4)),
    "ltp": leanbert.LTPConfig.from_thresholds((0.0, 0.9, 1.0)),
    "sparse": leanbert.SparseConfig.for_layers(3, layers=(1,), width=2),
    "keep-all": leanbert.ACCConfig(keep_fractions=(1.0, 1.0, 1.0)),
}


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_hidden_states_give_every_layer_at_its_length(name, impl):
    model = tiny_model(impl)
    ids, mask = make_batch(3, 12)
    dense = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    leanbert.apply(model, CONFIGS[name])
    lengths = []  # what each layer's feed-forward block ran on: the length the layer ends with
    for layer in model.bert.encoder.layer:
        layer.intermediate.register_forward_pre_hook(lambda m, a: lengths.append(a[0].shape[1]))
    out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    assert len(out.hidden_states) == 4
    assert [h.shape[1] for h in out.hidden_states] == [12, *lengths]  # each layer's output at its own length
    assert torch.equal(out.hidden_states[0], dense[0])
    if name == "keep-all":
        for ours, theirs in zip(out.hidden_states, dense):
            torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", ["power", "fca", "tome"])
def test_hidden_state_l_is_the_output_of_layer_l(name):
    """Numbered as Hugging Face numbers them: entry l + 1 is layer l's output (the reference's, at 1e-10)."""
    torch.manual_seed(0)
    model = BertModel(tiny_config()).eval().double()
    ids, _ = make_batch(1, 12, padded=False)
    leanbert.apply(model, CONFIGS[name])
    out = model(input_ids=ids, output_hidden_states=True)
    expected = reference.layer_states(model, ids[0].tolist(), CONFIGS[name])
    for ours, theirs in zip(out.hidden_states, expected, strict=True):
        torch.testing.assert_close(ours[0], theirs, atol=1e-10, rtol=0)
    assert torch.equal(out.hidden_states[-1], out.last_hidden_state)


def test_selected_hidden_states_keep_hugging_face_positions():
    model = tiny_model()
    ids, mask = make_batch(2, 12)
    dense = model(input_ids=ids, attention_mask=mask, output_hidden_states=[0, -1]).hidden_states
    leanbert.apply(model, CONFIGS["power"])
    ours = model(input_ids=ids, attention_mask=mask, output_hidden_states=[0, -1]).hidden_states
    assert [h is None for h in ours] == [h is None for h in dense] == [False, True, True, False]
    assert ours[-1].shape[1] == 3


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
@pytest.mark.parametrize("name", ["power", "sparse", "keep-all"])
def test_output_attentions_is_refused(name, impl):
    model = leanbert.apply(tiny_model(impl), CONFIGS[name])
    ids, mask = make_batch(2, 12)
    with pytest.raises(leanbert.ConfigError, match="output_attentions"):
        model(input_ids=ids, attention_mask=mask, output_attentions=True)
    if impl == "sdpa":
        return  # Hugging Face itself refuses output_attentions in an SDPA model's config
    model.config.output_attentions = True  # asked through the config instead
    with pytest.raises(leanbert.ConfigError, match="output_attentions"):
        model(input_ids=ids, attention_mask=mask)


def _torch_round_trip(model):
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


@pytest.mark.parametrize("copier", [_torch_round_trip, copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))],
                         ids=["torch-save-load", "deepcopy", "pickle"])
def test_patched_model_pickles_and_copies(copier):
    cfg = leanbert.ACCConfig(keep_fractions=(0.5, 0.3, 0.2))
    model = leanbert.apply(tiny_model(), cfg)
    ids, mask = make_batch(2, 12)
    expected = model(input_ids=ids, attention_mask=mask).logits
    twin = copier(model)
    assert leanbert.current_config(twin) == cfg
    assert torch.equal(twin(input_ids=ids, attention_mask=mask).logits, expected)
    leanbert.remove(twin)  # the copy runs its own encoder: changing it leaves the original reduced
    assert not torch.equal(twin(input_ids=ids, attention_mask=mask).logits, expected)
    assert torch.equal(model(input_ids=ids, attention_mask=mask).logits, expected)


@pytest.mark.parametrize("head", [BertForTokenClassification, BertForMaskedLM, BertForQuestionAnswering])
def test_per_token_heads_refuse_token_reduction(head):
    model = head(tiny_config()).eval()
    with pytest.raises(leanbert.ConfigError, match=f"{head.__name__} answers per token"):
        leanbert.apply(model, leanbert.ACCConfig(keep_fractions=(0.5, 0.3, 0.2)))
    assert leanbert.current_config(model) is None and not hasattr(model.config, "leanbert")
    ids, mask = make_batch(2, 12)
    dense = model(input_ids=ids, attention_mask=mask)[0]
    leanbert.apply(model, CONFIGS["sparse"])  # keeps every token: allowed
    sparse = model(input_ids=ids, attention_mask=mask)[0]
    assert sparse.shape == dense.shape and not torch.equal(sparse, dense)
    with pytest.raises(leanbert.ConfigError, match=head.__name__):  # a reducing config per call, too
        model(input_ids=ids, attention_mask=mask, leanbert_config=leanbert.PowerConfig(keep_counts=(6, 4, 2)))
