"""The llama.cpp engine: a 4-bit GGUF text model plus its ``mmproj`` vision file (llama-cpp-python).

Why it exists: on a laptop without a graphics card a 2B-class model through
transformers decodes slower than speech; llama.cpp's 4-bit GGUF decodes about
8x faster in two thirds of the memory (issue 10, benchmarks/README.md).

How it works: the multimodal ``mtmd`` library cuts the prompt into text and
image chunks; this engine evaluates them itself instead of through
llama-cpp-python's chat handler, because that handler clears the KV cache on
every request and cannot be interrupted while it encodes a picture. Here:

* **Follow-ups** reuse the KV cache: the prompt is compared unit by unit (a
  text token, or a whole picture keyed by a hash of its pixels) with what is
  already in the cache, and only the new tail is evaluated, so a follow-up
  question never re-encodes the picture.
* **Cancel** is checked between tokens, inside the vision encoder (mtmd's
  graph-evaluation callback, every few dozen graph nodes) and inside long
  ``llama_decode`` calls (llama.cpp's abort callback, set only for the prefill
  because it costs a Python call per graph node).
* **Image size** follows the preset (``image_policy``): the ``image_max_tokens``
  budget caps the tiles, and without splitting only the overview tile of an
  Idefics3/SmolVLM picture is evaluated (llama.cpp always adds a slice).
* **Hybrid**: for an Idefics3/SmolVLM vision file on the CPU, torch can read
  the picture instead of mtmd (5-10x faster on a CPU with native bf16) and its
  embeddings go straight to ``llama_decode`` (``llamacpp_hybrid.py``, setting
  ``vision_encoder``); mtmd is then loaded only if a preset splits the picture.
* ``use_mmap=False`` and an ``n_ctx`` sized for the preset: with mmap the
  4-bit weights were kept twice (mapped + repacked), 3.1 GB instead of 2.1 GB
  for a 2.2B model; greedy decoding, like the transformers engine.
"""

from __future__ import annotations

import codecs
import ctypes
import gc
import hashlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import BadInputError, InternalError, IrisError, ModelLoadError, OutOfMemoryError
from .base import (
    AnsweringEngine,
    CancelToken,
    Conversation,
    GenerationStats,
    StatusCallback,
    TextCallback,
    image_policy,
)
from .cpu_probe import llama_extra_buffers_ok
from .gguf_files import MMPROJ_KEYS, find_pair, read_metadata, tokens_per_image
from .llamacpp_hybrid import choose_torch_vision, decode_embeddings, load_torch_vision, overview_layout
from .llamacpp_support import (
    file_type_name,
    import_llama,
    model_params,
    per_tile,
    render_template,
)
from .prompting import build_messages, fit_image

log = logging.getLogger(__name__)

DEFAULT_MAX_NEW_TOKENS = 256
#: Room for the question, earlier answers and follow-ups beyond the picture and the answer.
CONVERSATION_TOKENS = 1024
#: Vision-encoder graph nodes between cancel checks.
CANCEL_EVERY_NODES = 24


class _Unit:
    """One step of the KV cache: a text token, or a whole picture (keyed by its pixels)."""

    __slots__ = ("key", "n_pos")

    def __init__(self, key: tuple[Any, ...], n_pos: int) -> None:
        self.key, self.n_pos = key, n_pos


