"""The real vision-language engine: transformers AutoProcessor + AutoModelForImageTextToText.

Safety: weights load only from safetensors (``use_safetensors=True``) and never
with ``trust_remote_code``; the folder is checked first (app.engine.model_files)
so a broken model is reported in one sentence.

Precision: on CUDA 4-bit NF4 (bitsandbytes, bf16 compute, double quantization),
falling back to int8 and then bf16 (fp16 on cards without bf16) when
bitsandbytes is missing or cannot quantize. On a CPU the choice was measured
with benchmarks/cpu_precision.py (real-size SmolVLM-256M, random weights, one
512 px tile = 83 input tokens, 32 forced tokens, 2 threads; medians, s = seconds):

    machine                          precision  load s  first token s  decode tok/s  peak RSS MB
    2-core VM, AVX512-BF16 (shared)  fp32       2.9     1.85           16.2          1821
                                     bf16       2.35    1.77           16.1           926
                                     nf4        6.95    2.88           19.6          1745
    16-core Xeon with AMX (quiet)    fp32       11.8    2.11           17.7          2280
                                     bf16       9.6     0.94           18.6          1775
                                     nf4        18.1    2.31            4.4          1834
    same, bf16 kernels disabled      fp32       7.8     1.95           21.4          2280
                                     bf16       8.7     10.97          24.9          1374
                                     nf4        18.5    1.52            6.3          1747

The winner is bf16 where the CPU multiplies bf16 in hardware (AVX512-BF16 or
AMX): first token as fast or faster and the least memory. Without that
hardware bf16 is emulated and the first token takes 5x longer, so fp32 is the
default there (:func:`cpu_default_precision`). bnb nf4 never wins on a CPU:
2-3x slower to load, decoding on the quiet machine near speaking speed, and no
less memory than bf16 at this size. Details in models/README.md.

Streaming: ``generate()`` runs on the caller's thread (the pipeline's job
worker) and a TextStreamer hands each finished word to a callback there. The
earlier design, ``generate()`` on a helper thread feeding a queue, decoded
about 3x slower on CUDA (benchmarks/README.md); :meth:`stream` still offers
that iterator form for callers that want one. Cancellation is checked by a
StoppingCriteria between tokens and by forward pre-hooks on every transformer
layer, so even a long prefill stops within one layer's time.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import InternalError, IrisError, ModelLoadError, OutOfMemoryError
from .base import (
    AnsweringEngine,
    CancelToken,
    Conversation,
    GenerationStats,
    StatusCallback,
    TextCallback,
    image_policy,
)
from .model_files import ModelFolder, inspect_model_dir
from .prefix_cache import REUSABLE_FAMILIES, PrefixCache, image_key
from .prompting import build_messages, fit_image, image_kwargs

log = logging.getLogger(__name__)

#: Used on CPUs without native bf16 (see cpu_default_precision and models/README.md).
CPU_FALLBACK_PRECISION = "fp32"
PRECISIONS = ("nf4", "int8", "bf16", "fp16", "fp32")
CUDA_CHAIN = ("nf4", "int8", "bf16")
QUANTIZED = frozenset({"nf4", "int8"})
DEFAULT_MAX_NEW_TOKENS = 256
GPU_OOM_MESSAGE = "The graphics card ran out of memory."
CPU_OOM_MESSAGE = "The computer ran out of memory. Try a smaller image or a smaller model."


class _Interrupted(Exception):
    """Raised inside the model's forward pass to abandon a cancelled generation."""


def setting(settings: Any, key: str, default: Any) -> Any:
    """Read a setting from a Settings object or a plain dict, tolerating absence."""
    if settings is None:
        return default
    try:
        value = settings[key]
    except (KeyError, TypeError):
        return default
    return default if value is None else value


def cpu_default_precision() -> str:
    """bf16 where the CPU multiplies bf16 in hardware (x86 AVX512-BF16 or AMX), else fp32.

    Measured (benchmarks/cpu_precision.py): with native bf16, bf16 is as fast as
    fp32 or faster and needs half the memory; without it bf16 is emulated and
    the first token takes about twice as long, so fp32 wins there. The oneDNN
    check honours ONEDNN_MAX_CPU_ISA, so a restricted ISA counts as "no bf16".
    """
    import platform

    import torch

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return CPU_FALLBACK_PRECISION
    try:
        native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
        onednn = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return CPU_FALLBACK_PRECISION
    return "bf16" if native and onednn else CPU_FALLBACK_PRECISION


