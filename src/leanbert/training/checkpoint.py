"""The files of a fine-tuning run: the train log, the resumable training state, the best checkpoint's folder."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from .. import atomic

STATE_DIR = "last_state"
BEST_DIR = "best"
LOG_FILE = "train_log.json"


# Fields that decide what a run trains on: a run folder holding another value is someone else's run, and resuming
# it would silently keep its weights (e.g. a LengthDrop run that trained on the search slice).
DATA_FIELDS = ("task", "seed", "max_train_examples", "search_slice", "elastic")
DEFAULTS = {"search_slice": False}  # logs written before a field existed


def check_resumable(log: dict, args: dict, out: Path) -> None:
    """Refuse to resume (or reuse) a run in `out` whose log says it trained on other data than `args` asks."""
    from ..errors import ConfigError

    saved = log.get("args", {})
    for name in DATA_FIELDS:
        old, new = json.loads(json.dumps(saved.get(name, DEFAULTS.get(name)))), json.loads(json.dumps(args.get(name)))
        if old != new:
            raise ConfigError(f"{out} holds a run made with {name}={old!r}, not {new!r}: give another output "
                              "directory, or delete that one to start over")


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
