"""Backbones: the named pretrained models leanbert can install and load (install.py).

The per-family adapters (the only code that touches a family's internals) are to come here too
(issue 17); today the BERT encoder loop lives in patch.py.
"""
from .catalog import BACKBONES, cache_root, install, installed_path

__all__ = ["BACKBONES", "cache_root", "install", "installed_path"]
