"""What a checkpoint directory must hold before anything is scored with it (issue #22): a tokenizer with a
vocabulary, a trained head for the task's labels, weights matching config.json, and finite outputs."""
import json

import pytest
import torch
from conftest import SPECIALS, WORDS, make_batch, tiny_model
from transformers import BertModel

import leanbert
from leanbert.errors import ConfigError, LeanbertError, ModelLoadError
from leanbert.engine.models import default_model_path, load_classifier, load_tokenizer
from leanbert.measure.runner import evaluate_rows


def test_checkpoint_without_tokenizer_files_is_refused(tiny_model_dir):
    for name in ("vocab.txt", "tokenizer.json"):
        (tiny_model_dir / name).unlink(missing_ok=True)
    with pytest.raises(ModelLoadError, match=f"no tokenizer files .* in model directory {tiny_model_dir}"):
        load_tokenizer(tiny_model_dir)


def test_backbone_without_a_head_is_refused_except_by_finetune(tmp_path, tiny_tokenizer, glue_dir):
    bare = tmp_path / "bare"
    BertModel(tiny_model(vocab_size=len(SPECIALS) + len(WORDS)).config).save_pretrained(bare)
    tiny_tokenizer.save_pretrained(bare)
    with pytest.raises(ModelLoadError, match="no trained classification head .*classifier.weight"):
        evaluate_rows(bare, "sst2", data_dir=glue_dir, max_length=16)
    assert load_classifier(bare, num_labels=2).classifier.out_features == 2  # fine-tuning starts from it


def test_the_installed_sentence_backbone_is_not_a_classifier():
    with pytest.raises(ModelLoadError, match="no trained classification head"):
        load_classifier(default_model_path())


def test_weights_of_another_architecture_are_refused(tmp_path):
    from transformers import RobertaConfig, RobertaForSequenceClassification

    other = tmp_path / "roberta-weights-bert-config"
    RobertaForSequenceClassification(RobertaConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2,
                                                   num_attention_heads=4, intermediate_size=64,
                                                   max_position_embeddings=40)).save_pretrained(other)
    config = json.loads((other / "config.json").read_text())
    config.update(model_type="bert", architectures=["BertForSequenceClassification"])  # weights stay RoBERTa's
    (other / "config.json").write_text(json.dumps(config))
    for num_labels in (None, 2):  # not even fine-tuning may start from random encoder weights
        with pytest.raises(ModelLoadError, match="encoder weights are missing"):
            load_classifier(other, num_labels=num_labels)


def test_unsupported_family_is_refused_naming_the_supported_ones(tmp_path):
    from transformers import GPT2Config, GPT2ForSequenceClassification

    other = tmp_path / "gpt2"
    config = GPT2Config(vocab_size=64, n_embd=32, n_layer=2, n_head=4, n_positions=40)
    GPT2ForSequenceClassification(config).save_pretrained(other)
    with pytest.raises(ModelLoadError, match=r"does not support model family 'gpt2'; supported: bert, camembert, "
                                             r"distilbert, electra, modernbert, mpnet, roberta, xlm-roberta"):
        load_classifier(other, num_labels=2)


def test_config_sizes_not_matching_the_weights_name_the_tensor(tiny_model_dir):
    config = json.loads((tiny_model_dir / "config.json").read_text())
    config["intermediate_size"] = 48  # the weights hold 64
    (tiny_model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=r"tensor bert\.encoder\.layer\.0\.intermediate\.dense\.\w+ has shape "
                                             r"\[64.*\] in the weights but \[48.*\] from config.json"):
        load_classifier(tiny_model_dir)


def test_label_count_of_another_task_is_refused_before_any_work(tmp_path, tiny_tokenizer, glue_dir):
    three = tmp_path / "three-labels"
    tiny_model(vocab_size=len(SPECIALS) + len(WORDS), num_labels=3).save_pretrained(three)
    tiny_tokenizer.save_pretrained(three)
    with pytest.raises(ConfigError, match="3 output labels but task sst2 has 2"):
        evaluate_rows(three, "sst2", data_dir=glue_dir, max_length=16)


def test_non_finite_logits_are_an_error(tiny_model_dir, glue_dir):
    from leanbert.deploy.serve import Classifier

    model = load_classifier(tiny_model_dir)
    with torch.no_grad():
        model.classifier.weight[0, 0] = float("nan")
    model.save_pretrained(tiny_model_dir)
    with pytest.raises(LeanbertError, match="non-finite logits"):
        evaluate_rows(tiny_model_dir, "sst2", data_dir=glue_dir, max_length=16)
    with pytest.raises(LeanbertError, match="non-finite logits") as served:
        Classifier(tiny_model_dir, max_length=16).predict(["good movie"])
    assert served.value.status == 500  # the server answers a JSON 500 naming it (create_app maps RequestError)


def test_sparse_pattern_from_a_layer_the_model_lacks_is_refused(tiny_model_dir, glue_dir):
    with pytest.raises(ConfigError, match="'from_layers': 9 is not a layer of this 3-layer model"):
        evaluate_rows(tiny_model_dir, "sst2", data_dir=glue_dir, method="sparse", max_length=16,
                      pattern=dict(width=2, from_layers=[9]))
    with pytest.raises(ConfigError, match="'from_layers'"):  # composed with a reduction as well
        evaluate_rows(tiny_model_dir, "sst2", data_dir=glue_dir, method="acc", speedups=[2], max_length=16,
                      pattern=dict(width=2, from_layers=[3]))


@pytest.mark.parametrize("method, speedups, counts, field", [
    ("dense", [3], [], "speedup"), ("sparse", [2], [], "speedup"), ("acc", [], [4, 3, 2], "keep_counts"),
    ("power", [2], [4, 3, 2], "keep_counts"), ("saved", [2], [], "speedup"),
])
def test_options_a_method_would_ignore_are_refused(tiny_model_dir, glue_dir, method, speedups, counts, field):
    with pytest.raises(ConfigError, match=f"'{field}'"):
        evaluate_rows(tiny_model_dir, "sst2", data_dir=glue_dir, method=method, speedups=speedups, counts=counts,
                      max_length=16)


def test_per_call_config_that_is_not_a_config_object_is_refused():
    model = leanbert.apply(tiny_model(), leanbert.ACCConfig(keep_fractions=(0.8, 0.6, 0.4)))
    ids, mask = make_batch()
    with pytest.raises(ConfigError, match="'leanbert_config': needs a leanbert config object .* got dict"):
        model(input_ids=ids, attention_mask=mask, leanbert_config={"method": "acc", "keep_fractions": [1, 1, 1]})
