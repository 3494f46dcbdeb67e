"""Shared fixtures. Every test gets its own IRIS_HOME so no real profile is touched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SMOLVLM_DIR = SHARED / "models" / "smolvlm-256m-instruct"
IMAGES_DIR = SHARED / "images"


@pytest.fixture(autouse=True)
def iris_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("iris-home")
    monkeypatch.setenv("IRIS_HOME", str(home))
    monkeypatch.delenv("IRIS_MODELS_DIR", raising=False)
    return home


@pytest.fixture
def smolvlm_dir() -> Path:
    if not SMOLVLM_DIR.is_dir():
        pytest.skip("shared SmolVLM config not found beside the checkout")
    return SMOLVLM_DIR


def shared_photo_path() -> Path:
    """The shared photograph's path; skips the test when ../shared is not beside the checkout."""
    path = IMAGES_DIR / "chelsea.png"
    if not path.exists():
        pytest.skip("shared images not found beside the checkout")
    return path


@pytest.fixture
def photo_path() -> Path:
    return shared_photo_path()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random-weight SmolVLM (real tokenizer and processor) built once per session."""
    if not SMOLVLM_DIR.is_dir():
        pytest.skip("shared SmolVLM config not found beside the checkout")
    from tests.tiny_model import build_tiny_smolvlm

    return build_tiny_smolvlm(tmp_path_factory.mktemp("tiny-smolvlm") / "tiny-smolvlm")


#: Settings of the shared tiny engine: two threads, one 512 px tile, short answers.
TINY_ENGINE_SETTINGS = {"cpu_threads": 2, "preset": "fast", "max_new_tokens": 64}


@pytest.fixture(scope="module")
def tiny_engine(tiny_model_dir):
    """The real TransformersEngine on the tiny model, loaded once per test module."""
    from app.engine.transformers_engine import TransformersEngine

    engine = TransformersEngine(tiny_model_dir, device="cpu", settings=dict(TINY_ENGINE_SETTINGS))
    engine.load()
    yield engine
    engine.unload()


@pytest.fixture(scope="module")
def photo_image():
    """The shared photograph as an RGB PIL image."""
    from PIL import Image

    return Image.open(shared_photo_path()).convert("RGB")
