"""Downloads: offline gives one clear sentence; progress, patterns, revision, cancel and completeness."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest

from app import download, paths
from app.catalogue import default_entry
from app.download import ALLOW_PATTERNS, MARKER, download_model, installed_path
from app.engine.base import CancelToken
from app.errors import CancelledError, ModelMissingError

FILES = {
    "config.json": 700,
    "tokenizer.json": 3000,
    "preprocessor_config.json": 400,
    "model.safetensors": 50_000,
    "pytorch_model.bin": 50_000,  # pickle: must never be fetched
    "onnx/vision_encoder.onnx": 9_000,  # extras: never fetched
    "README.md": 100,
}


@pytest.fixture
def entry():
    return default_entry("cpu")


def fake_info(files=FILES):
    siblings = [SimpleNamespace(rfilename=name, size=size) for name, size in files.items()]
    return lambda self, repo_id, revision=None, files_metadata=False, **kw: SimpleNamespace(siblings=siblings)


def make_fake_snapshot(calls: list, *, short: str | None = None, on_chunk=None):
    """A stand-in for snapshot_download that writes files in chunks like the hub does."""
    from huggingface_hub.utils import filter_repo_objects

    def fake(repo_id, *, revision, local_dir, allow_patterns, tqdm_class, **kwargs):
        calls.append({"repo_id": repo_id, "revision": revision, "allow_patterns": allow_patterns})
        wanted = list(filter_repo_objects(list(FILES), allow_patterns=allow_patterns))
        bar = tqdm_class(total=sum(FILES[n] for n in wanted), unit="B")
        partial_dir = Path(local_dir) / ".cache" / "huggingface" / "download"
        partial_dir.mkdir(parents=True, exist_ok=True)
        for name in wanted:
            size = FILES[name] if name != short else FILES[name] // 2
            partial = partial_dir / f"{name}.incomplete"
            with partial.open("wb") as fh:
                for start in range(0, size, 10_000):
                    chunk = min(10_000, size - start)
                    fh.write(b"\0" * chunk)
                    fh.flush()
                    if on_chunk:
                        on_chunk()
                    bar.update(chunk)
            target = Path(local_dir) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(partial, target)
        bar.close()
        return str(local_dir)

    return fake


def test_no_network_gives_a_clear_sentence(entry, monkeypatch):
    def unreachable(*args, **kwargs):
        raise ConnectionError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", unreachable)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", unreachable)
    with pytest.raises(ModelMissingError) as info:
        download_model(entry)
    message = info.value.message
    assert "hub" in message.lower() and "--model" in message
    assert "\n" not in message and "Traceback" not in message
    assert installed_path(entry) is None


def test_offline_mode_gives_a_clear_sentence(entry, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelMissingError) as info:
        download_model(entry)
    assert "--model" in info.value.message
    assert installed_path(entry) is None


def test_download_reports_progress_and_fetches_only_safe_files(entry, monkeypatch):
    monkeypatch.setattr(download._Meter, "INTERVAL", 0.0)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", fake_info())
    calls: list = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", make_fake_snapshot(calls))
    progress: list[tuple[int, int]] = []

    path = download_model(entry, progress=lambda done, total: progress.append((done, total)))

    assert path == paths.models_dir() / entry.name
    assert calls == [{"repo_id": entry.hub_id, "revision": entry.revision, "allow_patterns": ALLOW_PATTERNS}]
    assert (path / "model.safetensors").stat().st_size == FILES["model.safetensors"]
    assert not (path / "pytorch_model.bin").exists()
    assert not (path / "onnx").exists()
    total = sum(FILES[n] for n in ("config.json", "tokenizer.json", "preprocessor_config.json", "model.safetensors"))
    assert len(progress) > 3
    assert {t for _, t in progress} == {total}
    dones = [d for d, _ in progress]
    assert dones == sorted(dones)
    assert dones[0] == 0 and dones[-1] == total
    assert installed_path(entry) == path
    assert json.loads((path / MARKER).read_text())["revision"] == entry.revision


def test_installed_model_is_not_downloaded_again(entry, monkeypatch):
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", fake_info())
    monkeypatch.setattr(huggingface_hub, "snapshot_download", make_fake_snapshot([]))
    first = download_model(entry)

    def no_network(*args, **kwargs):
        raise AssertionError("an installed model must not touch the network")

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", no_network)
    assert download_model(entry) == first


def test_cancel_stops_the_download_and_leaves_it_uninstalled(entry, monkeypatch):
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", fake_info())
    cancel = CancelToken()
    chunks = []

    def count_chunk():
        chunks.append(1)
        if len(chunks) == 2:
            cancel.cancel()

    monkeypatch.setattr(huggingface_hub, "snapshot_download", make_fake_snapshot([], on_chunk=count_chunk))
    with pytest.raises(CancelledError):
        download_model(entry, cancel=cancel)
    assert len(chunks) == 2
    assert installed_path(entry) is None
    assert json.loads((paths.models_dir() / entry.name / MARKER).read_text())["complete"] is False


def test_short_file_after_download_is_reported_incomplete(entry, monkeypatch):
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", fake_info())
    monkeypatch.setattr(huggingface_hub, "snapshot_download", make_fake_snapshot([], short="model.safetensors"))
    with pytest.raises(ModelMissingError) as info:
        download_model(entry)
    assert f"iris models download {entry.name}" in info.value.message
    assert installed_path(entry) is None


def test_hand_copied_folder_counts_as_installed(entry):
    folder = paths.models_dir() / entry.name
    assert installed_path(entry) is None
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    assert installed_path(entry) == folder


def test_a_gguf_entry_fetches_exactly_its_two_files_with_progress(monkeypatch):
    from app.catalogue import find_entry

    gguf = find_entry("qwen3-vl-2b-gguf")
    assert gguf is not None and gguf.format == "gguf"
    files = {gguf.files[0]: 40_000, gguf.files[1]: 20_000, "Qwen3VL-2B-Instruct-F16.gguf": 90_000, "README.md": 10}
    monkeypatch.setattr(sys.modules[__name__], "FILES", files)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", fake_info(files))
    calls: list = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", make_fake_snapshot(calls))
    progress: list = []
    assert installed_path(gguf) is None
    folder = download_model(gguf, progress=lambda done, total: progress.append((done, total)))
    assert calls[0]["allow_patterns"] == list(gguf.files)
    assert sorted(p.name for p in folder.glob("*.gguf")) == sorted(gguf.files)
    assert progress[-1] == (60_000, 60_000) and installed_path(gguf) == folder
    (folder / gguf.files[1]).unlink()  # the vision file missing: not installed
    assert installed_path(gguf) is None


def test_a_gguf_entry_whose_files_are_not_on_the_hub_is_one_sentence(monkeypatch):
    from app.catalogue import find_entry

    gguf = find_entry("smolvlm-256m-gguf")
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", fake_info({"other.gguf": 5}))
    with pytest.raises(ModelMissingError) as info:
        download_model(gguf)
    assert "\n" not in info.value.message

