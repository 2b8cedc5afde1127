"""`accelerate launch --num_processes 2 leanbert predict`: the work is shared and the output equals one process's."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import leanbert
from test_predict import sentences

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_share_the_chunks_and_merge_them_in_input_order(tiny_model_dir, tmp_path):
    (tmp_path / "in.txt").write_text("\n".join(sentences(203)) + "\n")  # 203 rows: 13 chunks, not an even split
    env = {**os.environ, "PYTHONPATH": str(Path(leanbert.__file__).parents[1])}
    args = ["predict", str(tiny_model_dir), "-i", "in.txt", "--max-length", "32", "--batch-size", "4",
            "--chunk-size", "16", "--threads", "1", "-o"]
    accelerate = Path(sys.executable).with_name("accelerate")
    launch = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision",
              "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()), "-m", "leanbert"]
    two = subprocess.run(launch + args + ["two.jsonl"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=900)
    assert two.returncode == 0, two.stderr[-2000:]
    summary = json.loads(two.stdout.strip().splitlines()[-1])  # printed once, by the main process
    # the main process took chunks 0, 2, ..., 12; the last holds 11 rows
    assert summary["processes"] == 2 and summary["rows"] == 203 and summary["computed_here"] == 6 * 16 + 11
    one = subprocess.run([sys.executable, "-m", "leanbert"] + args + ["one.jsonl"], cwd=tmp_path, capture_output=True,
                         text=True, env=env, timeout=900)
    assert one.returncode == 0, one.stderr[-2000:]
    assert (tmp_path / "two.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    assert not (tmp_path / "two.jsonl.partial").exists()
