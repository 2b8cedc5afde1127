"""CLI smoke tests and one-line errors for bad input."""
import json
import platform

import pytest
from typer.testing import CliRunner

from leanbert.measure import allocator
from leanbert.cli import app
from fresh_process import run_cli  # the real entry point in its own (forked) process: exit code, stderr and all


@pytest.mark.parametrize("argv, message", [
    (["finetune", "--task", "imdb", "-o", "OUT"], "error: unknown task 'imdb'"),
    (["finetune", "--task", "sst2", "-o", "OUT", "--data-dir", "/no/such/dir"], "error: GLUE data directory not found"),
    (["evaluate", "--checkpoint", "/no/such/model", "--task", "sst2", "--data-dir", "GLUE"], "error: model directory not found"),
    (["evaluate", "--checkpoint", "MODEL", "--task", "sst2", "--data-dir", "GLUE", "--method", "acc", "--speedup", "0.5"],
     "error: invalid config field 'speedup'"),
    (["evaluate", "--checkpoint", "MODEL", "--task", "sst2", "--data-dir", "GLUE", "--max-length", "4096"],
     "error: invalid config field 'max_length'"),
])
def test_bad_input_gives_one_line_error(argv, message, tmp_path, glue_dir, tiny_model_dir):
    places = {"OUT": str(tmp_path / "o"), "GLUE": str(glue_dir), "MODEL": str(tiny_model_dir)}
    argv = [a.replace("OUT", places["OUT"]).replace("GLUE", places["GLUE"]).replace("MODEL", places["MODEL"]) for a in argv]
    result = run_cli(*argv)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(message), result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_model_dir_without_weights(tmp_path, tiny_model_dir, glue_dir):
    (tiny_model_dir / "model.safetensors").unlink()
    result = run_cli("evaluate", "--checkpoint", tiny_model_dir, "--task", "sst2", "--data-dir", glue_dir)
    assert result.returncode == 2 and "no weights" in result.stderr


def test_corrupt_weights_and_config(tmp_path, tiny_model_dir, glue_dir):
    weights = tiny_model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    result = run_cli("evaluate", "--checkpoint", tiny_model_dir, "--task", "sst2", "--data-dir", glue_dir)
    assert result.returncode == 2 and "cannot load a model" in result.stderr
    (tiny_model_dir / "config.json").write_text('{"model_type": "bert", ')
    result = run_cli("evaluate", "--checkpoint", tiny_model_dir, "--task", "sst2", "--data-dir", glue_dir)
    assert result.returncode == 2 and "cannot load" in result.stderr


def test_finetune_then_evaluate_at_several_speedups(tmp_path, tiny_model_dir, glue_dir):
    runner = CliRunner()
    out = tmp_path / "run"
    r = runner.invoke(app, ["finetune", "--task", "sst2", "-o", str(out), "--model", str(tiny_model_dir), "--data-dir",
                            str(glue_dir), "--epochs", "1", "--batch-size", "8", "--max-length", "16",
                            "--method", "acc", "--speedup-range", "1,2"])
    assert r.exit_code == 0, r.output
    results = tmp_path / "results.jsonl"
    r = runner.invoke(app, ["evaluate", "--checkpoint", str(out / "best"), "--task", "sst2", "--data-dir", str(glue_dir),
                            "--method", "acc", "--speedup", "1,1.5,2", "--max-length", "16", "--results", str(results)])
    assert r.exit_code == 0, r.output
    rows = [json.loads(l) for l in results.read_text().splitlines()]
    assert [row["method"] for row in rows] == ["acc"] * 3
    assert rows[0]["gflops"] == pytest.approx(rows[0]["dense_gflops"])
    assert rows[2]["gflops"] < rows[1]["gflops"] < rows[0]["dense_gflops"]
    assert rows[2]["predicted_speedup"] >= 2.0


