"""Command-line options are checked before any work (issue #22): nonsense numbers, impossible ranges and
unwritable output paths end in one line `error: ...` and exit code 2; Ctrl-C keeps the finished rows."""
import io
import json
from contextlib import redirect_stderr, redirect_stdout

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from leanbert import checks
from leanbert.cli import main
from leanbert.errors import LeanbertError


def cli(*argv):
    """The entry point in this process, as a user sees it: (exit code, stdout, stderr). Anything but a
    clean exit (a traceback) propagates and fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as done:
        main([str(a) for a in argv])
    return done.value.code, out.getvalue(), err.getvalue()


def assert_one_error_line(code, err, *needles):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_numbers_refuse_fractions_for_integers_repeats_and_non_finite_values():
    assert checks.numbers("40, 30,20", "keep-counts", int) == [40, 30, 20]
    assert checks.numbers("", "speedup") == []
    for text, kind, unique, message in (("2.7", int, False, "integers"), ("2,2,2", float, True, "2 is given more than once"),
                                        ("1,nan", float, False, "finite"), ("1e309", float, False, "finite"),
                                        ("two", float, False, "comma-separated numbers")):
        with pytest.raises(LeanbertError, match=message):
            checks.numbers(text, "x", kind, unique)


@pytest.mark.parametrize("argv, needle", [
    (["evaluate", "--checkpoint", "MODEL", "--method", "power", "--keep-counts", "2.7"],
     "--keep-counts must be comma-separated integers"),
    (["evaluate", "--checkpoint", "MODEL", "--method", "acc", "--speedup", "2,2,2"], "2 is given more than once"),
    (["evaluate", "--checkpoint", "MODEL", "--method", "sparse", "--width", "2", "--from-layers", "9"], "'from_layers': 9"),
    (["evaluate", "--checkpoint", "MODEL", "--method", "dense", "--speedup", "2"], "--method dense takes no --speedup"),
    (["bench", "--checkpoint", "MODEL", "--rounds", "2.5"], "--rounds must be comma-separated integers"),
    (["export", "MODEL", "-o", "OUT/m.onnx", "--method", "dense", "--speedup", "3"], "--method dense takes no --speedup"),
    (["export", "MODEL", "-o", "OUT/m.onnx", "--profile-length", "0"], "--profile-length must be a number >= 2"),
    (["export", "MODEL", "-o", "OUT/m.onnx", "--profile-length", "-5"], "--profile-length must be a number >= 2"),
    (["serve", "/no/such/model", "--port", "70000"], "--port must be in [1, 65535]"),  # before the model loads
    (["serve", "/no/such/model", "--workers", "0"], "--workers must be >= 1"),
])
def test_nonsense_options_are_refused_in_one_line(argv, needle, tmp_path, tiny_model_dir, glue_dir):
    swap = {"MODEL": str(tiny_model_dir), "OUT": str(tmp_path / "out")}
    argv = [swap.get(a, a).replace("OUT", str(tmp_path / "out")) for a in argv]
    if argv[0] in ("evaluate", "bench"):
        argv += ["--task", "sst2", "--data-dir", str(glue_dir), "--max-length", "16"]
    code, _, err = cli(*argv)
    assert_one_error_line(code, err, needle)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("options, needle", [
    (["--epochs", "0"], "--epochs must be a number > 0"), (["--epochs", "-1"], "--epochs"),
    (["--epochs", "nan"], "--epochs"), (["--lr", "nan"], "--lr must be a number > 0"),
    (["--batch-size", "0"], "--batch-size must be a number >= 1"), (["--batch-size", "-4"], "--batch-size"),
    (["--max-train-examples", "0"], "--max-train-examples must be a number >= 1"),
    (["--method", "acc", "--speedup-range", "1,500"], "this model's maximum at length 16"),
    (["--method", "acc", "--speedup-range", "4,1"], "'speedup_range': 4.0,1.0"),
])
def test_finetune_refuses_options_that_would_train_nothing(options, needle, tmp_path, tiny_model_dir, glue_dir):
    out = tmp_path / "run"
    code, _, err = cli("finetune", "--task", "sst2", "-o", out, "--model", tiny_model_dir, "--data-dir", glue_dir,
                       "--max-length", "16", *options)
    assert_one_error_line(code, err, needle)
    assert not (out / "best").exists() and not (out / "train_log.json").exists()  # nothing trained or saved


@pytest.fixture
def no_work(monkeypatch):
    """Any loading or training fails the test: the option must be refused before it."""
    import leanbert.engine.models
    import leanbert.measure.runner
    import leanbert.training.train

    def work(*args, **kwargs):
        raise AssertionError("work started before the output path was checked")

    monkeypatch.setattr(leanbert.measure.runner, "load_split", work)
    monkeypatch.setattr(leanbert.training.train, "finetune", work)
    monkeypatch.setattr(leanbert.engine.models, "load_classifier", work)


def test_output_paths_are_checked_before_any_work(tmp_path, tiny_model_dir, glue_dir, no_work):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    evaluate = ["evaluate", "--checkpoint", tiny_model_dir, "--task", "sst2", "--data-dir", glue_dir]
    for argv, needle in (
        ([*evaluate, "--results", tmp_path], "is a directory, not a file"),
        ([*evaluate, "--results", a_file / "r.jsonl"], "is a file, so nothing can be created under it"),
        ([*evaluate, "--results", "/proc/leanbert/r.jsonl"], "cannot write in /proc"),  # refused even to root
        (["bench", "--checkpoint", tiny_model_dir, "--task", "sst2", "--results", tmp_path], "--results"),
        (["finetune", "--task", "sst2", "-o", a_file], "is a file, not a directory"),
        (["power-bert", "--task", "sst2", "--dense", tiny_model_dir, "-o", a_file / "x"], "is a file"),
        (["export", tiny_model_dir, "-o", tmp_path], "is a directory, not a file"),
    ):
        code, _, err = cli(*argv)
        assert_one_error_line(code, err, needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["glue", "notes.txt", "tiny-bert", "tokenizer"]


def test_interrupted_evaluate_keeps_finished_rows_and_says_so(tmp_path, tiny_model_dir, glue_dir, monkeypatch):
    import leanbert.measure.runner

    scored, real = [], leanbert.measure.runner.score_config

    def interrupted_on_the_second(*args, **kwargs):
        scored.append(1)
        if len(scored) == 2:
            raise KeyboardInterrupt  # what Ctrl-C raises
        return real(*args, **kwargs)

    monkeypatch.setattr(leanbert.measure.runner, "score_config", interrupted_on_the_second)
    results = tmp_path / "r.jsonl"
    code, out, err = cli("evaluate", "--checkpoint", tiny_model_dir, "--task", "sst2", "--data-dir", glue_dir,
                         "--method", "acc", "--speedup", "1.5,2,3", "--max-length", "16", "--results", results)
    assert code == 130 and len(err.strip().splitlines()) == 1 and err.startswith("interrupted")
    assert [json.loads(line)["target_speedup"] for line in results.read_text().splitlines()] == [1.5]
    assert len(out.strip().splitlines()) == 1


def test_usage_errors_are_one_line_too():
    code, _, err = cli("finetune", "-o", "/tmp/never", "--epochs", "abc")
    assert_one_error_line(code, err, "--epochs", "leanbert finetune --help")
    assert_one_error_line(*cli("no-such-command")[::2], "No such command")


VALUES = st.sampled_from(["0", "-1", "1", "2", "3", "2.7", "1.5", "nan", "inf", "-inf", "1e309", "abc", "", " ",
                          "2,2", "1,500", "4,1", "1,2", "0x10", "٣", "1,,2", "-0", "64", "70000"])
COMMANDS = {
    # (fixed arguments, options drawn at random); each fails before work or runs in well under a second
    "finetune": (["--task", "no-such-task", "-o", "OUT"], ["--epochs", "--batch-size", "--lr", "--max-train-examples",
                                                            "--speedup-range", "--max-length", "--threads"]),
    "evaluate": (["--checkpoint", "MODEL", "--task", "sst2", "--data-dir", "GLUE", "--max-length", "16"],
                 ["--speedup", "--keep-counts", "--from-layers", "--width", "--random", "--threads", "--dense-score"]),
    "bench": (["--checkpoint", "/no/such/model", "--task", "sst2"], ["--rounds", "--batch-sizes", "--examples",
                                                                      "--min-run-time", "--repeats", "--speedup"]),
    "export": (["/no/such/model", "-o", "OUT/m.onnx"], ["--profile-length", "--verify-lengths", "--speedup", "--keep-counts"]),
}
METHODS = st.sampled_from(["dense", "acc", "power", "tome", "sparse", "saved", "bogus"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_option_values_run_or_fail_in_one_line(data, tmp_path, tiny_model_dir, glue_dir):
    name = data.draw(st.sampled_from(sorted(COMMANDS)))
    fixed, optional = COMMANDS[name]
    swap = {"MODEL": str(tiny_model_dir), "GLUE": str(glue_dir), "OUT": str(tmp_path / "out")}
    argv = [name, *(swap.get(a, a).replace("OUT", str(tmp_path / "out")) for a in fixed)]
    for option in data.draw(st.lists(st.sampled_from(optional), unique=True, max_size=4)):
        argv += [option, data.draw(VALUES)]
    if name in ("evaluate", "export") and data.draw(st.booleans()):
        argv += ["--method", data.draw(METHODS)]
    code, _, err = cli(*argv)
    if code != 0:
        assert_one_error_line(code, err)
