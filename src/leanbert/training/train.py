"""Fine-tuning on accelerate: AdamW, linear warm-up and decay, dynamic padding, evaluation each epoch,
best-dev checkpoint (atomic `save_pretrained`), resumable from the last saved training state.

ACC offline tuning: with `acc_speedups=(lo, hi)` every training batch runs at a target speedup drawn
log-uniformly from [lo, hi] (a quarter of batches at `lo`), so one checkpoint serves every speedup.
"""
from __future__ import annotations

import json
import math
import shutil
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .. import atomic, checks
from ..data import syntax
from ..engine.api import apply, current_config
from ..data.batching import bucketed_train_loader, check_max_length, encode, train_loader
from ..engine.config import ACCConfig, config_from_dict, uses_syntax
from ..methods.lat.lengthdrop import LengthDropSampler, full_config as lat_full_config, sandwich_loss
from ..methods.sparse.learned_band import ATTR as BAND_ATTR, attach_learned_band
from ..methods.ltp.training import ATTR as LTP_ATTR, attach_soft_ltp
from ..methods.power.retention import ATTR as RETENTION_ATTR, attach_search
from ..data.datasets import UserFiles, load_task
from ..errors import ConfigError
from ..measure.evaluation import evaluate
from ..measure.flops import model_dims
from ..engine.models import backbone_name, load_classifier, load_tokenizer, resolve_model_dir
from ..core.schedule import max_speedup, solve_fractions

STATE_DIR = "last_state"
BEST_DIR = "best"
LOG_FILE = "train_log.json"


@dataclass
class FinetuneArgs:
    task: str
    output_dir: str
    model: str | None = None
    data_dir: str | None = None
    epochs: float = 3.0
    batch_size: int = 32
    lr: float = 5e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_length: int | None = None
    seed: int = 42
    max_train_examples: int | None = None
    eval_batch_size: int = 64
    save_every: int = 200  # optimizer steps between resumable training-state saves
    acc_speedups: tuple[float, float] | None = None
    acc_score: str = "acc"
    apply_config: dict | None = None  # a leanbert config (as a dict) trained with, e.g. PoWER-BERT's hard extraction
    retention_lambda: float | None = None  # PoWER-BERT retention-configuration search (soft extraction)
    ltp_lambda: float | None = None  # LTP soft stage: learn per-layer thresholds (ltp_training.py)
    ltp_temperature: float = 0.1
    band_lambda: float | None = None  # learned neighbour degrees: soft stage (learned_band.py)
    band_init: float = 16.0  # initial width of every head's band
    band_from_layer: int = 0  # patterned layers: this one upward
    band_temperature: tuple[float, float] = (4.0, 0.5)  # tau annealed from the first to the second
    lr_soft: float = 3e-3
    lat_max_drop: float | None = None  # LAT's LengthDrop training: drop ratio per layer drawn from U(0, p) (lat.py)
    lat_random: int = 2  # random sub-models per step beside the full and the smallest (sandwich rule)
    user: UserFiles | None = None  # the user's own CSV/TSV/JSONL files instead of a named task
    elastic: dict | None = None  # the elastic recipe (elastic.recipe.ElasticRecipe as a dict): sandwich + distillation


