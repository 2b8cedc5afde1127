"""Self-distilled embedding encoders (issue 21): training brings the reduced embeddings towards the dense
teacher's at the speedups `embed` runs, the output is a complete encoder directory written whole, and bad
input gets one line."""
import json
import math

import numpy as np
import pytest

import leanbert
from leanbert.data.datasets import load_task
from leanbert.embeddings import embed, load_encoder
from leanbert.embeddings.distill import DISTILL_KEY, DistillRecipe, batches, distill, training_steps
from leanbert.embeddings.encode import tokenize
from leanbert.errors import ConfigError
from tests.conftest import SPECIALS, WORDS, run_cli, tiny_model

TEXTS = ["good movie", "the cat sat on the mat and it was very nice", "hello", "not bad", "a dog sat on a mat",
         "the film was awful and the plot was poor and sad", "hello world", "great", "very nice plot",
         "the movie was good and the film was great", "it is sad", "awful film"]


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float((1 - (a * b).sum(axis=1)).mean())  # rows are normalised


@pytest.fixture
def distinct_encoder_dir(tmp_path, tiny_tokenizer):
    """A tiny encoder whose embeddings differ from text to text (a fresh one's are all nearly the same, so a
    reduction would cost nothing to repair): the token embeddings scaled up."""
    model = tiny_model(vocab_size=len(SPECIALS) + len(WORDS), initializer_range=0.5)
    path = tmp_path / "distinct"
    model.save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path


@pytest.mark.parametrize("method", ["power", "tome"])
def test_distillation_brings_reduced_embeddings_towards_the_dense_teacher(tmp_path, distinct_encoder_dir, method):
    tiny_model_dir = distinct_encoder_dir
    net, tokenizer, _ = load_encoder(tiny_model_dir)
    teacher = embed(net, tokenizer, TEXTS)
    before = _distance(embed(net, tokenizer, TEXTS, speedup=2.5, method=method, max_length=16), teacher)
    recipe = DistillRecipe(method=method, speedup_range=(1.5, 3), epochs=8, lr=4e-3, batch_size=4)
    summary = distill(tiny_model_dir, TEXTS, tmp_path / "out", recipe, max_length=16, progress=False)
    student, tokenizer, _ = load_encoder(tmp_path / "out")
    after = _distance(embed(student, tokenizer, TEXTS, speedup=2.5, method=method, max_length=16), teacher)
    full = _distance(embed(student, tokenizer, TEXTS, max_length=16), teacher)
    assert before > 0.01  # the reduction costs something to begin with
    assert after < 0.5 * before, (before, after)
    assert full < 0.4 * before  # the full-length model is trained to stay near the teacher while the rest moves
    assert summary["last"]["reduced"] < summary["first"]["reduced"]


def test_output_is_a_complete_encoder_and_never_overwritten(tmp_path, tiny_model_dir, tiny_tokenizer, capsys):
    reduced_source = tmp_path / "reduced-source"  # saved with a reduction config: the output must not carry it
    model = leanbert.apply(tiny_model(vocab_size=len(SPECIALS) + len(WORDS)), leanbert.PowerConfig(keep_fractions=(0.5,) * 3))
    model.save_pretrained(reduced_source), tiny_tokenizer.save_pretrained(reduced_source)
    (reduced_source / "train_log.json").write_text("{}")  # another run's provenance: not copied
    out = tmp_path / "out"
    source = tmp_path / "in.txt"
    source.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    args = ("embed-distill", reduced_source, "-i", source, "-o", out, "--epochs", "0.5", "--batch-size", "2",
            "--no-progress", "--method", "power", "--max-length", "12")
    assert run_cli(*args) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    net, tokenizer, length = load_encoder(reduced_source)
    ids = tokenize(tokenizer, TEXTS, 12)[0]
    per_epoch = len(batches([len(x) for x in ids], 2, 42, 0))
    assert printed["texts"] == len(TEXTS) and printed["steps"] == math.ceil(per_epoch / 2) >= 3
    saved = json.loads((out / "config.json").read_text())
    assert saved[DISTILL_KEY]["method"] == "power" and "leanbert" not in saved  # a plain encoder: no patch saved
    assert saved[DISTILL_KEY]["source"] == {"input": str(source), "text_col": "text"}
    assert json.loads((out / "sentence_bert_config.json").read_text())["max_seq_length"] == 12
    assert not (out / "train_log.json").exists()
    assert load_encoder(out)[2] == 12 and leanbert.current_config(load_encoder(out)[0]) is None
    assert (out / "distill_log.json").is_file() and (out / "tokenizer_config.json").is_file()
    weights = (out / "model.safetensors").read_bytes()
    assert run_cli(*args) == 2  # refused: a finished run is never overwritten
    assert "exists" in capsys.readouterr().err and (out / "model.safetensors").read_bytes() == weights
    assert not (tmp_path / "out.partial").exists()


@pytest.mark.parametrize("extra, message", [
    (("--speedup-range", "3,2"), "speedup_range"),
    (("--speedup-range", "1.5"), "speedup_range"),
    (("--method", "nope"), "method"),
    (("--lr", "-1"), "lr"),
    (("--task", "mrpc"), "one of --input FILE or --task TASK"),
    (("--max-texts", "1"), "max-texts"),
    (("--data-dir", "x"), "--data-dir goes with --task"),
    (("-i", "missing.txt"), "missing.txt"),
])
def test_bad_options_give_one_line(tmp_path, tiny_model_dir, capsys, extra, message):
    source = tmp_path / "in.txt"
    source.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    assert run_cli("embed-distill", tiny_model_dir, "-i", source, "-o", tmp_path / "o", *extra) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not (tmp_path / "o").exists()


def test_texts_come_from_one_source_and_a_task_gives_its_training_texts(tmp_path, tiny_model_dir, glue_dir, capsys):
    assert run_cli("embed-distill", tiny_model_dir, "-o", tmp_path / "o") == 2
    assert "--input FILE or --task TASK" in capsys.readouterr().err
    assert run_cli("embed-distill", tiny_model_dir, "-o", tmp_path / "o", "--task", "nosuch") == 2
    assert "not one of" in capsys.readouterr().err
    assert run_cli("embed-distill", tiny_model_dir, "-o", tmp_path / "o", "--task", "mrpc", "--data-dir", glue_dir,
                "--no-progress", "--epochs", "1", "--batch-size", "8") == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    train = load_task("mrpc", glue_dir, splits=("train",)).split("train")
    assert printed["texts"] == len({t for e in train for t in (e.text_a, e.text_b)})  # both sides, training split only
    assert printed["source"] == {"task": "mrpc", "split": "train"}
    with pytest.raises(ConfigError, match="at least 2 texts"):
        distill(tiny_model_dir, ["one"], tmp_path / "p", DistillRecipe())


def test_fractional_epochs_round_before_the_ceiling():
    assert training_steps(DistillRecipe(epochs=1.1), 100) == 110 and training_steps(DistillRecipe(epochs=1.1), 50) == 55
    assert training_steps(DistillRecipe(epochs=0.001), 10) == 1
