"""Fine-tuning on accelerate: AdamW, linear warm-up and decay, dynamic padding, evaluation each epoch,
best-dev checkpoint (atomic `save_pretrained`), resumable from the last saved training state.

A method's training stage (ACC offline tuning, a soft search stage, LengthDrop, the elastic recipe, a fixed
config) plugs into the loop through training/hooks.py; the loop itself knows no method.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .. import atomic
from ..data.batching import bucketed_train_loader, check_max_length, encode, train_loader
from ..data.datasets import load_task
from ..data.held_out import split_search_slice
from ..engine.models import backbone_name, load_classifier, load_tokenizer, resolve_model_dir
from ..measure.evaluation import evaluate
from .args import FinetuneArgs, check_args
from .checkpoint import BEST_DIR, STATE_DIR, check_resumable, load_log, save_state
from .hooks import stages_for


def set_seed(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def finetune(args: FinetuneArgs, progress: bool = True) -> dict:
    from accelerate import Accelerator

    check_args(args)
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    set_seed(args.seed)
    out = Path(args.output_dir)
    model, tokenizer, spec, context = _setup(args, out)
    stages = stages_for(args, model, context)
    make_loader = bucketed_train_loader if args.elastic else train_loader
    loader = make_loader(context["train_ds"], tokenizer, args.batch_size, spec.is_regression, args.seed)
    optimizer = torch.optim.AdamW(_param_groups(model, args, stages), lr=args.lr)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    total_steps = max(1, math.ceil(len(loader) * args.epochs))  # after prepare: under N processes, each sees 1/N
    scheduler = _scheduler(accelerator, optimizer, args, total_steps)  # prepared before load_state, which restores it
    log = load_log(out) or {"args": asdict(args), "backbone": backbone_name(context["model_dir"]), "epochs": [],
                            "best_score": None, "step": 0, "truncated_train_examples": context["truncated"]}
    check_resumable(log, asdict(args), out)
    if (out / STATE_DIR).is_dir() and log["step"] > 0:
        accelerator.load_state(str(out / STATE_DIR))
    run = dict(accelerator=accelerator, model=model, optimizer=optimizer, loader=loader, stages=stages,
               scheduler=scheduler, total_steps=total_steps,
               tokenizer=tokenizer, spec=spec, args=args, log=log, out=out, dev_ds=context["dev_ds"])
    _loop(run, progress)
    return log


def _setup(args: FinetuneArgs, out: Path):
    """The model (its head sized for the task, labels recorded), tokenizer, task spec, and the encoded splits."""
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
    train_examples = trained_part(args, train_examples)
    train_ds, n_trunc = encode(tokenizer, train_examples, max_length)
    dev_ds, _ = encode(tokenizer, data.split("dev"), max_length)
    context = dict(max_length=max_length, tokenizer=tokenizer, train_ds=train_ds, dev_ds=dev_ds, spec=spec, out=out,
                   model_dir=model_dir, truncated=n_trunc)
    return model, tokenizer, spec, context


def _param_groups(model, args: FinetuneArgs, stages) -> list[dict]:
    """Weight decay except on biases and norms; each soft stage's parameters in a group of their own."""
    softs = [stage.soft for stage in stages if stage.soft is not None]
    soft_ids = {id(p) for soft in softs for p in soft.parameters()}
    named = [(n, p) for n, p in model.named_parameters() if id(p) not in soft_ids]
    no_decay = _no_decay_names(model)
    groups = [
        {"params": [p for n, p in named if n not in no_decay], "weight_decay": args.weight_decay},
        {"params": [p for n, p in named if n in no_decay], "weight_decay": 0.0},
    ]
    return groups + [{"params": list(soft.parameters()), "weight_decay": 0.0, "lr": args.lr_soft} for soft in softs]


def _scheduler(accelerator, optimizer, args: FinetuneArgs, total_steps: int):
    from transformers import get_linear_schedule_with_warmup

    return accelerator.prepare(get_linear_schedule_with_warmup(optimizer, int(args.warmup_ratio * total_steps), total_steps))