class LlamaCppEngine(AnsweringEngine):
    """A GGUF model + mmproj on the CPU (or offloaded to a GPU with a CUDA build), loaded on first use."""

    engine_name = "llama.cpp"

    def __init__(
        self,
        model_path: str | Path,
        *,
        mmproj_path: str | Path | None = None,
        device: str = "cpu",
        settings: Any = None,
        model_name: str | None = None,
    ) -> None:
        super().__init__()
        pair = find_pair(Path(model_path)) if mmproj_path is None else None
        self.model_path = pair.model if pair else Path(model_path)
        self.mmproj_path = pair.mmproj if pair else Path(mmproj_path or "")
        self.model_name = model_name or self.model_path.stem
        self.requested_device = device
        self.device = "cpu"
        self.quantization = "gguf"
        self.settings = settings
        self.load_s = 0.0
        self._llama: Any = None
        self._mtmd: Any = None
        self._mtmd_budget: int | None = -1
        #: The torch vision encoder of the hybrid path (llamacpp_hybrid.py), or None: llama.cpp's own.
        self._vision: Any = None
        #: Which encoder reads pictures: "torch" or "llama.cpp" (for --json, doctor and benchmarks).
        self.vision_encoder = "llama.cpp"
        self._mmproj_meta: dict[str, Any] = {}
        self._n_ctx = 0
        self._cache: list[_Unit] = []
        self._lock = threading.RLock()
        self._active: CancelToken | None = None
        # ctypes callbacks must outlive the C side's use of them.
        self._eval_callback: Any = None
        self._abort_callback: Any = None
        self._abort_installed = False
        #: How often a cancel stopped the vision encoder mid-graph (for tests and diagnostics).
        self.graph_stops = 0
        #: Called as fn(step, logits) before each token is chosen; may change the logits in place
        #: (the llama.cpp counterpart of transformers' LogitsProcessor; benchmarks force answers with it).
        self.logits_processors: list[Callable[[int, Any], None]] = []

    # ------------------------------------------------------------------ loading
    @property
    def is_loaded(self) -> bool:
        return self._llama is not None

    def load(self, status: StatusCallback | None = None) -> None:
        with self._lock:
            if self._llama is not None:
                return
            start = time.perf_counter()
            text_meta = read_metadata(self.model_path, keys=("general.type", "general.file_type"))
            if text_meta.get("general.type") == "mmproj":
                raise ModelLoadError(f"{self.model_path.name} is a vision file (mmproj), not a text model.")
            self._mmproj_meta = read_metadata(self.mmproj_path, keys=MMPROJ_KEYS)
            if self._mmproj_meta.get("clip.has_vision_encoder") is False:
                raise ModelLoadError(f"The file {self.mmproj_path.name} has no vision encoder, so it cannot describe pictures.")
            llama_cpp = import_llama()
            offload = self.requested_device in ("auto", "cuda") and bool(llama_cpp.llama_supports_gpu_offload())
            if self.requested_device == "cuda" and not offload:
                raise ModelLoadError(
                    "Iris was asked to use the graphics card, but the installed llama.cpp was built without GPU support."
                )
            if status:
                status(f"Loading the description model {self.model_name}.")
            self._n_ctx = self._context_size(offload)
            threads = self._threads()
            try:
                with model_params(extra_buffers=llama_extra_buffers_ok()):
                    llama = llama_cpp.Llama(
                        model_path=str(self.model_path),
                        n_ctx=self._n_ctx,
                        n_batch=512,
                        n_threads=threads,
                        n_threads_batch=threads,
                        n_gpu_layers=-1 if offload else 0,
                        use_mmap=False,
                        flash_attn=True,
                        logits_all=False,
                        verbose=False,
                    )
            except MemoryError as exc:
                raise OutOfMemoryError("The computer ran out of memory loading the model.", detail=repr(exc)) from None
            except (ValueError, RuntimeError, OSError) as exc:
                raise ModelLoadError(
                    f"The model {self.model_name} could not be loaded; its file may be damaged or too new for this llama.cpp.",
                    detail=f"{type(exc).__name__}: {exc}",
                ) from None
            self._llama = llama
            self.device = "cuda" if offload else "cpu"
            self.quantization = file_type_name(text_meta.get("general.file_type"))
            try:
                self._choose_vision(threads)
                if self._vision is None:
                    self._ensure_mtmd()
            except BaseException:
                self.unload()
                raise
            self.load_s = time.perf_counter() - start
            log.info("loaded %s (llama.cpp, %s, n_ctx %d, pictures read by %s) in %.1f s",
                     self.model_name, self.device, self._n_ctx, self.vision_encoder, self.load_s)

    def _choose_vision(self, threads: int) -> None:
        """Torch reads pictures where it was measured faster (llamacpp_hybrid.py); llama.cpp's encoder otherwise."""
        from .transformers_engine import setting

        choice = str(setting(self.settings, "vision_encoder", "auto"))
        self._vision = None
        if choose_torch_vision(choice, self.device, self._mmproj_meta):
            self._vision = load_torch_vision(self.mmproj_path, threads)
        self.vision_encoder = "torch" if self._vision is not None else "llama.cpp"
        self._cache = []

    def _threads(self) -> int:
        from .transformers_engine import setting

        threads = int(setting(self.settings, "cpu_threads", 0) or 0)
        return threads if threads > 0 else (os.cpu_count() or 1)

    def _policy_budget(self) -> tuple[int | None, bool]:
        from .transformers_engine import setting

        policy = image_policy(self.device, str(setting(self.settings, "preset", "fast")))
        return tokens_per_image(self._mmproj_meta, policy.max_edge, policy.split), policy.split

    def _context_size(self, offload: bool) -> int:
        """Room for the preset's picture (plus the overview tile when split), the answer and follow-ups.

        Right-sized rather than the model's training length: the KV cache of a 2.2B model
        costs about 200 KB a token.
        """
        from .transformers_engine import setting

        self.device = "cuda" if offload else "cpu"
        budget, split = self._policy_budget()
        image_tokens = (budget or 1024) + (per_tile(self._mmproj_meta) if split else 0)
        answer = int(setting(self.settings, "max_new_tokens", DEFAULT_MAX_NEW_TOKENS))
        need = image_tokens + answer + CONVERSATION_TOKENS
        return -(-need // 256) * 256

    def _ensure_mtmd(self) -> None:
        """(Re)create the vision context when the preset's image budget changed."""
        budget, _split = self._policy_budget()
        if self._mtmd is not None and budget == self._mtmd_budget:
            return
        import llama_cpp
        from llama_cpp import mtmd_cpp

        self._free_mtmd()
        params = mtmd_cpp.mtmd_context_params_default()
        params.use_gpu = self.device == "cuda"
        params.print_timings = False
        params.n_threads = self._threads()
        params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
        params.warmup = False
        if budget:
            params.image_max_tokens = int(budget)
        counter = [0]

        def on_node(_tensor: int, ask: bool, _data: int) -> bool:
            if ask:  # ask to look after every few nodes: those are the cancel checkpoints
                counter[0] += 1
                return counter[0] % CANCEL_EVERY_NODES == 0 or self._cancelled()
            if self._cancelled():
                self.graph_stops += 1
                return False  # stops the graph
            return True

        callback = llama_cpp.ggml_backend_sched_eval_callback(on_node)
        self._eval_callback = callback  # must outlive the vision context
        params.cb_eval = callback
        params.cb_eval_user_data = None
        ctx = mtmd_cpp.mtmd_init_from_file(str(self.mmproj_path).encode(), self._llama.model, params)
        if not ctx:
            raise ModelLoadError(
                f"The vision file {self.mmproj_path.name} could not be loaded or does not match {self.model_path.name}."
            )
        if not mtmd_cpp.mtmd_support_vision(ctx):
            mtmd_cpp.mtmd_free(ctx)
            raise ModelLoadError(f"The file {self.mmproj_path.name} cannot read pictures.")
        self._mtmd, self._mtmd_budget = ctx, budget
        self._cache = []  # another budget means other image tokens

    def _free_mtmd(self) -> None:
        if self._mtmd is not None:
            from llama_cpp import mtmd_cpp

            mtmd_cpp.mtmd_free(self._mtmd)
            self._mtmd = None

    def unload(self) -> None:
        active = self._active
        if active is not None:
            active.cancel()
        with self._lock:
            self._free_mtmd()
            self._vision = None
            if self._llama is not None:
                self._llama.close()
                self._llama = None
            self._cache = []
            self._abort_installed = False
            gc.collect()

    def _cancelled(self) -> bool:
        active = self._active
        return active is not None and active.cancelled

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
        with self._lock:
            if self._llama is not None and self._context_size(self.device == "cuda") > self._n_ctx:
                self.unload()  # a preset with a bigger picture was chosen: make room (a reload, not a crash)
                self.load()
            if self._llama is None or cancel.cancelled:
                return
            self._active = cancel
            try:
                if self._vision is None or self._split():
                    self._ensure_mtmd()
                self._generate(conversation, cancel, on_text, stats, start, max_new_tokens, min_new_tokens)
            finally:
                self._active = None

    def _generate(
        self,
        conversation: Conversation,
        cancel: CancelToken,
        on_text: TextCallback,
        stats: GenerationStats,
        start: float,
        max_new_tokens: int | None,
        min_new_tokens: int | None,
    ) -> None:
        from .transformers_engine import setting

        units, chunks = self._tokenize(conversation)
        try:
            stats.input_tokens = sum(u.n_pos for u in units)
            if stats.input_tokens + 8 > self._n_ctx:
                raise BadInputError("This conversation is too long for the model; describe the picture again to start afresh.")
            if not self._prefill(units, chunks, cancel):
                return
        finally:
            self._free_chunks(chunks)
        limit = max(int(max_new_tokens or setting(self.settings, "max_new_tokens", DEFAULT_MAX_NEW_TOKENS)), 1)
        floor = int(min_new_tokens or 0)
        limit = max(limit, floor)
        self._decode_loop(cancel, on_text, stats, start, limit, floor)

    def _split(self) -> bool:
        return image_policy(self.device, _preset(self.settings)).split

    # The prompt, as units for the cache and chunks for evaluation: ("text", tokens),
    # ("image", an mtmd chunk) or ("pixels", a picture for the torch encoder).
    def _tokenize(self, conversation: Conversation) -> tuple[list[_Unit], list[tuple[str, Any]]]:
        from llama_cpp import mtmd_cpp

        policy = image_policy(self.device, str(_preset(self.settings)))
        image = fit_image(conversation.image, policy.max_edge)
        prompt = self._render(conversation)
        if self._vision is not None and not policy.split:
            return self._tokenize_hybrid(image, prompt)
        raw = image.tobytes()
        digest = hashlib.blake2b(raw, digest_size=16)
        digest.update(repr((image.size, self._mtmd_budget)).encode())
        image_id = digest.hexdigest()
        bitmap = mtmd_cpp.mtmd_bitmap_init(image.width, image.height, (ctypes.c_uint8 * len(raw)).from_buffer_copy(raw))
        if not bitmap:
            raise InternalError("The picture could not be prepared for the description model.")
        chunks_p = mtmd_cpp.mtmd_input_chunks_init()
        try:
            text = mtmd_cpp.mtmd_input_text()
            encoded = prompt.encode("utf-8")
            text.text, text.text_len, text.add_special, text.parse_special = encoded, len(encoded), True, True
            bitmaps = (mtmd_cpp.mtmd_bitmap_p_ctypes * 1)(bitmap)
            result = mtmd_cpp.mtmd_tokenize(self._mtmd, chunks_p, ctypes.byref(text), bitmaps, 1)
            if result != 0:
                raise InternalError("The picture could not be prepared for the description model.", detail=f"mtmd_tokenize {result}")
            return self._select(chunks_p, image_id, policy.split)
        finally:
            mtmd_cpp.mtmd_bitmap_free(bitmap)
            mtmd_cpp.mtmd_input_chunks_free(chunks_p)

    def _tokenize_hybrid(self, image: Any, prompt: str) -> tuple[list[_Unit], list[tuple[str, Any]]]:
        """The one-tile prompt without mtmd: text tokens around the torch encoder's embeddings."""
        from llama_cpp import mtmd_cpp

        try:
            before, after = overview_layout(self._llama, prompt, mtmd_cpp.mtmd_default_marker().decode("utf-8"))
        except ValueError as exc:  # the template placed no picture, or two
            raise InternalError("The picture could not be prepared for the description model.", detail=repr(exc)) from None
        digest = hashlib.blake2b(image.tobytes(), digest_size=16)
        digest.update(repr((image.size, "torch", self._vision.image_size)).encode())
        units = [_Unit(("t", t), 1) for t in before]
        units.append(_Unit(("i", digest.hexdigest(), 0), self._vision.n_tokens))
        units.extend(_Unit(("t", t), 1) for t in after)
        return units, [("text", before), ("pixels", image), ("text", after)]

    def _select(self, chunks_p: Any, image_id: str, split: bool) -> tuple[list[_Unit], list[tuple[str, Any]]]:
        """Copy the chunks to evaluate; without splitting, keep only an Idefics3 picture's overview tile.

        llama.cpp lays out an Idefics3 picture like transformers' split mode: [... <fake><row_1_col_1>] [slice]
        ... [\n\n<fake><global-img>] [overview] [<fake> rest of the prompt]. Dropping the slices and their
        markers leaves exactly the one-tile prompt transformers builds without splitting (64 image tokens
        for SmolVLM-256M instead of 128, so about half the vision encoder's time).
        """
        from llama_cpp import mtmd_cpp

        n = mtmd_cpp.mtmd_input_chunks_size(chunks_p)
        kinds = [mtmd_cpp.mtmd_input_chunk_get_type(mtmd_cpp.mtmd_input_chunks_get(chunks_p, i)) for i in range(n)]
        images = [i for i, kind in enumerate(kinds) if kind != mtmd_cpp.MTMD_INPUT_CHUNK_TYPE_TEXT]
        overview_only = not split and len(images) > 1 and self._mmproj_meta.get("clip.projector_type") == "idefics3"
        fake = self._special_token("<fake_token_around_image>") if overview_only else None
        units: list[_Unit] = []
        chunks: list[tuple[str, Any]] = []
        for i in range(n):
            chunk = mtmd_cpp.mtmd_input_chunks_get(chunks_p, i)
            if kinds[i] == mtmd_cpp.MTMD_INPUT_CHUNK_TYPE_TEXT:
                count = ctypes.c_size_t()
                ptr = mtmd_cpp.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(count))
                tokens = [int(ptr[j]) for j in range(count.value)]
                if overview_only and fake is not None and fake in tokens:
                    last = len(tokens) - 1 - tokens[::-1].index(fake)
                    if i < images[0]:  # the prompt, then the first slice's markers: keep the prompt
                        tokens = tokens[:last]
                    elif i < images[-1]:  # between slices and overview: keep <fake><global-img>
                        tokens = tokens[last:] if i == images[-1] - 1 else []
                if tokens:
                    units.extend(_Unit(("t", t), 1) for t in tokens)
                    chunks.append(("text", tokens))
            else:
                if overview_only and i != images[-1]:
                    continue
                n_pos = int(mtmd_cpp.mtmd_input_chunk_get_n_pos(chunk))
                units.append(_Unit(("i", image_id, images.index(i)), n_pos))
                chunks.append(("image", mtmd_cpp.mtmd_input_chunk_copy(chunk)))
        return units, chunks

    def _special_token(self, text: str) -> int | None:
        tokens = self._llama.tokenize(text.encode(), add_bos=False, special=True)
        return int(tokens[0]) if len(tokens) == 1 else None

    @staticmethod
    def _free_chunks(chunks: list[tuple[str, Any]]) -> None:
        from llama_cpp import mtmd_cpp

        for kind, value in chunks:
            if kind == "image" and value:
                mtmd_cpp.mtmd_input_chunk_free(value)
        chunks.clear()

    def _render(self, conversation: Conversation) -> str:
        """The model's own chat template, with mtmd's marker where the picture goes."""
        from llama_cpp import mtmd_cpp

        template = self._llama.metadata.get("tokenizer.chat_template")
        if not isinstance(template, str) or not template:
            raise ModelLoadError(f"The model {self.model_name} has no chat template, so Iris cannot talk to it.")
        marker = mtmd_cpp.mtmd_default_marker().decode("utf-8")
        messages = build_messages(conversation)
        for message in messages:
            message["content"] = [
                {"type": "text", "text": marker} if part.get("type") == "image" else part for part in message["content"]
            ]
        return render_template(template, messages, self._llama)

    def _prefill(self, units: list[_Unit], chunks: list[tuple[str, Any]], cancel: CancelToken) -> bool:
        """Evaluate what the cache lacks; False when cancelled. Only the uncached tail is computed."""
        import llama_cpp
        from llama_cpp import mtmd_cpp

        llama = self._llama
        keep = 0
        while keep < len(self._cache) and keep < len(units) and self._cache[keep].key == units[keep].key:
            keep += 1
        if keep == len(units):  # something must be evaluated to get the next token's logits
            keep -= 1
        kept_pos = sum(u.n_pos for u in units[:keep])
        llama._ctx.kv_cache_seq_rm(0, kept_pos, -1)
        llama.n_tokens = kept_pos
        self._cache = units[:keep]
        self._set_abort(True)
        try:
            index = 0
            for kind, value in chunks:
                size = len(value) if kind == "text" else 1
                if index + size <= keep:
                    index += size
                    continue
                if cancel.cancelled:
                    return False
                if kind == "text":
                    skip = max(0, keep - index)
                    tokens = value[skip:]
                    llama.eval(tokens)
                    self._cache.extend(units[index + skip : index + size])
                elif kind == "pixels":
                    embeddings = self._vision.encode(value, lambda: cancel.cancelled)
                    if embeddings is None or cancel.cancelled:
                        return False
                    decode_embeddings(llama, embeddings)
                    self._cache.append(units[index])
                else:
                    if mtmd_cpp.mtmd_encode_chunk(self._mtmd, value) != 0:
                        raise InternalError("The description model could not read the picture.")
                    if cancel.cancelled:
                        return False
                    embd = mtmd_cpp.mtmd_get_output_embd(self._mtmd)
                    new_pos = llama_cpp.llama_pos(0)
                    result = mtmd_cpp.mtmd_helper_decode_image_chunk(
                        self._mtmd, llama._ctx.ctx, value, embd, llama.n_tokens, 0, llama.n_batch,
                        ctypes.byref(new_pos), mtmd_cpp.mtmd_helper_post_decode_callback(), None,
                    )
                    if result != 0:
                        if cancel.cancelled:
                            return False
                        raise InternalError("The description model could not read the picture.", detail=f"decode {result}")
                    llama.n_tokens = int(new_pos.value)
                    self._cache.append(units[index])
                index += size
        except RuntimeError as exc:  # llama_decode failed or was aborted
            if cancel.cancelled:
                return False
            raise _generation_error(exc) from None
        finally:
            self._set_abort(False)
        return not cancel.cancelled

    def _set_abort(self, on: bool) -> None:
        """llama.cpp's abort callback, only while prefilling (it runs once per graph node)."""
        import llama_cpp

        if on == self._abort_installed:
            return
        if on:
            if self._abort_callback is None:
                self._abort_callback = llama_cpp.ggml_abort_callback(lambda _data: self._cancelled())
            llama_cpp.llama_set_abort_callback(self._llama._ctx.ctx, self._abort_callback, None)
        else:
            llama_cpp.llama_set_abort_callback(self._llama._ctx.ctx, llama_cpp.ggml_abort_callback(), None)
        self._abort_installed = on

    def _decode_loop(
        self, cancel: CancelToken, on_text: TextCallback, stats: GenerationStats, start: float, limit: int, floor: int
    ) -> None:
        import llama_cpp
        import numpy as np

        llama = self._llama
        vocab = llama_cpp.llama_model_get_vocab(llama.model)
        n_vocab = llama.n_vocab()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        for produced in range(limit):
            if cancel.cancelled:
                return
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llama._ctx.ctx, -1), shape=(n_vocab,))
            for processor in self.logits_processors:
                processor(produced, logits)
            token = int(np.argmax(logits))
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                if produced >= floor:
                    break
                masked = logits.copy()
                while llama_cpp.llama_vocab_is_eog(vocab, token):
                    masked[token] = -np.inf
                    token = int(np.argmax(masked))
            if stats.first_token_s is None:
                stats.first_token_s = time.perf_counter() - start
            stats.output_tokens += 1
            if llama.n_tokens + 1 >= self._n_ctx:
                break
            try:
                llama.eval([token])
            except RuntimeError as exc:
                raise _generation_error(exc) from None
            self._cache.append(_Unit(("t", token), 1))
            piece = decoder.decode(llama.detokenize([token], special=False))
            if piece and not cancel.cancelled:
                on_text(piece)
        tail = decoder.decode(b"", final=True)
        if tail and not cancel.cancelled:
            on_text(tail)


def _preset(settings: Any) -> str:
    from .transformers_engine import setting

    return str(setting(settings, "preset", "fast"))


def _generation_error(exc: BaseException) -> IrisError:
    text = str(exc).lower()
    if "memory" in text or "alloc" in text:
        return OutOfMemoryError("The computer ran out of memory. Try a smaller image or a smaller model.", detail=repr(exc))
    return InternalError("The description model failed while answering.", detail=f"{type(exc).__name__}: {exc}")

