"""llama-cpp-python plumbing for the llama.cpp engine: importing it quietly, loading options,
the chat template, and what the GGUF header says.

Kept apart from :mod:`app.engine.llamacpp_engine` (the generation loop) so each stays small.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from typing import Any, Iterator

from ..errors import IrisError, ModelLoadError, ModelMissingError

log = logging.getLogger(__name__)

PIP_COMMAND = 'pip install "iris-assistant[llama]"'
MISSING_MESSAGE = (
    "This model needs the llama.cpp engine, which is not installed; install it with: "
    f"{PIP_COMMAND} (it builds from source in about ten minutes)."
)
def llama_cpp_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


_quiet: list[Any] = []  # the log callback, kept alive while the libraries may call it


def import_llama() -> Any:
    try:
        import llama_cpp
        import llama_cpp.mtmd_cpp  # the multimodal library must load too
    except ImportError as exc:
        raise ModelMissingError(MISSING_MESSAGE, detail=repr(exc)) from None
    except OSError as exc:  # the shared library exists but cannot load (wrong CPU, missing libc)
        raise ModelLoadError(
            "The llama.cpp engine is installed but cannot start on this computer; reinstall it with: " + PIP_COMMAND,
            detail=repr(exc),
        ) from None
    if not _quiet:  # llama.cpp and mtmd log every step to stderr, which a screen reader would read aloud
        quiet = llama_cpp.llama_log_callback(lambda _level, text, _data: log.debug("%s", (text or b"").decode("utf-8", "replace").rstrip()))
        llama_cpp.llama_log_set(quiet, None)
        llama_cpp.mtmd_cpp.mtmd_helper_log_set(quiet, None)
        _quiet.append(quiet)
    return llama_cpp


def gpu_offload_available() -> bool:
    """True when the installed llama.cpp was built with a GPU backend (CUDA, Metal, ...)."""
    try:
        llama_cpp = import_llama()
        return bool(llama_cpp.llama_supports_gpu_offload())
    except IrisError:
        return False


_params_lock = threading.Lock()


@contextlib.contextmanager
def model_params(*, extra_buffers: bool) -> Iterator[None]:
    """Load with llama.cpp's extra buffer types (AMX, repacking) on or off (see cpu_probe.py).

    ``Llama()`` has no argument for ``use_extra_bufts``; it starts from
    ``llama_model_default_params()``, so that is wrapped while the model loads.
    """
    if extra_buffers:
        yield
        return
    import llama_cpp.llama_cpp as low

    with _params_lock:
        original = low.llama_model_default_params

        def defaults() -> Any:
            params = original()
            params.use_extra_bufts = False
            return params

        low.llama_model_default_params = defaults
        try:
            yield
        finally:
            low.llama_model_default_params = original


def per_tile(meta: dict[str, Any]) -> int:
    """Image tokens of one Idefics3 tile (0 for other projectors)."""
    image_size = int(meta.get("clip.vision.image_size") or 0)
    patch = int(meta.get("clip.vision.patch_size") or 0)
    scale = int(meta.get("clip.vision.projector.scale_factor") or 1)
    if not (image_size and patch) or meta.get("clip.projector_type") != "idefics3":
        return 0
    return (image_size // patch) ** 2 // (scale * scale)


def render_template(template: str, messages: list[dict[str, Any]], llama: Any) -> str:
    import jinja2

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    try:
        return str(_compiled(template).render(
            messages=messages,
            add_generation_prompt=True,
            bos_token=llama.detokenize([llama.token_bos()], special=True).decode("utf-8", "ignore"),
            eos_token=llama.detokenize([llama.token_eos()], special=True).decode("utf-8", "ignore"),
            raise_exception=raise_exception,
        ))
    except (jinja2.TemplateError, ValueError) as exc:
        raise ModelLoadError("The model's chat template could not be used.", detail=repr(exc)) from None


@functools.lru_cache(maxsize=4)
def _compiled(template: str) -> Any:
    """The chat template compiled once (30 ms a request otherwise), in jinja's sandbox."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    return env.from_string(template)


#: general.file_type values (llama.h LLAMA_FTYPE_*) worth naming.
_FILE_TYPES = {0: "f32", 1: "f16", 2: "q4_0", 3: "q4_1", 7: "q8_0", 8: "q5_0", 9: "q5_1", 10: "q2_k", 12: "q3_k_m",
               14: "q4_k_s", 15: "q4_k_m", 16: "q5_k_s", 17: "q5_k_m", 18: "q6_k", 32: "bf16"}


def file_type_name(value: Any) -> str:
    return _FILE_TYPES.get(int(value), f"gguf-{value}") if isinstance(value, int) else "gguf"
