"""Turn ``--model``, ``--device`` and ``--server`` into an engine, cheaply, and load it only when needed.

:func:`create_engine` imports neither torch, transformers nor llama_cpp. With a
server address (``--server`` or the ``server_url`` setting) it returns a
:class:`~app.engine.server_engine.ServerEngine`; otherwise a :class:`LazyEngine`.
On ``load()`` (first ``generate()``) the model is resolved, in this order:

* ``auto``: the first installed catalogue model, in the catalogue's order for
  the device, that this computer can run: its engine is installed (GGUF models
  need llama_cpp) and it fits in the free memory (:func:`app.catalogue.auto_choice`);
* a ``.gguf`` file (its ``mmproj*.gguf`` beside it) or a folder holding both:
  the llama.cpp engine;
* an existing local folder;
* a catalogue name (or a catalogue hub id), installed under ``models_dir()/<name>``
  or found in the local Hugging Face cache;
* a hub id ``owner/name``, looked up in the local Hugging Face cache only (offline).

A missing model raises ModelMissingError saying exactly what to run. If the
graphics card runs out of memory while loading (or before the first word of
an answer), the engine is rebuilt once on the CPU and the user is told.

Loading runs on a helper thread that the caller waits for: ``unload()`` (a
model switch, quitting) returns at once, the waiting ``load()`` raises
CancelledError, and a load that finishes after the unload is dropped, so
nothing stays loaded.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..catalogue import ModelEntry, auto_choice, default_entry, find_entry, free_memory_mb
from ..download import installed_path
from ..errors import BadInputError, CancelledError, IrisError, ModelMissingError, OutOfMemoryError
from .base import (
    CallbackEngine,
    CancelToken,
    Conversation,
    GenerationStats,
    StatusCallback,
    TextCallback,
    VisionEngine,
)
from .gguf_files import is_gguf_request

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
CPU_FALLBACK_MESSAGE = "The graphics card ran out of memory; using the processor instead."
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

#: (folder, device, settings, display name) -> an unloaded engine. Tests pass doubles.
EngineFactory = Callable[[Path, str, Any, str], VisionEngine]


def _transformers_factory(path: Path, device: str, settings: Any, name: str) -> VisionEngine:
    if is_gguf_request(str(path)):
        from .llamacpp_engine import LlamaCppEngine

        return LlamaCppEngine(path, device=device, settings=settings, model_name=name)
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
    server: str | None = None,
    server_model: str | None = None,
    notify: Callable[[str], None] | None = None,
) -> VisionEngine:
    """A lazy engine for ``model`` on ``device`` (auto|cpu|cuda), or a server engine. Cheap: no torch import.

    ``server`` (the command line's ``--server``) counts as the user's permission to send
    pictures to that host; from settings a host on another computer also needs
    ``server_allow_remote``. ``server_model`` is the model named on the command line.
    """
    url = (server or str(_setting(settings, "server_url", "") or "")).strip()
    if url:
        from .server_engine import ServerEngine

        name = server_model or str(_setting(settings, "server_model", "") or "") or "auto"
        allow = bool(server) or bool(_setting(settings, "server_allow_remote", False))
        return ServerEngine(url, name, settings=settings, allow_remote=allow, notify=notify)
    device = (device or "auto").strip().lower()
    if device not in DEVICES:
        raise BadInputError(f"The device {device!r} is not known; use auto, cpu or cuda.")
    return LazyEngine(model or "auto", device, settings, status=status, factory=factory or _transformers_factory)


def _setting(settings: Any, key: str, default: Any) -> Any:
    try:
        value = settings[key]
    except (KeyError, TypeError):
        return default
    return default if value is None else value


def llama_available() -> bool:
    from .llamacpp_support import llama_cpp_available

    return llama_cpp_available()


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
        choice = auto_choice(device, _installed, llama_available=llama_available(), free_mb=free_memory_mb())
        if choice.entry is None:
            default = default_entry(device)
            raise ModelMissingError(f"No description model is installed. Run: iris models download {default.name}",
                                    detail=choice.reason)
        path = _installed(choice.entry)
        assert path is not None
        log.info("auto chose %s: %s", choice.entry.name, choice.reason)
        return path, choice.entry.name
    local = Path(model).expanduser()
    if local.is_file() and local.suffix.lower() == ".gguf":
        return local, local.stem
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
    if path is None and entry.format != "gguf":
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


class _Attempt:
    """One background load: its result (an engine or an error) and whether it finished."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.done = threading.Event()
        self.engine: VisionEngine | None = None
        self.error: BaseException | None = None
        self.fell_back = False


class LazyEngine(CallbackEngine):
    """Resolves and loads the real engine on first use; falls back to the CPU on GPU memory errors."""

    #: How often a waiting load() looks for an unload.
    _POLL_S = 0.02

    def __init__(self, model: str, device: str, settings: Any, *, status: StatusCallback | None, factory: EngineFactory):
        super().__init__()
        self.requested_model = model
        self.requested_device = device
        self.settings = settings
        self._status = status
        self._factory = factory
        self._engine: VisionEngine | None = None
        self._lock = threading.RLock()
        self._attempt: _Attempt | None = None
        self._epoch = 0
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
    def engine_name(self) -> str:  # type: ignore[override]
        if self._engine is not None:
            return str(getattr(self._engine, "engine_name", "unknown"))
        return "llama.cpp" if is_gguf_request(self.requested_model) else "transformers"

    @property
    def vision_encoder(self) -> str | None:
        """What reads pictures for the llama.cpp engine ("torch" or "llama.cpp"); None otherwise or before loading."""
        return getattr(self._engine, "vision_encoder", None) if self._engine is not None else None

    @property
    def is_loaded(self) -> bool:
        return self._engine is not None and self._engine.is_loaded

    def model_found(self) -> bool:
        if self._engine is not None:
            return True
        for device in ("cpu", "cuda"):  # not resolve_device(): that imports torch
            try:
                resolve_model(self.requested_model, device)
            except IrisError:
                continue
            return True
        return False

    def load(self, status: StatusCallback | None = None) -> None:
        """Load on a helper thread and wait; an unload() meanwhile makes this raise CancelledError at once."""
        self._load_or_cancel(status, None)

    def warm_up(self, cancel: CancelToken | None = None, status: StatusCallback | None = None) -> None:
        """As the base class, but a cancelled job stops waiting for the load at once."""
        try:
            self._load_or_cancel(status, cancel)
        except CancelledError:
            if cancel is not None and cancel.cancelled:
                return
            raise
        super().warm_up(cancel, status)

    def _load_or_cancel(self, status: StatusCallback | None, cancel: CancelToken | None) -> None:
        status = status or self._status
        with self._lock:
            if self.is_loaded:
                return
            attempt = self._attempt
            if attempt is None or attempt.epoch != self._epoch:
                attempt = self._attempt = _Attempt(self._epoch)
                threading.Thread(target=self._load_in_background, args=(attempt, status), name="iris-load", daemon=True).start()
        while not attempt.done.wait(self._POLL_S):
            if attempt.epoch != self._epoch or (cancel is not None and cancel.cancelled):
                raise CancelledError("Loading the model was stopped.")
        if attempt.epoch != self._epoch:
            raise CancelledError("Loading the model was stopped.")
        if attempt.error is not None:
            raise attempt.error

    def _load_in_background(self, attempt: _Attempt, status: StatusCallback | None) -> None:
        try:
            engine = self._load_blocking(attempt, status)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting load()
            attempt.error = exc
            with self._lock:
                if self._attempt is attempt:
                    self._attempt = None  # the next load() tries again
            attempt.done.set()
            return
        with self._lock:
            current = attempt.epoch == self._epoch
            if current:
                self._engine = engine
                self.fell_back_to_cpu = self.fell_back_to_cpu or attempt.fell_back
        if not current:  # unloaded while loading: drop what was loaded
            log.info("dropping %s, loaded after it was unloaded", engine.model_name)
            engine.unload()
        attempt.done.set()

    def _load_blocking(self, attempt: _Attempt, status: StatusCallback | None) -> VisionEngine:
        if self.requested_model.strip().lower() in ("", "auto"):
            device = resolve_device(self.requested_device)  # the default model depends on it
            path, name = resolve_model(self.requested_model, device)
        else:
            # A named model, hub id or folder does not depend on the device: a missing
            # one is reported before torch is imported to look for a graphics card.
            path, name = resolve_model(self.requested_model, "cpu")
            device = self.requested_device if is_gguf_request(str(path)) else resolve_device(self.requested_device)
        engine = self._factory(path, device, self.settings, name)
        try:
            engine.load(status)
        except OutOfMemoryError:
            if device != "cuda":
                raise
            engine.unload()
            del engine
            attempt.fell_back = True
            return self._cpu_engine(path, name, status)
        return engine

    def _cpu_engine(self, path: Path, name: str, status: StatusCallback | None) -> VisionEngine:
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
        return engine

    def _load_on_cpu(self, path: Path, name: str, status: StatusCallback | None) -> None:
        self._engine = self._cpu_engine(path, name, status)
        self.fell_back_to_cpu = True

    def unload(self) -> None:
        """Immediate: a load in progress is abandoned (and its result dropped when it finishes)."""
        with self._lock:
            self._epoch += 1
            self._attempt = None
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.unload()

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
        if engine is None:  # unloaded (a model switch) between the load and now
            raise CancelledError("Loading the model was stopped.")
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
                assert engine is not None
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