def set_seed(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


class ACCSampler:
    """Profiles for target speedups drawn per batch; solutions cached on a 0.05 grid."""

    def __init__(self, lo, hi, hf_config, n0, score, seed):
        self.lo, self.hi, self.n0, self.score = lo, hi, n0, score
        hidden, ffn, layers, _ = model_dims(hf_config)
        self.dims = (layers, hidden, ffn)
        top = max_speedup(self.dims[0], n0, *self.dims[1:])
        if not 1 <= lo <= hi <= top:  # else it fails at the first batch drawn beyond the limit, hours in
            raise ConfigError(f"invalid config field 'speedup_range': {lo},{hi} must be lo,hi with 1 <= lo <= hi <= "
                              f"{top:.2f} (this model's maximum at length {n0})")
        self.rng = random.Random(seed)
        self.cache = {}

    def config_for(self, target: float) -> ACCConfig:
        target = min(max(round(target * 20) / 20, self.lo), self.hi)  # the grid never steps outside the range
        if target not in self.cache:
            layers, hidden, ffn = self.dims
            self.cache[target] = ACCConfig(keep_fractions=solve_fractions(target, layers, self.n0, hidden, ffn),
                                           score=self.score)
        return self.cache[target]

    def sample(self) -> ACCConfig:
        if self.rng.random() < 0.25:
            return self.config_for(self.lo)
        return self.config_for(math.exp(self.rng.uniform(math.log(self.lo), math.log(self.hi))))


def check_args(args: FinetuneArgs) -> None:
    """Options that would train nothing, or train on NaN, refused before any work (every pipeline stage
    and study cell fine-tunes through here)."""
    checks.positive(args.epochs, "epochs")
    checks.positive(args.lr, "lr")
    checks.at_least(args.batch_size, 1, "batch-size")
    if args.max_train_examples is not None:
        checks.at_least(args.max_train_examples, 1, "max-train-examples")


def finetune(args: FinetuneArgs, progress: bool = True) -> dict:
    from accelerate import Accelerator
    from transformers import get_linear_schedule_with_warmup

    check_args(args)
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    set_seed(args.seed)
    out = Path(args.output_dir)
    data = load_task(args.task, args.data_dir, splits=("train", "dev"), user=args.user)
    spec = data.spec
    max_length = args.max_length or spec.max_length
    model_dir = resolve_model_dir(args.model)
    tokenizer = load_tokenizer(model_dir)
    model = load_classifier(model_dir, num_labels=spec.num_labels)
    check_max_length(tokenizer, model.config, max_length)
    model.config.problem_type = "regression" if spec.is_regression else "single_label_classification"
    if spec.labels is not None:  # saved with the model, so evaluation maps the user's labels the same way
        model.config.id2label = dict(enumerate(spec.labels))
        model.config.label2id = {label: i for i, label in enumerate(spec.labels)}
    train_examples = training_examples(args, data)
    if args.elastic:  # the profile search's held-out slice never enters training
        from .elastic.recipe import ElasticRecipe, split_held_out

        train_examples = split_held_out(train_examples, ElasticRecipe(**args.elastic), args.seed)[0]
    train_ds, n_trunc = encode(tokenizer, train_examples, max_length)
    dev_ds, _ = encode(tokenizer, data.split("dev"), max_length)

    sampler = None
    if args.acc_speedups:
        sampler = ACCSampler(*args.acc_speedups, model.config, max_length, args.acc_score, args.seed)
        apply(model, sampler.config_for(args.acc_speedups[0]))  # saved with the model: marks it as ACC-tuned

    length_drop = None
    if args.lat_max_drop is not None:  # patched with a keep-everything config, so sub-models come per call
        length_drop = LengthDropSampler(model.config.num_hidden_layers, args.lat_max_drop, args.seed)
        apply(model, lat_full_config(model.config.num_hidden_layers))
    if args.apply_config:
        apply(model, config_from_dict(args.apply_config))
        if uses_syntax(current_config(model)):  # every batch carries its parse
            syntax.attach(train_ds, tokenizer, max_length)
            syntax.attach(dev_ds, tokenizer, max_length)
    retention = attach_search(model, max_length) if args.retention_lambda else None  # a soft stage, if any:
    if args.ltp_lambda:
        retention = attach_soft_ltp(model, temperature=args.ltp_temperature)
    if args.band_lambda is not None:  # lambda 0 is meaningful here: widths learned from the task alone
        layers = range(args.band_from_layer, model.config.num_hidden_layers)
        retention = attach_learned_band(model, layers, args.band_init, *args.band_temperature)
    soft_lambda = args.retention_lambda or args.ltp_lambda or args.band_lambda or 0.0
    elastic_loss = _elastic_loss(args, model, tokenizer, train_ds, spec, out) if args.elastic else None

    make_loader = bucketed_train_loader if args.elastic else train_loader
    loader = make_loader(train_ds, tokenizer, args.batch_size, spec.is_regression, args.seed)
    soft = (RETENTION_ATTR, LTP_ATTR, BAND_ATTR)  # soft-stage parameters: their own group
    named = [(n, p) for n, p in model.named_parameters() if not n.startswith(soft)]
    no_decay = _no_decay_names(model)
    groups = [
        {"params": [p for n, p in named if n not in no_decay], "weight_decay": args.weight_decay},
        {"params": [p for n, p in named if n in no_decay], "weight_decay": 0.0},
    ]
    if retention is not None:
        groups.append({"params": list(retention.parameters()), "weight_decay": 0.0, "lr": args.lr_soft})
    optimizer = torch.optim.AdamW(groups, lr=args.lr)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    total_steps = max(1, math.ceil(len(loader) * args.epochs))  # after prepare: under N processes, each sees 1/N
    scheduler = accelerator.prepare(get_linear_schedule_with_warmup(optimizer, int(args.warmup_ratio * total_steps), total_steps))

    log = _load_log(out) or {"args": asdict(args), "backbone": backbone_name(model_dir), "epochs": [],
                             "best_score": None, "step": 0, "truncated_train_examples": n_trunc}
    if (out / STATE_DIR).is_dir() and log["step"] > 0:
        accelerator.load_state(str(out / STATE_DIR))
    step = log["step"]
    bar = tqdm(total=total_steps, initial=step, disable=not progress or not accelerator.is_main_process,
               desc=f"finetune {spec.name}")
    while step < total_steps:
        epoch, skip = divmod(step, len(loader))
        model.train()
        loader.set_epoch(epoch) if hasattr(loader, "set_epoch") else None
        batches = accelerator.skip_first_batches(loader, skip) if skip else loader
        losses = []
        for batch in batches:
            extra = {"leanbert_config": sampler.sample()} if sampler else {}
            if hasattr(retention, "set_progress"):  # annealed soft stages
                retention.set_progress(step / total_steps)
            if elastic_loss is not None:
                loss = elastic_loss(model, batch)
            elif length_drop is not None:
                loss = sandwich_loss(model, batch, length_drop, args.lat_random, spec.is_regression)
            else:
                loss = model(**batch, **extra).loss
            total = loss + soft_lambda * retention.penalty() if retention is not None else loss
            accelerator.backward(total)
            optimizer.step()
            if hasattr(retention, "clip_"):
                retention.clip_()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            losses.append(loss.item())
            log["last_train_loss"] = sum(losses) / len(losses)
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}")
            if step % len(loader) == 0 or step == total_steps:
                _end_of_epoch(accelerator, model, tokenizer, dev_ds, spec, args, log, step, len(loader), out)
            elif step % args.save_every == 0:
                log["step"] = step
                _save_state(accelerator, out, log)
            if step >= total_steps:
                break
    bar.close()
    return log


