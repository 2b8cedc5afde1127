"""One folder per method. Each registers itself with the registry (engine/registry.py) when imported; the
registry imports every folder here, so a new method is a new folder and nothing else."""
