"""Loaders for every task format, users' files, BBC split, and clear errors on bad data."""
from pathlib import Path

import pytest

from leanbert.data import datasets as data
from leanbert.errors import DataError

SHARED_GLUE = Path(__file__).resolve().parents[2] / "shared" / "data" / "glue"


@pytest.mark.parametrize("task, n_dev, first", [
    ("sst2", 48, ("good movie", None, 1)),
    ("cola", 4, ("the cat sat", None, 1)),
    ("mrpc", 2, ("the cat sat", "a cat sat", 1)),
    ("stsb", 3, ("the cat sat", "a cat sat", 4.5)),
    ("rte", 2, ("the cat sat", "a cat sat", 0)),
    ("qnli", 2, ("the cat sat", "a cat sat", 0)),
    ("wnli", 2, ("the cat sat", "a cat sat", 1)),
    ("qqp", 1, ("the cat", "a cat", 1)),
    ("mnli", 2, ("the cat", "a cat", 1)),
])
def test_every_glue_format(glue_dir, task, n_dev, first):
    dev = data.load_task(task, glue_dir, splits=("dev",)).split("dev")
    assert len(dev) == n_dev
    e = dev[0]
    assert (e.text_a, e.text_b, e.label) == first


def test_cola_test_file_has_a_header_and_no_labels(glue_dir):
    test = data.load_task("cola", glue_dir, splits=("test",)).split("test")
    assert test[0].text_a == "the cat sat" and test[0].label is None


def test_missing_split_names_the_file(glue_dir):
    with pytest.raises(DataError, match="missing file.*QNLI.*train.tsv"):
        data.load_task("qnli", glue_dir, splits=("train",))


def test_env_variable_and_missing_directory(glue_dir, monkeypatch):
    monkeypatch.setenv(data.GLUE_ENV, str(glue_dir))
    assert data.load_task("rte", None, splits=("dev",)).split("dev")
    monkeypatch.delenv(data.GLUE_ENV)
    with pytest.raises(DataError, match="no GLUE data directory"):
        data.load_task("rte", None)
    with pytest.raises(DataError, match="not found"):
        data.load_task("rte", glue_dir / "nope")


def test_unknown_task():
    with pytest.raises(DataError, match="unknown task 'imdb'"):
        data.resolve_task("imdb")


@pytest.mark.parametrize("line, message", [
    ("only-one-column\n", "malformed row"),
    ("\t1\n", "empty text"),
    ("good film\t7\n", "label '7' is not one of"),
])
def test_bad_rows_name_file_and_line(glue_dir, line, message):
    path = glue_dir / "SST-2" / "dev.tsv"
    path.write_text("sentence\tlabel\ngood movie\t1\n" + line)
    with pytest.raises(DataError, match=rf"dev.tsv:3: {message}"):
        data.load_task("sst2", glue_dir, splits=("dev",))


def test_regression_label_must_be_a_finite_number(glue_dir):
    path = glue_dir / "STS-B" / "dev.tsv"
    text = path.read_text().replace("4.5", "nan")
    path.write_text(text)
    with pytest.raises(DataError, match="not a finite number"):
        data.load_task("stsb", glue_dir, splits=("dev",))


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_user_files(tmp_path, suffix):
    rows = [("good film", "a", "pos"), ("bad film", "b", "neg"), ("nice plot", "c", "pos")]
    path = tmp_path / f"train{suffix}"
    if suffix == ".jsonl":
        import json

        path.write_text("".join(json.dumps({"text": t, "pair": p, "label": l}) + "\n" for t, p, l in rows))
    else:
        sep = "\t" if suffix == ".tsv" else ","
        path.write_text(f"text{sep}pair{sep}label\n" + "".join(f"{t}{sep}{p}{sep}{l}\n" for t, p, l in rows))
    task = data.load_user_files({"train": str(path)}, text_pair_col="pair")
    assert task.spec.labels == ("neg", "pos")
    assert [e.label for e in task.split("train")] == [1, 0, 1]
    assert task.split("train")[0].text_b == "a"


def test_user_file_errors(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("sentence,label\ngood,1\n")
    with pytest.raises(DataError, match="no column 'text'"):
        data.load_user_files({"train": str(path)})
    other = tmp_path / "d.xml"
    other.write_text("<rows/>")
    with pytest.raises(DataError, match="unsupported file type '.xml'"):
        data.read_user_file(other, "text", "label")
    with pytest.raises(DataError, match="data file not found"):
        data.read_user_file(tmp_path / "missing.csv", "text", "label")


def test_bbc_split_is_fixed_stratified_and_disjoint():
    bbc = data.load_bbc()
    sizes = {k: len(v) for k, v in bbc.splits.items()}
    assert sizes == {"train": 1487, "dev": 212, "test": 426}  # 2,125 unique of 2,225 articles
    texts = [set(e.text_a for e in bbc.split(s)) for s in ("train", "dev", "test")]
    assert not (texts[0] & texts[2]) and not (texts[1] & texts[2])
    assert {e.label for e in bbc.split("test")} == set(range(5))
    assert [e.text_a for e in data.load_bbc().split("test")][:5] == [e.text_a for e in bbc.split("test")][:5]


@pytest.mark.skipif(not SHARED_GLUE.is_dir(), reason="shared GLUE data not present")
def test_real_glue_files_load():
    sizes = {t: len(data.load_task(t, SHARED_GLUE, splits=("dev",)).split("dev"))
             for t in ("cola", "sst2", "mrpc", "stsb", "rte", "wnli", "qnli")}
    assert sizes == {"cola": 1043, "sst2": 872, "mrpc": 408, "stsb": 1500, "rte": 277, "wnli": 71, "qnli": 5463}
