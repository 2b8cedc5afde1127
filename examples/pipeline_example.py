"""A reduced model inside `transformers.pipeline`, unchanged.

    .venv/bin/python examples/pipeline_example.py runs/sst2/acc/best 2.0

leanbert patches the model in place, so the pipeline (which only calls `model(**inputs)`) runs the reduced
encoder. With no checkpoint argument the shipped all-MiniLM-L6-v2 backbone is used (its classifier head
is untrained, so the labels are meaningless, but everything runs offline).
"""
import sys

from transformers import pipeline

import leanbert
from leanbert.engine.models import load_classifier, load_tokenizer
from leanbert.core.schedule import solve_fractions

checkpoint = sys.argv[1] if len(sys.argv) > 1 else None
speedup = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
model = leanbert.from_pretrained(checkpoint) if checkpoint else load_classifier(None, num_labels=2)
c = model.config
fractions = solve_fractions(speedup, c.num_hidden_layers, 128, c.hidden_size, c.intermediate_size)
leanbert.apply(model, leanbert.ACCConfig(keep_fractions=fractions))  # ~`speedup`x fewer FLOPs at 128 tokens

classify = pipeline("text-classification", model=model, tokenizer=load_tokenizer(checkpoint))
for text, out in zip(["a gripping, beautifully shot film", "dull and far too long"],
                     classify(["a gripping, beautifully shot film", "dull and far too long"])):
    print(f"{out['label']:>10} {out['score']:.3f}  {text}")
