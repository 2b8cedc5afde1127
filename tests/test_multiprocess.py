"""`leanbert finetune` under `accelerate launch` with two processes (CPU, gloo over loopback), unchanged."""
import json
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SPECIALS, WORDS, tiny_model

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _toy_files(tmp_path: Path) -> None:
    rng = random.Random(0)
    pos, neg, filler = "good great fine nice".split(), "bad awful poor sad".split(), "the a movie film plot was is very".split()
    for name, n in (("train", 200), ("dev", 61)):  # 61 dev rows: does not split evenly over 2 processes
        rows = ["text,label"]
        for _ in range(n):
            label = rng.randint(0, 1)
            words = [rng.choice(pos if label else neg)] + rng.sample(filler, rng.randint(1, 6))
            rows.append(f"{' '.join(words)},{'pos' if label else 'neg'}")
        (tmp_path / f"{name}.csv").write_text("\n".join(rows) + "\n")


def test_two_processes_shard_the_data_save_every_rng_state_and_agree_with_one_process(tmp_path, tiny_tokenizer):
    model_dir = tmp_path / "tiny"
    tiny_model(vocab_size=len(SPECIALS) + len(WORDS)).save_pretrained(model_dir)
    tiny_tokenizer.save_pretrained(model_dir)
    _toy_files(tmp_path)
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "--main_process_port", str(_free_port()), "-m", "leanbert", "finetune", "-o", "out",
           "--model", str(model_dir), "--train-file", "train.csv", "--dev-file", "dev.csv", "--epochs", "2",
           "--batch-size", "8", "--lr", "1e-3", "--max-length", "32"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    log = json.loads((tmp_path / "out/train_log.json").read_text())
    assert [e["step"] for e in log["epochs"]] == [13, 26]  # 200 rows / batch 8 / 2 processes = 13 steps an epoch
    state = tmp_path / "out/last_state"
    assert (state / "random_states_0.pkl").is_file() and (state / "random_states_1.pkl").is_file()
    one = subprocess.run([sys.executable, "-m", "leanbert", "evaluate", "--checkpoint", "out/best", "--dev-file", "dev.csv",
                          "--max-length", "32"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stderr[-2000:]
    single = json.loads(one.stdout.strip().splitlines()[-1])
    assert single["score"] == log["best_score"]  # the 2-process dev metric counted every row exactly once
