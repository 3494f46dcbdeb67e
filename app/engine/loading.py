"""Turn ``--model`` and ``--device`` into an engine, cheaply, and load it only when needed.

:func:`create_engine` imports neither torch nor transformers: it validates the
arguments and returns a :class:`LazyEngine`. On ``load()`` (first ``generate()``)
the model is resolved, in this order:

* ``auto``: the catalogue default for the device (the GPU default when CUDA is
  available, else the CPU default); on a GPU without the GPU default installed,
  an installed CPU default is used instead;
* an existing local folder;
* a catalogue name (or a catalogue hub id), installed under ``models_dir()/<name>``
  or found in the local Hugging Face cache;
* a hub id ``owner/name``, looked up in the local Hugging Face cache only (offline).

A missing model raises ModelMissingError saying exactly what to run. If the
graphics card runs out of memory while loading (or before the first word of
an answer), the engine is rebuilt once on the CPU and the user is told.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..catalogue import ModelEntry, default_entry, find_entry
from ..download import installed_path
from .base import (
    CallbackEngine,
    CancelToken,
    Conversation,
    GenerationStats,
    StatusCallback,
    TextCallback,
    VisionEngine,
)
from ..errors import BadInputError, ModelMissingError, OutOfMemoryError

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
CPU_FALLBACK_MESSAGE = "The graphics card ran out of memory; using the processor instead."
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

#: (folder, device, settings, display name) -> an unloaded engine. Tests pass doubles.
EngineFactory = Callable[[Path, str, Any, str], VisionEngine]


def _transformers_factory(path: Path, device: str, settings: Any, name: str) -> VisionEngine:
    from .transformers_engine import TransformersEngine

    return TransformersEngine(
        path, device=device, settings=settings, model_name=name, precision=os.environ.get("IRIS_PRECISION", "auto")
    )


def create_engine(
    model: str,
    device: str,
    settings: Any,
    *,
    status: StatusCallback | None = None,
    factory: EngineFactory | None = None,
) -> VisionEngine:
    """A lazy engine for ``model`` on ``device`` (auto|cpu|cuda). Cheap: no torch import."""
    device = (device or "auto").strip().lower()
    if device not in DEVICES:
        raise BadInputError(f"The device {device!r} is not known; use auto, cpu or cuda.")
    return LazyEngine(model or "auto", device, settings, status=status, factory=factory or _transformers_factory)


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(requested: str) -> str:
    if requested == "cpu":
        return "cpu"
    available = cuda_available()
    if requested == "cuda" and not available:
        raise BadInputError(
            "Iris was asked to use the graphics card, but no CUDA graphics card is available; use --device cpu or auto."
        )
    return "cuda" if available else "cpu"


def resolve_model(model: str, device: str) -> tuple[Path, str]:
    """The folder and display name for ``model`` on ``device``, or ModelMissingError."""
    model = model.strip()
    if model.lower() in ("", "auto"):
        entry = default_entry(device)
        path = _installed(entry)
        if path is None and device == "cuda":
            smaller = default_entry("cpu")
            smaller_path = _installed(smaller)
            if smaller_path is not None:
                log.info("%s is not installed; using %s on the graphics card", entry.name, smaller.name)
                return smaller_path, smaller.name
        if path is None:
            raise ModelMissingError(f"No description model is installed. Run: iris models download {entry.name}")
        return path, entry.name
    local = Path(model).expanduser()
    if local.is_dir():
        return local, local.name
    entry = find_entry(model)
    if entry is not None:
        path = _installed(entry)
        if path is None:
            raise ModelMissingError(f"The model {entry.name} is not downloaded yet. Run: iris models download {entry.name}")
        return path, entry.name
    if _HUB_ID.match(model) and not model.startswith("."):
        return _from_hub_cache(model), model
    if local.is_absolute() or model.startswith((".", "~")) or os.sep in model:
        raise ModelMissingError(f"There is no model folder at {local.absolute()}.")
    raise ModelMissingError(
        f"There is no model called {model!r}. Run iris models list to see the models Iris can download, "
        "or pass a model folder or hub id."
    )


def _installed(entry: ModelEntry) -> Path | None:
    path = installed_path(entry)
    if path is None:
        try:
            path = _from_hub_cache(entry.hub_id, revision=entry.revision)
        except ModelMissingError:
            return None
    return path


def _from_hub_cache(hub_id: str, revision: str | None = None) -> Path:
    """The cached snapshot of ``hub_id`` (no network), or ModelMissingError.

    A catalogue model is only taken from the cache at its pinned ``revision``.
    """
    try:
        import huggingface_hub

        folder = huggingface_hub.snapshot_download(hub_id, revision=revision, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means "not cached"
        raise ModelMissingError(
            f"The model {hub_id} is not in this computer's Hugging Face cache. Run: hf download {hub_id}",
            detail=f"{type(exc).__name__}: {exc}",
        ) from None
    return Path(folder)


class LazyEngine(CallbackEngine):
    """Resolves and loads the real engine on first use; falls back to the CPU on GPU memory errors."""

    def __init__(self, model: str, device: str, settings: Any, *, status: StatusCallback | None, factory: EngineFactory):
        super().__init__()
        self.requested_model = model
        self.requested_device = device
        self.settings = settings
        self._status = status
        self._factory = factory
        self._engine: VisionEngine | None = None
        self._lock = threading.RLock()
        self.fell_back_to_cpu = False

    # Before loading these describe the request; afterwards, the real engine.
    @property
    def model_name(self) -> str:  # type: ignore[override]
        return self._engine.model_name if self._engine else self.requested_model

    @property
    def device(self) -> str:  # type: ignore[override]
        return self._engine.device if self._engine else self.requested_device

    @property
    def quantization(self) -> str:  # type: ignore[override]
        return self._engine.quantization if self._engine else "none"

    @property
    def is_loaded(self) -> bool:
        return self._engine is not None and self._engine.is_loaded

    def load(self, status: StatusCallback | None = None) -> None:
        status = status or self._status
        with self._lock:
            if self.is_loaded:
                return
            if self.requested_model.strip().lower() in ("", "auto"):
                device = resolve_device(self.requested_device)  # the default model depends on it
                path, name = resolve_model(self.requested_model, device)
            else:
                # A named model, hub id or folder does not depend on the device: a missing
                # one is reported before torch is imported to look for a graphics card.
                path, name = resolve_model(self.requested_model, "cpu")
                device = resolve_device(self.requested_device)
            engine = self._factory(path, device, self.settings, name)
            try:
                engine.load(status)
            except OutOfMemoryError:
                if device != "cuda":
                    raise
                engine.unload()
                del engine
                self._load_on_cpu(path, name, status)
                return
            self._engine = engine

    def _load_on_cpu(self, path: Path, name: str, status: StatusCallback | None) -> None:
        if status:
            status(CPU_FALLBACK_MESSAGE)
        log.warning("CUDA out of memory with %s; retrying on the CPU", name)
        if self.requested_model.strip().lower() in ("", "auto"):
            try:
                path, name = resolve_model("auto", "cpu")
            except ModelMissingError:
                pass  # run the GPU default on the CPU rather than nothing
        engine = self._factory(path, "cpu", self.settings, name)
        engine.load(status)
        self._engine = engine
        self.fell_back_to_cpu = True

    def unload(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.unload()
                self._engine = None

    def generate(
        self,
        conversation: Conversation,
        cancel: CancelToken | None,
        on_text: TextCallback,
        *,
        max_new_tokens: int | None = None,
        min_new_tokens: int | None = None,
    ) -> None:
        start = time.perf_counter()
        if not self.is_loaded:
            self.load()
        load_s = time.perf_counter() - start
        engine = self._engine
        assert engine is not None
        produced = False

        def deliver(piece: str) -> None:
            nonlocal produced
            produced = True
            on_text(piece)

        try:
            try:
                engine.generate(
                    conversation, cancel, deliver, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens
                )
            except OutOfMemoryError:
                if produced or engine.device != "cuda" or self.fell_back_to_cpu:
                    raise
                with self._lock:
                    path = getattr(engine, "model_path", None)
                    engine.unload()
                    self._engine = None
                    if path is None:
                        path, _ = resolve_model(self.requested_model, "cpu")
                    self._load_on_cpu(Path(path), engine.model_name, self._status)
                engine = self._engine
                engine.generate(
                    conversation, cancel, on_text, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens
                )
        finally:
            inner = engine.last_stats if engine is not None else GenerationStats()
            self.last_stats = GenerationStats(
                input_tokens=inner.input_tokens,
                output_tokens=inner.output_tokens,
                load_s=load_s + inner.load_s,
                first_token_s=None if inner.first_token_s is None else inner.first_token_s + load_s,
                total_s=time.perf_counter() - start,
            )