def precision_chain(device: str, requested: str = "auto") -> list[str]:
    """Precisions to try in order: the requested or default one, then safer fallbacks."""
    if device == "cuda":
        chain = list(CUDA_CHAIN)
    else:
        default = cpu_default_precision()
        chain = [default] + (["fp32"] if default != "fp32" else [])
    if requested in (None, "", "auto"):
        return chain
    if requested not in PRECISIONS:
        raise ModelLoadError(f"Unknown precision {requested!r}; use one of {', '.join(PRECISIONS)}.")
    tail = chain[chain.index(requested) + 1 :] if requested in chain else [c for c in chain if c not in QUANTIZED]
    return [requested] + [c for c in tail if c != requested]


def bitsandbytes_installed() -> bool:
    return importlib.util.find_spec("bitsandbytes") is not None


def is_oom(exc: BaseException) -> bool:
    """True for torch.cuda.OutOfMemoryError and plain MemoryError (without importing torch)."""
    if isinstance(exc, MemoryError):
        return True
    name = type(exc).__name__
    return name == "OutOfMemoryError" or "out of memory" in str(exc).lower()


class TransformersEngine(AnsweringEngine):
    """One local model folder on one device, loaded on first use."""

    engine_name = "transformers"

    def __init__(
        self,
        model_path: str | Path,
        *,
        device: str = "cpu",
        settings: Any = None,
        model_name: str | None = None,
        precision: str = "auto",
    ) -> None:
        super().__init__()
        self.model_path = Path(model_path)
        self.model_name = model_name or self.model_path.name
        self.device = "cuda" if str(device).startswith("cuda") else "cpu"
        self.precision = precision
        self.quantization = "none"
        self.settings = settings
        self.load_s = 0.0
        self._model: Any = None
        self._processor: Any = None
        self._folder: ModelFolder | None = None
        self._hooks: list[Any] = []
        self._load_lock = threading.RLock()
        self._generate_lock = threading.Lock()
        # The running generation's own cancel token, read by the layer hooks and cancelled by unload().
        self._active: CancelToken | None = None
        self._static_cache_failed = False
        # The previous request's KV cache, so a follow-up does not re-read the picture.
        self._prefix = PrefixCache()

    # ------------------------------------------------------------------ loading
    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    def load(self, status: StatusCallback | None = None) -> None:
        with self._load_lock:
            if self._model is not None:
                return
            start = time.perf_counter()
            folder = inspect_model_dir(self.model_path)
            import torch
            import transformers

            _check_model_type(folder, transformers)
            self._configure_threads(torch)
            if self.device == "cuda" and not torch.cuda.is_available():
                raise ModelLoadError("Iris was asked to use the graphics card, but no CUDA graphics card is available.")
            if status:
                status(f"Loading the description model {self.model_name}.")
            model, precision = self._load_weights(folder, torch, transformers)
            try:
                processor = transformers.AutoProcessor.from_pretrained(  # type: ignore[no-untyped-call]
                    str(folder.path), trust_remote_code=False, local_files_only=True
                )
            except Exception as exc:
                del model
                self._free(torch)
                raise ModelLoadError(
                    f"The tokenizer or image processor of the model {self.model_name} could not be loaded.",
                    detail=f"{type(exc).__name__}: {exc}",
                ) from None
            model.eval()
            self._model, self._processor, self._folder = model, processor, folder
            self.quantization = precision
            self._install_cancel_hooks(torch)
            self.load_s = time.perf_counter() - start
            log.info("loaded %s on %s as %s in %.1f s", self.model_name, self.device, precision, self.load_s)

    def _configure_threads(self, torch: Any) -> None:
        threads = int(setting(self.settings, "cpu_threads", 0) or 0)
        torch.set_num_threads(threads if threads > 0 else (os.cpu_count() or 1))

    def _load_weights(self, folder: ModelFolder, torch: Any, transformers: Any) -> tuple[Any, str]:
        chain = precision_chain(self.device, self.precision)
        last_error: BaseException | None = None
        for index, precision in enumerate(chain):
            is_last = index == len(chain) - 1
            if precision in QUANTIZED and not bitsandbytes_installed():
                log.info("bitsandbytes is not installed; skipping %s", precision)
                continue
            try:
                kwargs = load_kwargs(precision, self.device, torch, transformers)
                model = transformers.AutoModelForImageTextToText.from_pretrained(str(folder.path), **kwargs)
                return model, precision
            except Exception as exc:  # noqa: BLE001 - classified below
                self._free(torch)
                if is_oom(exc):
                    raise _oom_error(self.device, exc) from None
                last_error = exc
                if precision in QUANTIZED and not is_last:
                    log.warning("%s loading failed (%s: %s); trying the next precision", precision, type(exc).__name__, exc)
                    continue
                break
        raise ModelLoadError(
            f"The model {self.model_name} could not be loaded; its files may be damaged or from an unsupported version.",
            detail=f"{type(last_error).__name__}: {last_error}" if last_error else "no precision could be used",
        )

    def unload(self) -> None:
        with self._load_lock:
            active = self._active
            if active is not None:
                active.cancel()
            for hook in self._hooks:
                hook.remove()
            self._hooks.clear()
            self._model = None
            self._processor = None
            self._prefix.clear()
            self.quantization = "none"
            self._free(sys.modules.get("torch"))

    @staticmethod
    def _free(torch: Any) -> None:
        gc.collect()
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _install_cancel_hooks(self, torch: Any) -> None:
        """Hook every layer in a ModuleList so a cancel interrupts even the prefill."""

        def check(_module: Any, _args: Any) -> None:
            active = self._active
            if active is not None and active.cancelled:
                raise _Interrupted()

        for module in self._model.modules():
            if isinstance(module, torch.nn.ModuleList):
                for layer in module:
                    self._hooks.append(layer.register_forward_pre_hook(check))

    # --------------------------------------------------------------- generation
    def _answer(
        self,
        conversation: Conversation,
        cancel: CancelToken,
        on_text: TextCallback,
        stats: GenerationStats,
        start: float,
        max_new_tokens: int | None,
        min_new_tokens: int | None,
    ) -> None:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextStreamer

        model, processor = self._model, self._processor
        if model is None or cancel.cancelled:
            return
        inputs = self._inputs(conversation, torch)
        if cancel.cancelled:  # preparing a large picture cannot be interrupted; check right after it
            return
        stats.input_tokens = int(inputs["input_ids"].shape[-1])
        limit = int(max_new_tokens or setting(self.settings, "max_new_tokens", DEFAULT_MAX_NEW_TOKENS))
        floor = int(min_new_tokens or 0)
        limit = max(limit, floor, 1)
        tokenizer = getattr(processor, "tokenizer", processor)
        callback_failure: list[BaseException] = []

        class Streamer(TextStreamer):
            """Hands finished words to ``on_text`` on this thread, counting tokens as they come."""

            def put(self, value: Any) -> None:
                if not self.next_tokens_are_prompt:
                    stats.output_tokens += int(value.numel())
                    if stats.first_token_s is None:
                        stats.first_token_s = time.perf_counter() - start
                super().put(value)  # type: ignore[no-untyped-call]

            def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
                if not text or cancel.cancelled:
                    return
                try:
                    on_text(text)
                except BaseException as exc:  # noqa: BLE001 - the caller's own error, re-raised as is
                    callback_failure.append(exc)
                    cancel.cancel()
                    raise _Interrupted() from None

        class StopOnCancel(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), cancel.cancelled, dtype=torch.bool, device=input_ids.device)

        gen_kwargs = dict(
            inputs,
            streamer=Streamer(tokenizer, skip_prompt=True, skip_special_tokens=True),
            stopping_criteria=StoppingCriteriaList([StopOnCancel()]),
            max_new_tokens=limit,
            do_sample=False,
            num_beams=1,
        )
        if floor:
            gen_kwargs["min_new_tokens"] = floor
        pad_id = getattr(tokenizer, "pad_token_id", None) or getattr(tokenizer, "eos_token_id", None)
        if pad_id is not None:
            gen_kwargs["pad_token_id"] = pad_id
        cache = self._cache_implementation()
        if cache:
            gen_kwargs["cache_implementation"] = cache
        model_type = self._folder.model_type if self._folder else ""
        reuse = not cache and model_type in REUSABLE_FAMILIES
        key = image_key(conversation.image, setting(self.settings, "preset", "fast")) if reuse else ""

        with self._generate_lock:
            self._active = cancel
            try:
                if reuse:
                    gen_kwargs.update(self._prefix.prepare(gen_kwargs, key, getattr(model.config, "image_token_id", None)))
                    gen_kwargs["return_dict_in_generate"] = True
                output = self._run(model, gen_kwargs, torch, lambda: stats.output_tokens > 0)
                if reuse and not cancel.cancelled:
                    self._prefix.keep(key, output)
            except _Interrupted:
                pass
            except BaseException as exc:  # noqa: BLE001 - classified for the user
                if callback_failure:
                    raise callback_failure[0] from None
                if not cancel.cancelled:
                    raise _generation_error(self.device, exc) from None
            finally:
                self._active = None
        if callback_failure:
            raise callback_failure[0]

    def _run(self, model: Any, gen_kwargs: dict[str, Any], torch: Any, produced: Callable[[], bool]) -> Any:
        """One ``generate()`` call. A static cache that fails before any answer token
        is dropped for good and the request retried with the dynamic cache."""
        try:
            with torch.inference_mode():
                return model.generate(**gen_kwargs)
        except _Interrupted:
            raise
        except Exception as exc:  # noqa: BLE001 - only a static-cache failure is retried
            if "cache_implementation" not in gen_kwargs or is_oom(exc) or produced():
                raise
            log.warning("the static KV cache failed (%s: %s); using the dynamic cache from now on", type(exc).__name__, exc)
            self._static_cache_failed = True
            streamer = gen_kwargs["streamer"]
            retry = dict(gen_kwargs, streamer=type(streamer)(streamer.tokenizer, skip_prompt=True, **streamer.decode_kwargs))
            del retry["cache_implementation"]
            with torch.inference_mode():
                return model.generate(**retry)

    def _cache_implementation(self) -> str | None:
        """The KV-cache kind for this request: the ``kv_cache`` setting, "auto" choosing per device.

        "auto" means a static cache for 4-bit/8-bit models on CUDA: measured on
        an H100 with SmolVLM2-2.2B in nf4, decode went from 10.2 to 23.3 tok/s
        and first audio from 1.29 to 0.81 s, at the same VRAM (+8 MB);
        transformers does not auto-compile bitsandbytes models, so this adds no
        compile pause. bf16 + static is compiled by transformers on CUDA (a 30 s
        pause on the first request), so it stays dynamic. On the CPU the two
        tied (first audio 1.35 vs 1.42 s, within the run-to-run spread), so the
        CPU keeps the dynamic cache (benchmarks/README.md).
        """
        choice = str(setting(self.settings, "kv_cache", "auto"))
        if choice == "dynamic" or self._static_cache_failed:
            return None
        if choice == "static":
            return "static"
        return "static" if self.device == "cuda" and self.quantization in QUANTIZED else None

    def _inputs(self, conversation: Conversation, torch: Any) -> Any:
        processor, model, folder = self._processor, self._model, self._folder
        policy = image_policy(self.device, str(setting(self.settings, "preset", "fast")))
        image = fit_image(conversation.image, policy.max_edge)
        prompt = processor.apply_chat_template(build_messages(conversation), add_generation_prompt=True, tokenize=False)
        extra = image_kwargs(folder.model_type if folder else "", policy, getattr(processor, "image_processor", None))
        try:
            inputs = processor(text=[prompt], images=[image], return_tensors="pt", **extra)
        except IrisError:
            raise
        except Exception as exc:
            raise InternalError(
                "The picture could not be prepared for the description model.", detail=f"{type(exc).__name__}: {exc}"
            ) from None
        dtype = model.dtype
        moved = {}
        for key, value in inputs.items():
            if hasattr(value, "to"):
                value = value.to(model.device)
                if value.is_floating_point():
                    value = value.to(dtype)
            moved[key] = value
        return moved


