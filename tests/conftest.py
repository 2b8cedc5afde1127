"""Tiny models and data built in code, so most tests run in milliseconds and never touch the hub."""
from __future__ import annotations

import os

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

from leanbert.measure.latency import LatencyModel

os.environ.setdefault("HF_HUB_OFFLINE", "1")

WORDS = ("good great fine nice bad awful poor sad the a movie film plot was is very not and it "
         "cat dog sat on mat hello world").split()
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tiny_config(impl: str = "sdpa", layers: int = 3, num_labels: int = 2, **kw) -> BertConfig:
    cfg = dict(vocab_size=64, hidden_size=32, num_hidden_layers=layers, num_attention_heads=4,
               intermediate_size=64, max_position_embeddings=64, num_labels=num_labels,
               hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    cfg.update(kw)
    return BertConfig(**cfg, attn_implementation=impl)


def tiny_model(impl: str = "sdpa", layers: int = 3, seed: int = 0, **kw) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    return BertForSequenceClassification(tiny_config(impl, layers, **kw)).eval()


def make_batch(batch: int = 3, length: int = 12, padded: bool = True, seed: int = 0):
    """Random ids with [CLS] first; rows get decreasing real lengths when `padded`."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 64, (batch, length), generator=g)
    ids[:, 0] = 2
    mask = torch.ones(batch, length, dtype=torch.long)
    if padded:
        for r in range(1, batch):
            real = max(2, length - 3 * r)
            mask[r, real:] = 0
            ids[r, real:] = 0
    return ids, mask


@pytest.fixture
def tiny_tokenizer(tmp_path):
    folder = tmp_path / "tokenizer"
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(SPECIALS + WORDS) + "\n")
    # from_pretrained reads vocab.txt under transformers 4 and 5 alike; the constructor's vocab_file= is
    # ignored by 5, which silently builds a tokenizer of the 5 special tokens (every word [UNK])
    tokenizer = BertTokenizerFast.from_pretrained(folder, do_lower_case=True)
    assert len(tokenizer) == len(SPECIALS + WORDS)
    return tokenizer


@pytest.fixture
def tiny_model_dir(tmp_path, tiny_tokenizer):
    """A saved tiny BERT directory with tokenizer, like a local Hugging Face checkpoint."""
    path = tmp_path / "tiny-bert"
    model = tiny_model(vocab_size=len(SPECIALS) + len(WORDS))
    model.save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path


SENTENCES_POS = ["good movie", "great film", "very nice plot", "the movie was good", "it is fine", "nice film"]
SENTENCES_NEG = ["bad movie", "awful film", "very poor plot", "the movie was bad", "it is sad", "not good"]


@pytest.fixture
def glue_dir(tmp_path):
    """A miniature glue_data directory with every task's file format."""
    root = tmp_path / "glue"

    def write(folder, name, text):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / name).write_text(text, encoding="utf-8")

    sst = "sentence\tlabel\n" + "".join(f"{s}\t1\n" for s in SENTENCES_POS * 4) + "".join(f"{s}\t0\n" for s in SENTENCES_NEG * 4)
    write("SST-2", "train.tsv", sst)
    write("SST-2", "dev.tsv", sst)
    cola_rows = [("the cat sat", 1), ("cat the sat", 0), ("a dog sat", 1), ("sat dog a", 0)]
    cola = "".join(f"src\t{lab}\t\t{s}\n" for s, lab in cola_rows)
    write("CoLA", "train.tsv", cola)
    write("CoLA", "dev.tsv", cola)
    write("CoLA", "test.tsv", "index\tsentence\n0\tthe cat sat\n")
    mrpc = "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tthe cat sat\ta cat sat\n0\t3\t4\thello world\tthe dog\n"
    write("MRPC", "train.tsv", mrpc)
    write("MRPC", "dev.tsv", mrpc)
    sts = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    sts += ("0\tg\tf\ty\t0\tn\tn\tthe cat sat\ta cat sat\t4.5\n1\tg\tf\ty\t1\tn\tn\thello world\tthe dog\t0.2\n"
            "2\tg\tf\ty\t2\tn\tn\tgood film\tnice movie\t3.0\n")
    write("STS-B", "train.tsv", sts)
    write("STS-B", "dev.tsv", sts)
    pair = "index\tsentence1\tsentence2\tlabel\n0\tthe cat sat\ta cat sat\tentailment\n1\thello\tthe dog\tnot_entailment\n"
    write("RTE", "train.tsv", pair)
    write("RTE", "dev.tsv", pair)
    write("QNLI", "dev.tsv", pair.replace("sentence1\tsentence2", "question\tsentence"))
    write("WNLI", "dev.tsv", pair.replace("not_entailment", "0").replace("entailment", "1"))
    write("QQP", "dev.tsv", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n0\t1\t2\tthe cat\ta cat\t1\n")
    mnli = ("index\tpromptID\tpairID\tgenre\tsentence1\tsentence2\tlabel1\tgold_label\n"
            "0\t1\t2\tg\tthe cat\ta cat\tentailment\tentailment\n")
    write("MNLI", "dev_matched.tsv", mnli)
    write("MNLI", "dev_mismatched.tsv", mnli.replace("entailment\tentailment", "neutral\tneutral"))
    return root


QUICK_CALIBRATION_SECONDS = 0.05  # per timing; the library's 0.2 is for real models, where it matters


@pytest.fixture(scope="session")
def latency_fits():
    """Latency models fitted so far this session, by layer shape, batch size and fit lengths."""
    return {}


@pytest.fixture
def quick_calibration(monkeypatch, latency_fits):
    """A SpeedBench calibrates one latency model per batch size: 15 timings of 0.2 s or more each. Timings
    depend on the layer's shapes, not its weights, so the tests share one shorter real fit per shape."""
    fit = LatencyModel.fit.__func__

    def shared_fit(cls, model, batch_size, lengths=None, min_run_time=None):  # min_run_time: the quick one instead
        c = model.config
        key = (c.hidden_size, c.intermediate_size, c.num_attention_heads, getattr(c, "_attn_implementation", None),
               batch_size, tuple(lengths or ()))
        if key not in latency_fits:
            latency_fits[key] = fit(cls, model, batch_size, **({"lengths": lengths} if lengths else {}),
                                    min_run_time=QUICK_CALIBRATION_SECONDS)
        return latency_fits[key]

    monkeypatch.setattr(LatencyModel, "fit", classmethod(shared_fit))


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one thread (two spin against each other on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def acc_dir(tiny_model_dir):
    """A tiny checkpoint saved as ACC-tuned (all-ones profile), like `leanbert finetune --method acc` writes."""
    import leanbert

    model = leanbert.from_pretrained(tiny_model_dir)
    leanbert.apply(model, leanbert.ACCConfig(keep_fractions=(1.0, 1.0, 1.0)))
    model.save_pretrained(tiny_model_dir)
    return tiny_model_dir


def run_cli(*argv):
    """`leanbert ARGV...` in-process: its exit code (0 when it returns)."""
    from leanbert.cli import main

    try:
        main([str(a) for a in argv])
    except SystemExit as e:
        return e.code
    return 0

