"""The search slice: a seeded part of the training data that a fine-tuning run never sees, so that a profile
search after it (the elastic recipe's, LAT's) picks its configs on labelled data that is neither trained on nor
the dev split the rows report. Pure; the same seed always gives the same slice."""
from __future__ import annotations

import random

SEARCH_FRACTION = 0.1  # of the training examples ...
SEARCH_MAX = 500  # ... but no more than this many


def split_search_slice(examples: list, seed: int, fraction: float = SEARCH_FRACTION,
                       max_examples: int = SEARCH_MAX) -> tuple[list, list]:
    """(examples to train on, held-out search slice): disjoint by index, both in the input's order."""
    n = min(max_examples, max(1, int(len(examples) * fraction)))
    held = set(random.Random(seed + 7919).sample(range(len(examples)), n))
    return [e for i, e in enumerate(examples) if i not in held], [examples[i] for i in sorted(held)]
