"""The benchmark plan (benchmarks/, docs/benchmarks.md): every committed results file has one producer, every
command parses, hyper-parameters come from the one table, and the runner is resumable. Nothing trains here."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the benchmarks package lives at the repository root

from benchmarks import execute  # noqa: E402
from benchmarks.checks import check_command  # noqa: E402
from benchmarks.plan import build  # noqa: E402
from benchmarks.steps import RESULTS, Late, Options, PlanError, Rows, Step, leanbert  # noqa: E402

PLAN = build(Options(data_dir="../shared/data/glue"))


def committed_results() -> list[str]:
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "results"], capture_output=True, text=True)
    files = [f for f in out.stdout.split() if f.endswith(".jsonl")] if out.returncode == 0 else []
    return files or sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "results").rglob("*.jsonl"))


@pytest.mark.parametrize("path", committed_results())
def test_every_committed_results_file_has_exactly_one_producer(path):
    writers = [s for s in PLAN if s.rows is not None and s.rows.file == path]
    assert writers, f"{path}: no step of the plan writes it"
    whole = [s for s in writers if s.rows.variants is None]
    if whole:  # a whole-file step is the file's only producer
        assert len(writers) == 1, [s.name for s in writers]
        return
    declared = [v for s in writers for v in s.rows.variants]
    assert len(declared) == len(set(declared)), "two steps write the same variant"
    rows = [json.loads(line) for line in (ROOT / path).read_text().splitlines()]
    assert {r.get("variant") for r in rows} <= set(declared), "rows no step produces"


@pytest.mark.parametrize("step", PLAN, ids=lambda s: s.name)
def test_every_command_parses(step):
    for argv in step.commands:
        check_command(argv)


@pytest.mark.parametrize("argv, message", [
    (leanbert("evaluate", "--checkpoint", "x", "--no-such-option", "1"), "no-such-option"),
    (leanbert("evalute", "--checkpoint", "x"), "no subcommand 'evalute'"),
    (leanbert("evaluate", "--checkpoint", "x", "--threads", "one"), "--threads"),
    (leanbert("evaluate", "--task", "mrpc"), "missing --checkpoint"),
    (leanbert("study", "sparse", "--task", "mrpc"), "missing --dense"),
    (("python", "-m", "benchmarks.onnx_speed", "--task", "mrpc"), "checkpoint"),
    (("python", "-m", "benchmarks.onnx_speed", "--checkpoint", "x", "--task", "mrpc", "--bogus"), "bogus"),
])
def test_the_checker_catches_what_would_fail(argv, message):
    with pytest.raises(PlanError, match=message):
        check_command(argv)


def test_steps_are_named_once_and_need_earlier_steps():
    order = {s.name: i for i, s in enumerate(PLAN)}
    assert len(order) == len(PLAN)
    for step in PLAN:
        assert all(order[need] < order[step.name] for need in step.needs), step.name
        assert all("--threads" in argv and argv[argv.index("--threads") + 1] == "1"
                   for argv in step.commands if argv[0] == "leanbert"), step.name


def test_hyperparameters_live_in_one_table(monkeypatch):
    from leanbert.training import recipes
    from leanbert.methods.power.pipeline import reduction_defaults

    monkeypatch.setitem(recipes.RECIPES, "mrpc", replace(recipes.RECIPES["mrpc"], epochs=7, retention_lambda=0.5))
    plan = {s.name: s for s in build()}
    assert "--epochs 7" in " ".join(map(str, plan["mrpc:train-dense"].commands[0]))
    assert "--lambda 0.5" in " ".join(map(str, plan["mrpc:train-power"].commands[0]))
    assert "mrpc:power-lambda1.5" in plan  # the curve follows (lambda x 3)
    assert reduction_defaults("mrpc")[0] == 0.5  # and so do the CLI's defaults


def test_timing_protocol_is_the_tasks():
    for step in PLAN:
        for argv in step.commands:
            words = list(map(str, argv))
            if "--bench" not in words or step.task is None:
                continue
            bbc = step.task == "bbc"
            if words[1] != "lat":  # lat takes its split from the same table (recipes.eval_split)
                assert words[words.index("--split") + 1] == ("test" if bbc else "dev")
            assert words[words.index("--bench-batch-sizes") + 1] == "1,32"
            examples = "16,64" if step.part.startswith("mpnet/") else "4,32" if bbc else "32,128"  # 12 layers: fewer
            assert words[words.index("--bench-examples") + 1] == examples
            assert ("--min-run-time" in words) == bbc


def test_parts_select_steps():
    names = {s.name for s in execute.select(PLAN, only=["ablation"])}
    assert names and all(n.startswith("ablation/") for n in names)
    assert [s.name for s in execute.select(PLAN, only=["results/speed/onnx.jsonl"])] == ["speed/onnx"]
    assert {s.name for s in execute.select(PLAN, only=["mrpc"], only_step=["ltp-*"])} == {
        "mrpc:ltp-lambda0.1", "mrpc:ltp-lambda0.3", "mrpc:ltp-lambda2"}
    # a step name alone, over the whole plan (whose study steps have no "<part>:" prefix)
    assert [s.name for s in execute.select(PLAN, only_step=["mrpc:train-dense"])] == ["mrpc:train-dense"]
    with pytest.raises(PlanError):
        execute.select(PLAN, only=["nosuchpart"])


# --- the runner, on a plan of fake commands (subprocess replaced: it records argv and writes rows) ---


def fake_plan():
    score = ("--dense-score", Late("dense_score", "results/t.jsonl"))
    return [Step("t:train-dense", (leanbert("finetune", "-o", "runs/t/dense"),), outputs=("runs/t/dense",)),
            Step("t:dense", (leanbert("evaluate", "--results", RESULTS, "--variant", "dense"),),
                 rows=Rows("results/t.jsonl", ("dense",)), needs=("t:train-dense",)),
            Step("t:acc", (leanbert("evaluate", "--results", RESULTS, *score, "--variant", "acc"),),
                 rows=Rows("results/t.jsonl", ("acc",)), needs=("t:train-dense", "t:dense")),
            Step("speed/x", (leanbert("bench", "--results", RESULTS),) * 2, rows=Rows("results/speed/x.jsonl"))]


@pytest.fixture
def fake(tmp_path, monkeypatch):
    calls, fail = [], set()

    def run(cmd, cwd, env):
        args = cmd[cmd.index("leanbert") + 1:]
        calls.append(args)
        if "--results" in args:
            variant = args[args.index("--variant") + 1] if "--variant" in args else "x"
            row = {"method": "dense" if variant == "dense" else "acc", "variant": variant, "score": 80.0,
                   "command": "leanbert " + " ".join(args)}
            with open(Path(cwd) / args[args.index("--results") + 1], "a") as f:
                f.write(json.dumps(row) + "\n")
        return subprocess.CompletedProcess(cmd, 1 if variant_of(args) in fail else 0)

    monkeypatch.setattr(execute.subprocess, "run", run)
    monkeypatch.setattr(execute, "check_command", lambda argv: None)
    monkeypatch.setattr(execute, "source_commit", lambda ctx: "abc")
    (tmp_path / "runs/plan/rows").mkdir(parents=True)
    return calls, fail, execute.Context(root=tmp_path, log=lambda line: None)


def variant_of(args):
    return args[args.index("--variant") + 1] if "--variant" in args else None


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_runner_stages_rows_resolves_late_values_and_resumes(fake):
    calls, _, ctx = fake
    plan = fake_plan()
    execute.run(plan, plan, ctx)
    assert [c[0] for c in calls] == ["finetune", "evaluate", "evaluate", "bench", "bench"]
    assert calls[2][calls[2].index("--dense-score") + 1] == "80.0"  # read from the dense row just written
    rows = rows_of(ctx.root / "results/t.jsonl")
    assert [r["variant"] for r in rows] == ["dense", "acc"] and rows[1]["plan_step"] == "t:acc"
    assert "--results results/t.jsonl" in rows[1]["command"]  # not the staging file
    assert len(rows_of(ctx.root / "results/speed/x.jsonl")) == 2  # both commands of a whole-file step
    assert json.loads((ctx.root / "runs/t/dense" / execute.STAMP).read_text())["commit"] == "abc"
    calls.clear()
    execute.run(plan, plan, ctx)
    assert calls == []  # everything done: nothing runs


def test_a_step_replaces_only_its_own_rows_and_trains_only_what_is_needed(fake):
    calls, _, ctx = fake
    (ctx.root / "results").mkdir()
    old = [{"method": "dense", "variant": "dense", "score": 70.0}, {"method": "acc", "variant": "acc", "score": 1.0},
           {"method": "tome", "variant": "other", "score": 2.0}]
    (ctx.root / "results/t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old))
    plan = fake_plan()
    execute.run(plan, [plan[2]], replace(ctx, force=True))
    assert [c[0] for c in calls] == ["finetune", "evaluate"]  # its checkpoint is trained (not stamped), dense kept
    assert calls[1][calls[1].index("--dense-score") + 1] == "70.0"
    rows = rows_of(ctx.root / "results/t.jsonl")
    assert [(r["variant"], r["score"]) for r in rows] == [("dense", 70.0), ("other", 2.0), ("acc", 80.0)]
    calls.clear()
    execute.run(plan, plan[:3], ctx)  # the part's rows are all there: nothing trains
    assert calls == []


def test_a_failed_step_leaves_the_results_file_alone(fake):
    calls, fail, ctx = fake
    plan = fake_plan()
    execute.run(plan, plan[:2], ctx)
    before = (ctx.root / "results/t.jsonl").read_text()
    fail.add("acc")
    with pytest.raises(PlanError, match="t:acc failed"):
        execute.run(plan, plan, ctx)
    assert (ctx.root / "results/t.jsonl").read_text() == before
    assert not (ctx.root / "results/speed/x.jsonl").exists()  # the run stopped at the failure


def test_rows_of_an_undeclared_variant_are_refused(fake):
    _, _, ctx = fake
    step = Step("t:acc", (leanbert("evaluate", "--results", RESULTS, "--variant", "surprise"),),
                rows=Rows("results/t.jsonl", ("acc",)))
    with pytest.raises(PlanError, match="surprise"):
        execute.run([step], [step], ctx)
    assert not (ctx.root / "results/t.jsonl").exists()


def test_the_committed_parts_are_complete(capsys):
    """Every committed task file is done: `run --only TASK` has nothing to run and trains nothing."""
    from benchmarks.__main__ import main

    assert main(["run", "--only", "mrpc", "--only", "stsb", "--dry-run"]) == 0  # the tasks the elastic recipe ran on
    assert "0 of " in capsys.readouterr().out
    assert main(["plan", "--only", "speed/onnx"]) == 0
    listing = capsys.readouterr().out
    assert "leanbert finetune --task mrpc -o runs/mrpc/acc" in listing  # what it needs is listed with it
    assert "python -m benchmarks.onnx_speed --checkpoint runs/mrpc/acc/best" in listing


def test_ablation_table_orders_variants_and_shows_the_change_and_accuracy():
    from benchmarks.ablation_table import table

    def row(variant, speedup, score, accuracy):
        return {"variant": variant, "target_speedup": speedup, "score": score, "dense_score": 86.0, "metric": "f1",
                "metrics": {"accuracy": accuracy}}

    lines = table("mrpc", [row("elastic-teacher", 2.0, 85.0, 0.8), row("elastic-old", 2.0, 80.0, 0.68),
                           row("elastic-old", 1.0, 86.5, 0.81)])
    body = [line for line in lines if line.startswith("| elastic")]
    assert [line.split(" | ")[0] for line in body] == ["| elastic-old", "| elastic-teacher"]
    assert "86.50 (+0.50) / 81.0%" in body[0] and "80.00 (-6.00) / 68.0%" in body[0]
    assert body[1].endswith("| - | 85.00 (-1.00) / 80.0% |")  # no 1x row for that variant


def test_a_task_recipes_elastic_range_reaches_its_command_and_a_variant_replaces_it():
    steps = {s.name: list(map(str, s.commands[0])) for s in PLAN}

    def value(argv, flag):
        return argv[argv.index(flag) + 1] if flag in argv else None

    bbc, mrpc = steps["bbc:train-elastic"], steps["mrpc:train-elastic"]
    assert (value(bbc, "--speedup-range"), value(bbc, "--budgets")) == ("1.25,8", "1.5,2,3,4,5,6,7,8")
    assert value(mrpc, "--speedup-range") is None  # the CLI's default range
    narrow = steps["mrpc:train-elastic-narrow"]
    assert narrow.count("--speedup-range") == 1 and value(narrow, "--speedup-range") == "1.25,2.5"
    from benchmarks.plan import elastic_steps  # a variant that changes something else keeps the task's range

    other = list(map(str, elastic_steps("bbc", Options(), "x", ("--teacher-weight", "0"))[0].commands[0]))
    assert value(other, "--speedup-range") == "1.25,8" and value(other, "--teacher-weight") == "0"