def load_kwargs(precision: str, device: str, torch: Any, transformers: Any) -> dict[str, Any]:
    """from_pretrained arguments for one precision; safetensors only, no remote code, ever."""
    cuda = device == "cuda"
    half = torch.bfloat16 if (not cuda or torch.cuda.is_bf16_supported()) else torch.float16
    kwargs: dict[str, Any] = {
        "use_safetensors": True,
        "trust_remote_code": False,
        "local_files_only": True,
        "device_map": "cuda" if cuda else "cpu",
    }
    if precision == "nf4":
        compute = half if cuda else torch.float32
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=compute,
            bnb_4bit_use_double_quant=True,
        )
        kwargs["dtype"] = compute
    elif precision == "int8":
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(load_in_8bit=True)
        # bitsandbytes' int8 matmul works in fp16; loading bf16 only adds a cast per call.
        kwargs["dtype"] = torch.float16 if cuda else torch.float32
    elif precision == "bf16":
        kwargs["dtype"] = half
    elif precision == "fp16":
        kwargs["dtype"] = torch.float16
    else:
        kwargs["dtype"] = torch.float32
    return kwargs


def _check_model_type(folder: ModelFolder, transformers: Any) -> None:
    """Refuse configs that transformers cannot map to an image-text-to-text model."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES  # type: ignore[attr-defined]
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    model_type = folder.model_type
    name = folder.path.name
    if not model_type:
        raise ModelLoadError(f"The configuration of the model {name} does not say what kind of model it is.")
    if model_type not in CONFIG_MAPPING_NAMES:
        raise ModelLoadError(
            f"The model {name} is of a kind ({model_type}) that this version of transformers "
            f"({transformers.__version__}) does not know; update Iris or choose another model."
        )
    if model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        raise ModelLoadError(
            f"The model {name} is a {model_type} model, which cannot describe pictures; choose a vision-language model."
        )


def _oom_error(device: str, exc: BaseException) -> OutOfMemoryError:
    return OutOfMemoryError(GPU_OOM_MESSAGE if device == "cuda" else CPU_OOM_MESSAGE, detail=repr(exc))


def _generation_error(device: str, exc: BaseException) -> IrisError:
    if isinstance(exc, IrisError):
        return exc
    if is_oom(exc):
        return _oom_error(device, exc)
    return InternalError("The description model failed while answering.", detail=f"{type(exc).__name__}: {exc}")