def test_power_bert_pipeline_command(tmp_path, tiny_model_dir, glue_dir):
    out = tmp_path / "power"
    r = CliRunner().invoke(app, ["power-bert", "--task", "sst2", "--dense", str(tiny_model_dir), "-o", str(out),
                                 "--data-dir", str(glue_dir), "--epochs", "1", "--batch-size", "8", "--max-length", "16",
                                 "--lambda", "0.05", "--lr-soft", "0.05", "--max-train-examples", "16"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output.strip().splitlines()[-1])
    assert len(summary["keep_counts"]) == 3
    log = json.loads((out / "search" / "train_log.json").read_text())
    assert log["args"]["max_train_examples"] == 16 and log["epochs"][-1]["step"] == 2  # 16 examples / batch 8
    saved = json.loads((out / "power" / "best" / "config.json").read_text())["leanbert"]
    assert saved["method"] == "power" and saved["keep_counts"] == summary["keep_counts"]
    fca_args = ["fca", "--task", "sst2", "--dense", str(tiny_model_dir), "-o", str(out), "--data-dir", str(glue_dir),
                "--epochs", "1", "--batch-size", "8", "--max-length", "16", "--lambda", "0.05", "--lr-soft", "0.05",
                "--coarse", "5", "--merge", "mean"]
    r = CliRunner().invoke(app, fca_args)  # the search was made on 16 examples: not reused for a run on all of them
    assert r.exit_code != 0 and "max_train_examples=16" in str(r.exception)
    r = CliRunner().invoke(app, fca_args + ["--max-train-examples", "16"])
    assert r.exit_code == 0, r.output
    fca = json.loads(r.output.strip().splitlines()[-1])
    assert fca["keep_counts"] == summary["keep_counts"]  # the search was reused, not repeated
    saved = json.loads((out / "fca-k5-mean" / "best" / "config.json").read_text())["leanbert"]
    assert saved["method"] == "fca" and saved["coarse"] == 5


def test_evaluate_saved_config_row(tmp_path, tiny_model_dir, glue_dir):
    import leanbert

    model = leanbert.from_pretrained(tiny_model_dir)
    leanbert.apply(model, leanbert.FCAConfig(keep_fractions=(0.6, 0.4, 0.3), coarse=1)).save_pretrained(tiny_model_dir)
    r = CliRunner().invoke(app, ["evaluate", "--checkpoint", str(tiny_model_dir), "--task", "sst2", "--data-dir",
                                 str(glue_dir), "--method", "saved", "--max-length", "16"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.output.strip().splitlines()[-1])
    assert row["method"] == "fca" and row["variant"] == "fca-k1-weighted" and row["gflops"] < row["dense_gflops"]
    # the papers' protocol: every input padded to the task length, the same for dense and method
    padded = row["gflops_padded"]
    assert padded["method"] < padded["dense"] and padded["dense"] >= row["dense_gflops"]


def test_bench_command_reports_both_baselines(tmp_path, tiny_model_dir, glue_dir, quick_calibration):
    out = tmp_path / "speed.jsonl"
    r = CliRunner().invoke(app, ["bench", "--checkpoint", str(tiny_model_dir), "--task", "sst2", "--data-dir", str(glue_dir),
                                 "--speedup", "2", "--max-length", "16", "--batch-sizes", "1,4", "--examples", "4,8",
                                 "--min-run-time", "0.05", "--repeats", "2", "--results", str(out), "--threads", "1",
                                 "--rounds", "2"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert [row["repeat"] for row in rows] == [0, 1] and rows[0]["run_id"] == rows[1]["run_id"]
    assert set(rows[0]["padded"]) == {"1", "4"} and set(rows[0]["dynamic"]) == {"1", "4"}
    assert rows[0]["threads"] == 1 and "torch" in rows[0]["versions"] and rows[0]["rounds"] == {"1": 2, "4": 2}
    low, high = rows[0]["spread"]["dynamic"]["4"]
    assert 0 < low <= rows[0]["dynamic"]["4"] <= high  # the median round ratio lies inside the rounds' spread
    if platform.libc_ver()[0] == "glibc":  # timed on a warm heap by default, and the row says so
        assert rows[0]["allocator"] == allocator.WARM
    for bad, named in ((["--rounds", "0"], "rounds"), (["--rounds", "3,3,3"], "one per timed batch size"),
                       (["--batch-sizes", "1,4", "--examples", "4"], "same number"),
                       (["--min-run-time", "0"], "min-run-time")):
        r = CliRunner().invoke(app, ["bench", "--checkpoint", str(tiny_model_dir), "--task", "sst2", *bad])
        assert r.exit_code != 0 and named in str(r.exception), bad


def test_evaluate_bench_rows_carry_the_timing_protocol(tiny_model_dir, glue_dir, quick_calibration):
    r = CliRunner().invoke(app, ["evaluate", "--checkpoint", str(tiny_model_dir), "--task", "sst2", "--data-dir",
                                 str(glue_dir), "--method", "acc", "--speedup", "2", "--max-length", "16", "--bench",
                                 "--bench-batch-sizes", "2", "--bench-examples", "4", "--min-run-time", "0.05",
                                 "--rounds", "2", "--threads", "1"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.output.strip().splitlines()[-1])
    assert row["timing_rounds"] == {"2": 2} and row["speedup_dynamic"]["2"] > 0
    low, high = row["timing_spread"]["padded"]["2"]
    assert low <= row["speedup_padded"]["2"] <= high
    assert row["timing_allocator"] == allocator.current() and (
        row["timing_allocator"] == allocator.WARM or platform.libc_ver()[0] != "glibc")


def test_evaluate_sparse_rows_one_per_start_layer(tmp_path, tiny_model_dir, glue_dir):
    r = CliRunner().invoke(app, ["evaluate", "--checkpoint", str(tiny_model_dir), "--task", "sst2", "--data-dir", str(glue_dir),
                                 "--method", "sparse", "--width", "1", "--random", "1", "--from-layers", "0,2",
                                 "--max-length", "16"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(l) for l in r.output.strip().splitlines()]
    assert [row["config"]["layers"] for row in rows] == [[0, 1, 2], [2]]
    assert all(0 < row["sparsity"] < 1 for row in rows) and rows[0]["variant"] == "sparse-w1-r1-g-from0"


def test_finetune_and_evaluate_on_users_own_csv_files(tmp_path, tiny_model_dir):
    from conftest import SENTENCES_NEG, SENTENCES_POS

    train, dev = tmp_path / "train.csv", tmp_path / "dev.jsonl"
    rows = [(s, "pos") for s in SENTENCES_POS] + [(s, "neg") for s in SENTENCES_NEG]
    train.write_text("review,sentiment\n" + "".join(f"{t},{l}\n" for t, l in rows * 3))
    dev.write_text("".join(json.dumps({"review": t, "sentiment": l}) + "\n" for t, l in rows[::-1]))
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["finetune", "-o", str(out), "--model", str(tiny_model_dir), "--train-file", str(train),
                                 "--dev-file", str(dev), "--text-col", "review", "--label-col", "sentiment",
                                 "--epochs", "1", "--batch-size", "8", "--max-length", "16"])
    assert r.exit_code == 0, r.output
    saved = json.loads((out / "best" / "config.json").read_text())
    assert saved["id2label"] == {"0": "neg", "1": "pos"}
    r = CliRunner().invoke(app, ["evaluate", "--checkpoint", str(out / "best"), "--dev-file", str(dev), "--text-col", "review",
                                 "--label-col", "sentiment", "--max-length", "16", "--method", "acc", "--speedup", "1,2"])
    assert r.exit_code == 0, r.output
    rows_out = [json.loads(l) for l in r.output.strip().splitlines()]
    assert [row["task"] for row in rows_out] == ["custom", "custom"] and rows_out[1]["gflops"] < rows_out[0]["gflops"]


def test_custom_task_without_files_is_a_clear_error():
    result = run_cli("finetune", "-o", "/tmp/never")
    assert result.returncode == 2 and "--train-file" in result.stderr


def test_evaluate_acc_composed_with_a_pattern(tmp_path, tiny_model_dir, glue_dir):
    r = CliRunner().invoke(app, ["evaluate", "--checkpoint", str(tiny_model_dir), "--task", "sst2", "--data-dir", str(glue_dir),
                                 "--method", "acc", "--speedup", "1.5", "--width", "1", "--max-length", "16"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.output.strip().splitlines()[-1])
    assert row["config"]["pattern"]["width"] == 1 and row["variant"] == "acc+sparse-w1-r0-g-from0"


def test_export_command_writes_a_verified_graph_and_refuses_tome(tmp_path, tiny_model_dir):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    r = CliRunner().invoke(app, ["export", str(tiny_model_dir), "-o", str(out), "--method", "acc", "--speedup", "2",
                                 "--profile-length", "32", "--verify-lengths", "7,20"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output.strip().splitlines()[-1])
    assert out.is_file() and (tmp_path / "m.onnx.json").is_file() and len(info["checks"]) == 4
    result = run_cli("export", tiny_model_dir, "-o", tmp_path / "t.onnx", "--method", "tome", "--speedup", "2",
                     "--profile-length", "32")
    assert result.returncode == 2 and result.stderr.strip().startswith("error: invalid config field 'method'")
    assert "Traceback" not in result.stderr and not (tmp_path / "t.onnx").exists()


def test_reduction_pipelines_take_per_task_defaults(tmp_path, tiny_model_dir, glue_dir):
    from leanbert.methods.power.pipeline import GENERIC_DEFAULTS, REDUCTION_DEFAULTS, reduction_defaults

    assert reduction_defaults("cola") == REDUCTION_DEFAULTS["cola"]
    assert reduction_defaults("cola", retention_lambda=0.5) == (0.5, *REDUCTION_DEFAULTS["cola"][1:])
    assert reduction_defaults("custom") == GENERIC_DEFAULTS
    out = tmp_path / "power"
    r = CliRunner().invoke(app, ["power-bert", "--task", "sst2", "--dense", str(tiny_model_dir), "-o", str(out),
                                 "--data-dir", str(glue_dir), "--max-length", "16", "--max-train-examples", "8"])
    assert r.exit_code == 0, r.output
    args = json.loads((out / "search" / "train_log.json").read_text())["args"]
    assert (args["retention_lambda"], args["lr_soft"], args["batch_size"]) == REDUCTION_DEFAULTS["sst2"]


def test_fca_runs_all_three_stages_in_one_command(tmp_path, tiny_model_dir, glue_dir):
    out = tmp_path / "fca"
    r = CliRunner().invoke(app, ["fca", "--task", "sst2", "--model", str(tiny_model_dir), "--dense-epochs", "1",
                                 "--dense-lr", "1e-4", "-o", str(out), "--data-dir", str(glue_dir), "--batch-size", "8",
                                 "--max-length", "16", "--lambda", "0.05", "--lr-soft", "0.05"])
    assert r.exit_code == 0, r.output
    for stage in ("dense", "search", "fca-k1-weighted"):
        assert (out / stage / "best" / "config.json").is_file(), stage
    search = json.loads((out / "search" / "train_log.json").read_text())
    assert search["args"]["model"] == str(out / "dense" / "best")  # the search starts from stage 1's model
    assert json.loads((out / "dense" / "train_log.json").read_text())["args"]["lr"] == 1e-4  # --dense-lr reached it
    r = CliRunner().invoke(app, ["fca", "--task", "sst2", "--model", str(tiny_model_dir), "--dense-epochs", "0",
                                 "-o", str(tmp_path / "x"), "--data-dir", str(glue_dir)])
    assert r.exit_code != 0 and "dense-epochs" in str(r.exception)
    r = CliRunner().invoke(app, ["fca", "--task", "sst2", "--model", str(tiny_model_dir), "--dense-lr", "0",
                                 "-o", str(tmp_path / "y"), "--data-dir", str(glue_dir)])
    assert r.exit_code != 0 and "dense-lr" in str(r.exception)
