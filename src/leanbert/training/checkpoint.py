"""The files of a fine-tuning run: the train log, the resumable training state, the best checkpoint's folder."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from .. import atomic

STATE_DIR = "last_state"
BEST_DIR = "best"
LOG_FILE = "train_log.json"


def load_log(out: Path):
    path = out / LOG_FILE
    if path.is_file():
        return json.loads(path.read_text())
    return None


def save_state(accelerator, out: Path, log: dict) -> None:
    """Resumable state, written atomically. Under several processes every process writes its own part
    (its RNG state) into one shared temporary directory, which the main process then swaps in."""
    tmp = out / f".{STATE_DIR}.partial"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        atomic.replace(tmp, out / STATE_DIR)
        atomic.write_json(out / LOG_FILE, log)
    accelerator.wait_for_everyone()
