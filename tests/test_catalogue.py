"""The shipped model catalogue is complete and consistent; broken catalogues are reported."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, fields

import pytest

from app import paths
from app.catalogue import REQUIRED, ModelEntry, default_entry, find_entry, load_catalogue, require_entry
from app.engine.prompting import PIXEL_BUDGET_FAMILIES, TILING_FAMILIES
from app.errors import BadInputError, InternalError

FIELD_TYPES = {
    "name": str,
    "hub_id": str,
    "revision": str,
    "licence": str,
    "size_mb": int,
    "min_vram_gb": (int, float),
    "prompt_style": str,
    "description": str,
}
PERMISSIVE = {"Apache-2.0", "MIT", "BSD-3-Clause"}


def raw_catalogue() -> dict:
    return json.loads(paths.catalogue_path().read_text(encoding="utf-8"))


def test_every_entry_has_every_field_with_the_right_type():
    raw = raw_catalogue()["models"]
    assert len(raw) >= 2
    names = {f.name for f in fields(ModelEntry)}
    for item in raw:
        assert set(REQUIRED) <= set(item) <= names, item.get("name")
        for key, kind in FIELD_TYPES.items():
            assert isinstance(item[key], kind), (item["name"], key)
        assert item["default_for"] in (None, "cuda", "cpu")
        assert re.fullmatch(r"[0-9a-f]{40}", item["revision"]), item["name"]
        assert item["size_mb"] > 0 and item["min_vram_gb"] > 0
        assert item["licence"] in PERMISSIVE
        assert item["description"].strip()


def test_exactly_one_default_per_device_and_unique_names():
    entries = load_catalogue()
    for device in ("cuda", "cpu"):
        assert sum(e.default_for == device for e in entries) == 1
    assert len({e.name for e in entries}) == len(entries)
    assert len({e.hub_id for e in entries}) == len(entries)


def test_defaults_fit_their_devices():
    gpu, cpu = default_entry("cuda"), default_entry("cpu")
    assert gpu.default_for == "cuda" and cpu.default_for == "cpu"
    assert default_entry("cuda:0") == gpu
    assert cpu.size_mb < gpu.size_mb
    assert cpu.size_mb <= 1100  # a CPU default must stay small enough to answer in seconds


def test_prompt_styles_map_to_families_the_engine_sizes():
    known = {"idefics3", "qwen-vl"}
    for entry in load_catalogue():
        assert entry.prompt_style in known, entry.name
    assert "idefics3" in TILING_FAMILIES and "qwen3_vl" in PIXEL_BUDGET_FAMILIES


def test_find_entry_by_name_or_hub_id():
    entry = default_entry("cpu")
    assert find_entry(entry.name) == entry
    assert find_entry(entry.name.upper()) == entry
    assert find_entry(entry.hub_id) == entry
    assert find_entry("no-such-model") is None
    assert require_entry(entry.name) == entry
    with pytest.raises(BadInputError):
        require_entry("no-such-model")


@pytest.mark.parametrize(
    "breakage",
    ["missing-field", "two-cpu-defaults", "bad-revision", "duplicate-name", "not-json"],
)
def test_broken_catalogue_is_an_internal_error(tmp_path, breakage):
    data = raw_catalogue()
    models = data["models"]
    if breakage == "missing-field":
        del models[0]["revision"]
    elif breakage == "two-cpu-defaults":
        for m in models:
            m["default_for"] = "cpu" if m["default_for"] is None else m["default_for"]
    elif breakage == "bad-revision":
        models[0]["revision"] = "main"
    elif breakage == "duplicate-name":
        models[1]["name"] = models[0]["name"]
    path = tmp_path / "catalogue.json"
    path.write_text("{oops" if breakage == "not-json" else json.dumps(data))
    with pytest.raises(InternalError):
        load_catalogue(path)


def test_entries_round_trip_to_the_json():
    raw = {m["name"]: m for m in raw_catalogue()["models"]}
    for entry in load_catalogue():
        data = asdict(entry)
        data["files"] = list(data["files"])
        assert {k: v for k, v in data.items() if k in raw[entry.name]} == raw[entry.name]


def test_auto_prefers_the_2b_gguf_on_a_processor_only_when_llama_cpp_and_memory_allow():
    from app.catalogue import auto_choice

    installed = {"qwen3-vl-2b-gguf", "smolvlm-256m"}

    def is_installed(entry):
        return entry.name in installed

    choice = auto_choice("cpu", is_installed, llama_available=True, free_mb=8000)
    assert choice.entry.name == "qwen3-vl-2b-gguf" and choice.entry.engine == "llama.cpp"
    choice = auto_choice("cpu", is_installed, llama_available=False, free_mb=8000)
    assert choice.entry.name == "smolvlm-256m" and "qwen3-vl-2b-gguf" in choice.reason
    choice = auto_choice("cpu", is_installed, llama_available=True, free_mb=1000)
    assert choice.entry.name == "smolvlm-256m" and "qwen3-vl-2b-gguf" in choice.reason
    nothing = auto_choice("cpu", lambda entry: False, llama_available=True, free_mb=8000)
    assert nothing.entry is None and "iris models download" in nothing.reason


def test_auto_prefers_the_small_gguf_to_the_small_transformers_model_when_llama_cpp_is_there():
    from app.catalogue import auto_choice

    def is_installed(entry):
        return entry.name in {"smolvlm-256m", "smolvlm-256m-gguf"}

    assert auto_choice("cpu", is_installed, llama_available=True, free_mb=8000).entry.name == "smolvlm-256m-gguf"
    assert auto_choice("cpu", is_installed, llama_available=False, free_mb=8000).entry.name == "smolvlm-256m"


def test_auto_on_a_graphics_card_prefers_the_gpu_default():
    from app.catalogue import auto_choice

    choice = auto_choice("cuda", lambda e: True, llama_available=True, free_mb=100)
    assert choice.entry == default_entry("cuda")


def test_gguf_entries_name_a_text_model_and_its_vision_file():
    for entry in load_catalogue():
        if entry.format == "gguf":
            assert len(entry.files) == 2 and "mmproj" in entry.files[1].lower() and entry.ram_mb > 0
            assert entry.licence in PERMISSIVE
