"""The named-backbone install step: pieces from wheels concatenated in order, checksum checked, atomic, resumable."""
import hashlib
import io
import json
import zipfile

import pytest

from leanbert.backbones import catalog as inst
from leanbert.errors import ModelLoadError
from leanbert.engine.models import resolve_model_dir


def _fake_backbone(tmp_path, corrupt=False):
    """A zipped HF-like directory split into 3 pieces, each inside its own wheel, as the PyPI parts ship it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("fake-model/config.json", json.dumps({"model_type": "mpnet"}))
        z.writestr("fake-model/1_Pooling/config.json", "{}")
        z.writestr("fake-model/model.safetensors", b"\0" * 1000)
    data = buf.getvalue()
    pieces = [data[:400], data[400:900], data[900:]]
    source = tmp_path / "index"
    source.mkdir()
    packages = []
    for i, piece in enumerate(pieces, start=1):
        package = f"fake-part-{i:03d}"
        with zipfile.ZipFile(source / f"{package.replace('-', '_')}-0.0.1-py3-none-any.whl", "w") as w:
            w.writestr(f"fake_part_{i:03d}/input/fake.zip.{i:03d}", b"x" + piece[1:] if corrupt and i == 2 else piece)
        packages.append(package)
    spec = inst.SplitZipBackbone("fake", tuple(packages), hashlib.sha256(data).hexdigest(), "mpnet", "test")
    return spec, source


def _download_from(source, calls):
    def download(package, dest):
        calls.append(package)
        name = f"{package.replace('-', '_')}-0.0.1-py3-none-any.whl"
        if not (dest / name).exists():
            (dest / name).write_bytes((source / name).read_bytes())
    return download


def test_install_verifies_unpacks_atomically_and_is_then_a_no_op(tmp_path, monkeypatch):
    spec, source = _fake_backbone(tmp_path)
    monkeypatch.setitem(inst.BACKBONES, "fake", spec)
    calls = []
    path = inst.install("fake", tmp_path / "cache", _download_from(source, calls), log=lambda m: None)
    assert path == tmp_path / "cache" / "fake" and (path / "config.json").is_file()
    assert (path / "model.safetensors").stat().st_size == 1000  # the model root, not the pooling folder
    assert calls == list(spec.packages) and not (tmp_path / "cache" / ".fake.partial").exists()
    assert inst.install("fake", tmp_path / "cache", _download_from(source, calls), log=lambda m: None) == path
    assert len(calls) == 3  # installed: nothing downloaded again
    monkeypatch.setenv("LEANBERT_CACHE", str(tmp_path / "cache"))
    assert resolve_model_dir("fake") == path


def test_checksum_mismatch_installs_nothing_and_names_both_digests(tmp_path, monkeypatch):
    spec, source = _fake_backbone(tmp_path, corrupt=True)
    monkeypatch.setitem(inst.BACKBONES, "fake", spec)  # its sha256 is the uncorrupted zip's
    with pytest.raises(ModelLoadError, match="checksum mismatch for fake"):
        inst.install("fake", tmp_path / "cache", _download_from(source, []), log=lambda m: None)
    assert inst.installed_path("fake", tmp_path / "cache") is None


def test_interrupted_install_resumes_with_the_wheels_already_there(tmp_path, monkeypatch):
    spec, source = _fake_backbone(tmp_path)
    monkeypatch.setitem(inst.BACKBONES, "fake", spec)
    calls = []

    def flaky(package, dest):
        if package.endswith("003") and not calls.count("failed"):
            calls.append("failed")
            raise ModelLoadError("network down")
        _download_from(source, calls)(package, dest)

    with pytest.raises(ModelLoadError, match="network down"):
        inst.install("fake", tmp_path / "cache", flaky, log=lambda m: None)
    assert inst.installed_path("fake", tmp_path / "cache") is None
    assert inst.install("fake", tmp_path / "cache", flaky, log=lambda m: None).is_dir()


def test_unknown_and_missing_backbones_name_the_fix(tmp_path, monkeypatch):
    with pytest.raises(ModelLoadError, match="installable: all-mpnet-base-v2"):
        inst.install("nope", tmp_path)
    monkeypatch.setenv("LEANBERT_CACHE", str(tmp_path / "empty"))
    with pytest.raises(ModelLoadError, match="leanbert backbone install all-mpnet-base-v2"):
        resolve_model_dir("all-mpnet-base-v2")
