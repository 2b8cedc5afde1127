"""`leanbert backbone install NAME` / `leanbert backbone list`."""
from __future__ import annotations

import json

import typer

backbone_app = typer.Typer(help="Named pretrained backbones: install (checksum-verified, atomic, resumable) and list.")


@backbone_app.command("install")
def install_command(name: str = typer.Argument(..., help="e.g. all-mpnet-base-v2")):
    """Download, verify and unpack a named backbone into the cache ($LEANBERT_CACHE or ~/.cache/leanbert/backbones)."""
    from ..backbones.catalog import install

    typer.echo(json.dumps({"backbone": name, "path": str(install(name, log=lambda m: typer.echo(m, err=True)))}))


@backbone_app.command("list")
def list_command():
    """Every named backbone, and where it is installed (null: not yet)."""
    from ..backbones.catalog import BACKBONES, installed_path

    for name, spec in sorted(BACKBONES.items()):
        path = installed_path(name)
        typer.echo(json.dumps({"backbone": name, "family": spec.family, "installed": str(path) if path else None,
                               "description": spec.description}))
