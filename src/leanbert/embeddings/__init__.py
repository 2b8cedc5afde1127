"""Sentence embeddings from reduced encoders: pooling that accounts for every original token (pooling.py),
the batched API (encode.py), files in and out with resume (files.py), `leanbert embed` (cli/embed.py) and
sentence-transformers models (st.py)."""
from .encode import config_for, embed, load_encoder
from .pooling import RULES, mean_pool, pool

__all__ = ["RULES", "config_for", "embed", "load_encoder", "mean_pool", "pool"]