def _loop(run: dict, progress: bool) -> None:
    """Steps until `total_steps`, resuming mid-epoch from the log's step; evaluation and saving at epoch ends."""
    accelerator, loader, log, total_steps = run["accelerator"], run["loader"], run["log"], run["total_steps"]
    step = log["step"]
    bar = tqdm(total=total_steps, initial=step, disable=not progress or not accelerator.is_main_process,
               desc=f"finetune {run['spec'].name}")
    while step < total_steps:
        epoch, skip = divmod(step, len(loader))
        run["model"].train()
        loader.set_epoch(epoch) if hasattr(loader, "set_epoch") else None
        losses = []
        for batch in accelerator.skip_first_batches(loader, skip) if skip else loader:
            loss = _train_step(run, batch, step / total_steps)
            step += 1
            losses.append(loss)
            log["last_train_loss"] = sum(losses) / len(losses)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")
            if step % len(loader) == 0 or step == total_steps:
                _end_of_epoch(accelerator, run["model"], run["tokenizer"], run["dev_ds"], run["spec"], run["args"], log,
                              step, len(loader), run["out"], run["stages"])
            elif step % run["args"].save_every == 0:
                log["step"] = step
                save_state(accelerator, run["out"], log)
            if step >= total_steps:
                break
    bar.close()


def _train_step(run: dict, batch: dict, progress: float) -> float:
    """One optimizer step; the loss is the last stage's that has one, else the model's (plus soft penalties)."""
    model, stages = run["model"], run["stages"]
    extra = {k: v for stage in stages for k, v in stage.batch_kwargs().items()}
    for stage in stages:
        stage.before_step(progress)
    loss = next((x for stage in reversed(stages) if (x := stage.loss(model, batch)) is not None), None)
    if loss is None:
        loss = model(**batch, **extra).loss
    total = loss + sum(stage.soft_lambda * stage.soft.penalty() for stage in stages if stage.soft is not None)
    run["accelerator"].backward(total)
    run["optimizer"].step()
    for stage in stages:
        stage.after_step()
    run["scheduler"].step()
    run["optimizer"].zero_grad()
    return loss.item()


def split_for_search(args: FinetuneArgs, examples: list) -> tuple[list, list]:
    """(examples the run trains on, the search slice it leaves out): no slice unless a profile search follows."""
    if args.elastic:  # its recipe says how large the slice is
        from .elastic.recipe import ElasticRecipe, split_held_out

        return split_held_out(examples, ElasticRecipe(**args.elastic), args.seed)
    return split_search_slice(examples, args.seed) if args.search_slice else (examples, [])


def trained_part(args: FinetuneArgs, examples: list) -> list:
    """The examples a run trains on: all of them, less the search slice where a profile search follows."""
    return split_for_search(args, examples)[0]


def search_slice_examples(args: FinetuneArgs) -> tuple:
    """(task spec, the search slice) of a run's training data: the examples `trained_part` left out of it."""
    data = load_task(args.task, args.data_dir, splits=("train",), user=args.user)
    return data.spec, split_for_search(args, training_examples(args, data))[1]


def training_examples(args: FinetuneArgs, data) -> list:
    """The training split, subsampled (seeded) when `max_train_examples` says so."""
    examples = data.split("train")
    if args.max_train_examples:
        examples = random.Random(args.seed).sample(examples, min(args.max_train_examples, len(examples)))
    return examples


def _end_of_epoch(accelerator, model, tokenizer, dev_ds, spec, args, log, step, steps_per_epoch, out, stages=()):
    unwrapped = accelerator.unwrap_model(model)
    t0 = time.perf_counter()
    result = evaluate(unwrapped, tokenizer, dev_ds, spec, args.eval_batch_size, accelerator=accelerator)
    model.train()
    entry = {"epoch": round(step / steps_per_epoch, 3), "step": step, "dev": result["metrics"],
             "score": result["score"], "train_loss": round(log.get("last_train_loss", float("nan")), 5),
             "eval_seconds": round(time.perf_counter() - t0, 1)}
    for stage in stages:
        stage.log_epoch(unwrapped, log, entry)
    log["epochs"].append(entry)
    if log["best_score"] is None or result["score"] > log["best_score"]:
        log["best_score"], log["best_epoch"] = result["score"], entry["epoch"]
        if accelerator.is_main_process:
            with atomic.atomic_path(out / BEST_DIR) as tmp:
                unwrapped.save_pretrained(tmp)
                tokenizer.save_pretrained(tmp)
    log["step"] = step
    save_state(accelerator, out, log)
    accelerator.print(f"epoch {entry['epoch']}: dev {spec.metric} {result['score']:.2f}")


def _no_decay_names(model) -> set[str]:
    """Biases and LayerNorm parameters (no weight decay, as in BERT), found by module type: the families
    name their norms differently (LayerNorm, sa_layer_norm, output_layer_norm)."""
    names = {n for n, _ in model.named_parameters() if n.endswith("bias")}
    for prefix, module in model.named_modules():
        if isinstance(module, torch.nn.LayerNorm):
            names.update(f"{prefix}.{n}" if prefix else n for n, _ in module.named_parameters())
    return names
