"""`leanbert serve --workers N`: the spec each worker builds its server from, and N real processes on one port."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import leanbert
from leanbert.deploy.serve import Classifier, Limits
from leanbert.deploy.workers import SPEC_ENV, ServeSpec, app_factory, threads_per_worker

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py
TEXTS = ["good movie", "bad film", "very nice plot"]


def test_a_spec_survives_the_trip_through_the_environment(tmp_path):
    spec = ServeSpec(str(tmp_path), 32, limits={"max_texts": 4}, batching={"max_wait": 0.01, "batching": False},
                     runtime="onnxruntime", precision="int8", graphs=("a.onnx", "b.onnx"), threads=2)
    assert ServeSpec.from_json(spec.to_json()) == spec


def test_workers_share_the_cores_unless_threads_are_given(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))  # the cores this process may use
    assert threads_per_worker(1, None) is None  # one process: torch's own default, as before workers existed
    assert threads_per_worker(2, None) == 4
    assert threads_per_worker(16, None) == 1  # never zero
    assert threads_per_worker(2, 3) == 3


def test_the_worker_factory_serves_what_the_spec_says(acc_dir, monkeypatch):
    spec = ServeSpec(str(acc_dir), 32, limits={"max_texts": 2}, batching={"batching": False}, threads=1)
    monkeypatch.setenv(SPEC_ENV, spec.to_json())
    client = TestClient(app_factory())
    alone = Classifier(acc_dir, max_length=32).predict(TEXTS[:2])
    got = client.post("/classify", json={"texts": TEXTS[:2]}).json()
    assert got["labels"] == alone["labels"] and got["probabilities"] == alone["probabilities"]
    assert got["batch"] == {"requests": 1, "texts": 2}
    too_many = client.post("/classify", json={"texts": TEXTS})  # the spec's limit, not the default 64
    assert too_many.status_code == 413 and "at most 2 per request" in too_many.json()["detail"]


def test_the_factory_outside_a_worker_names_what_is_missing(monkeypatch):
    monkeypatch.delenv(SPEC_ENV, raising=False)
    with pytest.raises(RuntimeError, match=SPEC_ENV):
        app_factory()


def test_a_worker_that_cannot_load_says_why_and_exits_as_a_startup_failure(tmp_path, monkeypatch, capsys):
    from uvicorn.config import STARTUP_FAILURE  # the code that stops uvicorn's supervisor instead of a respawn loop

    monkeypatch.setenv(SPEC_ENV, ServeSpec(str(tmp_path / "gone"), 32).to_json())
    with pytest.raises(SystemExit) as stop:
        app_factory()
    assert stop.value.code == STARTUP_FAILURE
    assert "failed to start" in capsys.readouterr().err


def test_answers_say_which_worker_process_gave_them(acc_dir):
    from leanbert.deploy.workers import build_app

    client = TestClient(build_app(ServeSpec(str(acc_dir), 32)))
    assert client.get("/health").json()["worker"] == os.getpid()
    assert client.post("/classify", json={"texts": TEXTS}).headers["x-leanbert-worker"] == str(os.getpid())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawned_children(pid: int) -> list[int]:
    """Pids of `pid`'s children that are multiprocessing-spawned workers (not its resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (entry / "cmdline").read_bytes()
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid and b"spawn_main" in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="counts worker processes in /proc")
def test_two_worker_processes_answer_on_one_port_and_stop_on_sigterm(acc_dir):
    import httpx

    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(leanbert.__file__).parents[1])}
    # the console script, as users (and the load test) start it: a spawned worker re-imports it, torch included,
    # before it can answer the supervisor's first ping (uvicorn's default 5 s killed such workers in a loop)
    leanbert_script = Path(sys.executable).with_name("leanbert")
    proc = subprocess.Popen([str(leanbert_script), "serve", str(acc_dir), "--port", str(port), "--workers", "2",
                             "--max-length", "32"], env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "server not healthy in 300 s"
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200 and len(_spawned_children(proc.pid)) == 2:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        alone = Classifier(acc_dir, max_length=32, limits=Limits()).predict(TEXTS)
        for _ in range(4):  # new connections each time: whichever worker accepts answers the same
            got = httpx.post(f"{url}/classify", json={"texts": TEXTS}, timeout=60).json()
            assert got["labels"] == alone["labels"]
            assert np.allclose(got["probabilities"], alone["probabilities"], atol=2e-6)  # rounded to 6 places
        workers = _spawned_children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
        assert not any(Path(f"/proc/{w}").exists() and b"spawn_main" in Path(f"/proc/{w}/cmdline").read_bytes()
                       for w in workers)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