def training_examples(args: FinetuneArgs, data) -> list:
    """The training split, subsampled (seeded) when `max_train_examples` says so."""
    examples = data.split("train")
    if args.max_train_examples:
        examples = random.Random(args.seed).sample(examples, min(args.max_train_examples, len(examples)))
    return examples


def _elastic_loss(args, model, tokenizer, train_ds, spec, out: Path):
    """Teacher outputs cached into the training features; the model patched to take per-call profiles."""
    from .elastic.recipe import ElasticLoss, ElasticRecipe, cache_teacher

    recipe = ElasticRecipe(**args.elastic)
    out.mkdir(parents=True, exist_ok=True)
    cache_teacher(train_ds, tokenizer, recipe, spec.is_regression, out / "teacher_cache.pt")
    loss = ElasticLoss(recipe, model.config, train_ds.lengths(), spec.is_regression, args.seed)
    apply(model, loss.full)  # keeps every token; saved with the model, it marks the checkpoint as elastic-tuned
    return loss


def _load_log(out: Path):
    path = out / LOG_FILE
    if path.is_file():
        return json.loads(path.read_text())
    return None


def _save_state(accelerator, out: Path, log: dict) -> None:
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


def _end_of_epoch(accelerator, model, tokenizer, dev_ds, spec, args, log, step, steps_per_epoch, out):
    unwrapped = accelerator.unwrap_model(model)
    t0 = time.perf_counter()
    result = evaluate(unwrapped, tokenizer, dev_ds, spec, args.eval_batch_size, accelerator=accelerator)
    model.train()
    entry = {"epoch": round(step / steps_per_epoch, 3), "step": step, "dev": result["metrics"],
             "score": result["score"], "train_loss": round(log.get("last_train_loss", float("nan")), 5),
             "eval_seconds": round(time.perf_counter() - t0, 1)}
    ltp = getattr(unwrapped, LTP_ATTR, None)
    if ltp is not None:
        log["ltp_config"] = ltp.config().to_dict()
        entry["ltp_thresholds"] = list(ltp.config().thresholds)
    band = getattr(unwrapped, BAND_ATTR, None)
    if band is not None:
        log["band_config"] = band.config().to_dict()
        entry["band_widths"] = [list(w) for w in band.widths()]
        entry["band_temperature"] = round(band.temperature(), 4)
    retention = getattr(unwrapped, RETENTION_ATTR, None)
    if retention is not None:
        entry["retention_keep_counts"] = list(retention.keep_counts())
        log["retention_keep_counts"] = entry["retention_keep_counts"]
    log["epochs"].append(entry)
    if log["best_score"] is None or result["score"] > log["best_score"]:
        log["best_score"], log["best_epoch"] = result["score"], entry["epoch"]
        if accelerator.is_main_process:
            with atomic.atomic_path(out / BEST_DIR) as tmp:
                unwrapped.save_pretrained(tmp)
                tokenizer.save_pretrained(tmp)
    log["step"] = step
    _save_state(accelerator, out, log)
    accelerator.print(f"epoch {entry['epoch']}: dev {spec.metric} {result['score']:.2f}")


def _no_decay_names(model) -> set[str]:
    """Biases and LayerNorm parameters (no weight decay, as in BERT), found by module type: the families
    name their norms differently (LayerNorm, sa_layer_norm, output_layer_norm)."""
    names = {n for n, _ in model.named_parameters() if n.endswith("bias")}
    for prefix, module in model.named_modules():
        if isinstance(module, torch.nn.LayerNorm):
            names.update(f"{prefix}.{n}" if prefix else n for n, _ in module.named_parameters())
    return names
