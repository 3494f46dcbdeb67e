"""Model resolution, lazy creation, broken folders and the CUDA -> CPU fallback."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from app import paths
from app.catalogue import default_entry
from app.engine import loading
from app.engine.base import Conversation
from app.engine.loading import CPU_FALLBACK_MESSAGE, create_engine
from app.engine.model_files import check_safetensors, inspect_model_dir
from app.errors import BadInputError, ModelLoadError, ModelMissingError, OutOfMemoryError
from tests.mock_engine import MockEngine

REPO = Path(__file__).resolve().parent.parent
SETTINGS = {"cpu_threads": 2, "preset": "fast", "max_new_tokens": 16}


@pytest.fixture(autouse=True)
def empty_hf_cache(tmp_path, monkeypatch):
    """Hub-id lookups must only see an empty cache, never the developer's real one."""
    import huggingface_hub.constants as hub_constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    return cache


def copy_model(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def ask(image: Image.Image | None = None) -> Conversation:
    conv = Conversation(image=image or Image.new("RGB", (300, 200), "white"))
    conv.ask("What is this?")
    return conv


# ------------------------------------------------------------------ cheap creation
def test_create_engine_imports_neither_torch_nor_transformers():
    code = (
        "import sys\n"
        "from app.engine.loading import create_engine\n"
        "engine = create_engine('auto', 'auto', None)\n"
        "engine2 = create_engine('/no/such/folder', 'cpu', {'preset': 'fast'})\n"
        "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
        "print('HEAVY', heavy, engine.is_loaded, engine2.is_loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "HEAVY [] False False" in out.stdout


def test_unknown_device_is_bad_input():
    with pytest.raises(BadInputError):
        create_engine("auto", "tpu", None)


def test_cuda_requested_without_cuda_is_a_clear_error(tiny_model_dir, monkeypatch):
    monkeypatch.setattr(loading, "cuda_available", lambda: False)
    engine = create_engine(str(tiny_model_dir), "cuda", SETTINGS)
    with pytest.raises(BadInputError) as info:
        engine.load()
    assert "cuda" in info.value.message.lower() or "graphics" in info.value.message.lower()


# ------------------------------------------------------------------- resolution
def test_auto_without_any_model_says_what_to_download(monkeypatch):
    monkeypatch.setattr(loading, "cuda_available", lambda: False)
    engine = create_engine("auto", "auto", SETTINGS)
    with pytest.raises(ModelMissingError) as info:
        engine.load()
    assert f"iris models download {default_entry('cpu').name}" in info.value.message
    with pytest.raises(ModelMissingError):
        list(engine.stream(ask()))


def test_catalogue_name_not_downloaded_says_what_to_run():
    entry = default_entry("cuda")
    with pytest.raises(ModelMissingError) as info:
        create_engine(entry.name, "cpu", SETTINGS).load()
    assert f"iris models download {entry.name}" in info.value.message


def test_auto_on_cpu_uses_the_installed_cpu_default(tiny_model_dir, monkeypatch):
    entry = default_entry("cpu")
    copy_model(tiny_model_dir, paths.models_dir() / entry.name)
    monkeypatch.setattr(loading, "cuda_available", lambda: False)
    engine = create_engine("auto", "auto", SETTINGS)
    assert engine.model_name == "auto" and not engine.is_loaded
    pieces = list(engine.stream(ask(), max_new_tokens=3))
    assert engine.is_loaded and pieces
    assert engine.model_name == entry.name
    assert engine.device == "cpu"
    assert engine.quantization in ("fp32", "bf16")
    assert engine.last_stats.input_tokens > 0
    engine.unload()
    assert not engine.is_loaded


def test_auto_on_gpu_without_gpu_default_uses_the_installed_cpu_default(tiny_model_dir, monkeypatch):
    cpu_entry = default_entry("cpu")
    copy_model(tiny_model_dir, paths.models_dir() / cpu_entry.name)
    monkeypatch.setattr(loading, "cuda_available", lambda: True)
    made = []

    def factory(path, device, settings, name):
        made.append((Path(path), device, name))
        return MockEngine("ok")

    create_engine("auto", "auto", SETTINGS, factory=factory).load()
    assert made == [(paths.models_dir() / cpu_entry.name, "cuda", cpu_entry.name)]


def test_local_folder_and_hub_id_resolution(tiny_model_dir):
    path, name = loading.resolve_model(str(tiny_model_dir), "cpu")
    assert path == tiny_model_dir and name == tiny_model_dir.name
    with pytest.raises(ModelMissingError):
        loading.resolve_model("someone/not-cached-vlm", "cpu")
    with pytest.raises(ModelMissingError):
        loading.resolve_model(str(tiny_model_dir / "missing"), "cpu")
    with pytest.raises(ModelMissingError):
        loading.resolve_model("no-such-model-name", "cpu")


def test_hub_id_found_in_the_local_cache(tiny_model_dir, empty_hf_cache):
    repo = empty_hf_cache / "models--someone--tiny-vlm"
    commit = "0123456789abcdef0123456789abcdef01234567"
    copy_model(tiny_model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    path, name = loading.resolve_model("someone/tiny-vlm", "cpu")
    assert path == repo / "snapshots" / commit
    assert name == "someone/tiny-vlm"


# ----------------------------------------------------------- CUDA out of memory
class _GpuHungryEngine(MockEngine):
    def __init__(self, device: str, fail_in: str) -> None:
        super().__init__("A cat on a sofa.")
        self.device = device
        self.fail_in = fail_in

    def load(self, status=None):
        if self.device == "cuda" and self.fail_in == "load":
            raise OutOfMemoryError("The graphics card ran out of memory.")
        super().load(status)

    def stream(self, conversation, cancel=None, **kwargs):
        if self.device == "cuda" and self.fail_in == "stream":
            raise OutOfMemoryError("The graphics card ran out of memory.")
        yield from super().stream(conversation, cancel, **kwargs)


@pytest.mark.parametrize("fail_in", ["load", "stream"])
def test_cuda_out_of_memory_retries_once_on_cpu_and_says_so(tiny_model_dir, monkeypatch, fail_in):
    monkeypatch.setattr(loading, "cuda_available", lambda: True)
    devices = []

    def factory(path, device, settings, name):
        devices.append(device)
        return _GpuHungryEngine(device, fail_in)

    messages: list[str] = []
    engine = create_engine(str(tiny_model_dir), "auto", SETTINGS, status=messages.append, factory=factory)
    text = "".join(engine.stream(ask()))
    assert text == "A cat on a sofa."
    assert devices == ["cuda", "cpu"]
    assert engine.device == "cpu"
    assert CPU_FALLBACK_MESSAGE in messages


def test_out_of_memory_on_cpu_is_not_retried(tiny_model_dir, monkeypatch):
    calls = []

    def factory(path, device, settings, name):
        calls.append(device)
        return MockEngine(fail=OutOfMemoryError("The computer ran out of memory."), fail_on_load=True)

    with pytest.raises(OutOfMemoryError):
        create_engine(str(tiny_model_dir), "cpu", SETTINGS, factory=factory).load()
    assert calls == ["cpu"]


def test_torch_cuda_oom_while_loading_becomes_iris_error(tiny_model_dir, monkeypatch):
    import torch
    import transformers

    from app.engine.transformers_engine import TransformersEngine

    def boom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", boom)
    with pytest.raises(OutOfMemoryError):
        TransformersEngine(tiny_model_dir, settings=SETTINGS).load()


# --------------------------------------------------------------- broken folders
def load_folder(path: Path) -> None:
    from app.engine.transformers_engine import TransformersEngine

    TransformersEngine(path, settings=SETTINGS).load()


def test_missing_folder_is_model_missing(tmp_path):
    with pytest.raises(ModelMissingError):
        load_folder(tmp_path / "nothing-here")


def test_missing_config_is_model_missing(tiny_model_dir, tmp_path):
    folder = copy_model(tiny_model_dir, tmp_path / "m")
    (folder / "config.json").unlink()
    with pytest.raises(ModelMissingError):
        load_folder(folder)


def test_pickle_only_folder_is_refused_without_unpickling(tiny_model_dir, tmp_path, monkeypatch):
    import torch

    folder = copy_model(tiny_model_dir, tmp_path / "m")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not really a pickle")
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load must never run"))
    with pytest.raises(ModelLoadError) as info:
        load_folder(folder)
    assert "pytorch_model.bin" in info.value.message


def test_missing_shard_is_model_missing(tiny_model_dir, tmp_path):
    folder = copy_model(tiny_model_dir, tmp_path / "m")
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    index = {"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ModelMissingError):
        load_folder(folder)


@pytest.mark.parametrize("damage", ["truncate", "garbage-header", "empty"])
def test_corrupt_safetensors_is_a_load_error(tiny_model_dir, tmp_path, damage):
    folder = copy_model(tiny_model_dir, tmp_path / "m")
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    if damage == "truncate":
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "garbage-header":
        (header_len,) = struct.unpack("<Q", data[:8])
        weights.write_bytes(data[:8] + b"\xff" * header_len + data[8 + header_len :])
    else:
        weights.write_bytes(b"")
    with pytest.raises(ModelLoadError):
        load_folder(folder)


def test_intact_safetensors_passes_the_header_check(tiny_model_dir):
    check_safetensors(tiny_model_dir / "model.safetensors")
    folder = inspect_model_dir(tiny_model_dir)
    assert folder.model_type == "idefics3" and folder.size_bytes > 0


@pytest.mark.parametrize("model_type", ["bert", "not-a-real-model-type", None])
def test_wrong_model_type_is_a_load_error(tiny_model_dir, tmp_path, model_type):
    folder = copy_model(tiny_model_dir, tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    if model_type is None:
        config.pop("model_type")
    else:
        config["model_type"] = model_type
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError):
        load_folder(folder)


def test_damaged_config_is_a_load_error(tiny_model_dir, tmp_path):
    folder = copy_model(tiny_model_dir, tmp_path / "m")
    (folder / "config.json").write_text("{ not json")
    with pytest.raises(ModelLoadError):
        load_folder(folder)


def test_missing_tokenizer_is_model_missing(tiny_model_dir, tmp_path):
    folder = copy_model(tiny_model_dir, tmp_path / "m")
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json"):
        (folder / name).unlink()
    with pytest.raises(ModelMissingError):
        load_folder(folder)


def test_model_found_tells_a_missing_model_apart_without_importing_torch(tiny_model_dir):
    code = (
        "import sys\n"
        "from app.engine.loading import create_engine\n"
        f"found = create_engine({str(tiny_model_dir)!r}, 'auto', None).model_found()\n"
        "missing = create_engine('/no/such/folder', 'auto', None).model_found()\n"
        "auto_missing = create_engine('auto', 'auto', None).model_found()\n"
        "print(found, missing, auto_missing, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "False", "False"]
