"""Sparse attention patterns (Breaking BERT, reconstructed): chosen layers attend along a pattern; no token is
removed, so it also composes with the token reductions.

config.py        SparseConfig
method.py        inference hooks (pattern masks, the banded kernel)
options.py       configs from command-line options, row labels
learned_band.py  learned neighbour degrees: the soft stage learning a band width per layer and head
pipeline.py      soft stage, then fine-tuning with the hard bands
study.py         Breaking BERT's study grids (`leanbert study`)
report.py        its sections of the results report
"""
from ...engine.registry import MethodSpec, register
from . import options
from .config import SparseConfig
from .method import SparseMethod

SPEC = register(MethodSpec("sparse", SparseConfig, SparseMethod, pattern=True, configs=options.configs,
                           variant=options.variant))
