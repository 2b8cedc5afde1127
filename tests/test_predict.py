"""`leanbert predict`: every row, in input order, resumable after an interruption, with one-line errors."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import leanbert
from conftest import tiny_model
from leanbert.cli import main
from leanbert.errors import LeanbertError
from leanbert.predict import PredictJob, run_predict
from leanbert.predict import model as predict_model

WORDS = "good great bad awful the movie film plot was very not and it cat dog".split()


def sentences(n: int, seed: int = 0) -> list[str]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 20, (n,), generator=g).tolist()  # mixed lengths: sorting reorders them
    return [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(k)) for i, k in enumerate(lengths)]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def job(model, src, out, **kw):
    return PredictJob(str(model), src, out, max_length=kw.pop("max_length", 32), batch_size=kw.pop("batch_size", 4),
                      chunk_size=kw.pop("chunk_size", 8), **kw)




def test_rows_come_back_in_input_order_with_the_models_probabilities(tiny_model_dir, tiny_tokenizer, tmp_path):
    texts = sentences(30)
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    summary = run_predict(job(tiny_model_dir, tmp_path / "in.txt", tmp_path / "out.jsonl"))
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["row"] for r in rows] == list(range(30)) and summary["rows"] == 30
    model = tiny_model(vocab_size=len(tiny_tokenizer))
    with torch.no_grad():  # each text alone: no padding, so the batched output must match it row by row
        expected = [model(**tiny_tokenizer(t, return_tensors="pt")).logits.softmax(-1)[0] for t in texts]
    got = torch.tensor([list(r["probabilities"].values()) for r in rows])
    torch.testing.assert_close(got, torch.stack(expected), atol=2e-6, rtol=0)
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_csv_pairs_in_and_csv_with_a_header_out(tiny_model_dir, tmp_path):
    (tmp_path / "in.csv").write_text("id,q,a\n1,good movie,great film\n2,\"bad, awful\",the plot\n")
    run_predict(job(tiny_model_dir, tmp_path / "in.csv", tmp_path / "out.tsv", text_col="q", text_pair_col="a"))
    lines = (tmp_path / "out.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["row", "label", "p_LABEL_0", "p_LABEL_1", "truncated"] and len(lines) == 3
    assert lines[2].startswith("1\tLABEL_") and lines[2].endswith("\tfalse")


def test_speedup_runs_the_reduced_profile(acc_dir, tmp_path):
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences(12)))
    full = run_predict(job(acc_dir, tmp_path / "in.jsonl", tmp_path / "one.jsonl"))
    fast = run_predict(job(acc_dir, tmp_path / "in.jsonl", tmp_path / "three.jsonl", speedup=3.0))
    one, three = ((tmp_path / f"{n}.jsonl").read_text() for n in ("one", "three"))
    assert full["rows"] == fast["rows"] == 12 and one != three  # the profile changed the probabilities


def test_regression_checkpoints_give_values(tmp_path, tiny_tokenizer):
    model = tiny_model(num_labels=1, vocab_size=len(tiny_tokenizer))
    model.config.problem_type = "regression"
    model.save_pretrained(tmp_path / "m")
    tiny_tokenizer.save_pretrained(tmp_path / "m")
    (tmp_path / "in.txt").write_text("good\nbad film\n")
    run_predict(job(tmp_path / "m", tmp_path / "in.txt", tmp_path / "out.csv"))
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "row,value,truncated" and len(lines) == 3 and float(lines[1].split(",")[1]) == pytest.approx(
        float(lines[1].split(",")[1]))


def test_an_interrupted_run_resumes_to_the_uninterrupted_output(tiny_model_dir, tmp_path, monkeypatch):
    (tmp_path / "in.txt").write_text("\n".join(sentences(50)) + "\n")
    run_predict(job(tiny_model_dir, tmp_path / "in.txt", tmp_path / "whole.jsonl"))
    real, calls = predict_model.Predictor.predict, []

    def stops_at_the_fourth_chunk(self, *args):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the run
        return real(self, *args)

    monkeypatch.setattr(predict_model.Predictor, "predict", stops_at_the_fourth_chunk)
    with pytest.raises(KeyboardInterrupt):
        run_predict(job(tiny_model_dir, tmp_path / "in.txt", tmp_path / "out.jsonl"))
    assert not (tmp_path / "out.jsonl").exists()
    assert len(list((tmp_path / "out.jsonl.partial").glob("chunk-*"))) == 3
    monkeypatch.setattr(predict_model.Predictor, "predict", real)
    summary = run_predict(job(tiny_model_dir, tmp_path / "in.txt", tmp_path / "out.jsonl"))
    assert summary["resumed_chunks"] == 3 and summary["computed_here"] == 50 - 3 * 8
    assert (tmp_path / "out.jsonl").read_bytes() == (tmp_path / "whole.jsonl").read_bytes()


def same_leanbert() -> dict:
    """The environment for a subprocess that imports the leanbert under test (this checkout's)."""
    return {**os.environ, "PYTHONPATH": str(Path(leanbert.__file__).parents[1])}


@pytest.mark.slow  # three interpreter start-ups
def test_a_killed_process_resumes_to_the_uninterrupted_output(tiny_model_dir, tmp_path):
    """kill -9 mid-run: no chunk is half-written, and the rerun fills in exactly what is missing."""
    (tmp_path / "in.txt").write_text("\n".join(sentences(2000)) + "\n")
    argv = [sys.executable, "-m", "leanbert", "predict", str(tiny_model_dir), "-i", "in.txt", "--max-length", "32",
            "--batch-size", "1", "--chunk-size", "20", "--threads", "1", "-o"]
    proc = subprocess.Popen(argv + ["out.jsonl"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=same_leanbert())
    partial, deadline = tmp_path / "out.jsonl.partial", time.monotonic() + 600  # start-up: minutes when loaded
    while not list(partial.glob("chunk-*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL and not (tmp_path / "out.jsonl").exists()
    kept = len(list(partial.glob("chunk-*")))
    assert 1 <= kept < 100
    for argv_out in (["out.jsonl"], ["whole.jsonl"]):
        done = subprocess.run(argv + argv_out, cwd=tmp_path, capture_output=True, text=True, env=same_leanbert())
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.jsonl").read_bytes() == (tmp_path / "whole.jsonl").read_bytes()
    assert json.loads(done.stdout)["rows"] == 2000


@pytest.mark.parametrize("content, kw, message", [
    ("text\ngood\n", dict(src="in.csv", text_col="review"), "no column 'review'"),
    ('{"text": "good"}\n{"text": "  "}\n', dict(src="in.jsonl"), "in.jsonl:row 2: empty text"),
    ('{"text": "\\ud800"}\n', dict(src="in.jsonl"), "unpaired surrogate"),
    ("good\n", dict(src="in.txt", out="out.parquet"), "unsupported type '.parquet'"),
    ("good\n", dict(src="in.xml"), "unsupported file type '.xml'"),
    ("good\n", dict(src="in.txt", speedup=2.0), "fixed profile"),
])
def test_bad_input_is_refused_with_a_message_naming_it(tiny_model_dir, tmp_path, content, kw, message):
    src, out = tmp_path / kw.pop("src"), tmp_path / kw.pop("out", "out.jsonl")
    src.write_text(content)
    with pytest.raises(LeanbertError, match=message):
        run_predict(job(tiny_model_dir, src, out, **kw))
    assert not out.exists()


def test_finished_output_is_kept_and_a_resume_needs_the_same_options(acc_dir, tmp_path, monkeypatch):
    (tmp_path / "in.txt").write_text("\n".join(sentences(20)) + "\n")
    run_predict(job(acc_dir, tmp_path / "in.txt", tmp_path / "out.jsonl"))
    with pytest.raises(LeanbertError, match="already exists; pass --overwrite"):
        run_predict(job(acc_dir, tmp_path / "in.txt", tmp_path / "out.jsonl"))
    monkeypatch.setattr(predict_model.Predictor, "predict", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        run_predict(job(acc_dir, tmp_path / "in.txt", tmp_path / "new.jsonl"))
    with pytest.raises(LeanbertError, match="speedup=None, but this run has speedup=2.0"):
        run_predict(job(acc_dir, tmp_path / "in.txt", tmp_path / "new.jsonl", speedup=2.0))


def test_cli_prints_one_summary_line_and_one_line_errors(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.txt").write_text("good\nbad\n")
    argv = ["predict", str(tiny_model_dir), "-i", "in.txt", "-o", "out.jsonl", "--max-length", "32", "--threads", "1"]
    with pytest.raises(SystemExit) as ok:
        main(argv)
    out, err = capsys.readouterr()
    assert ok.value.code == 0 and json.loads(out)["rows"] == 2 and err == ""  # no bar off a terminal
    with pytest.raises(SystemExit) as bad:
        main(argv[:-4] + ["--batch-size", "0", "-o", "x.jsonl"])
    assert bad.value.code == 2 and capsys.readouterr().err == "error: --batch-size and --chunk-size must be >= 1\n"
