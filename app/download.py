"""``iris models download``: fetch a catalogue model into ``models_dir()/<name>``.

huggingface_hub's ``snapshot_download`` does the work at the pinned revision,
fetching only safetensors weights and json/tokenizer files (never pickle
weights or ONNX/GGUF extras). A GGUF entry (for the llama.cpp engine) fetches
exactly its two listed files, the text model and its mmproj, with the same
progress bar. An interrupted download resumes where it
stopped: the hub keeps partial files under ``<dest>/.cache``. A marker file
records whether the folder is complete, so a half-downloaded model is never
mistaken for an installed one.

Progress is measured as bytes on disk (finished files plus partial ones)
against the listed file sizes, so it works whatever progress bars the
installed huggingface_hub version draws.
"""

from __future__ import annotations

import errno
import json
import threading
import time
from pathlib import Path
from typing import Any, Callable

from . import paths
from .atomic import write_text_atomic
from .catalogue import ModelEntry
from .engine.base import CancelToken
from .errors import CancelledError, ModelMissingError

ALLOW_PATTERNS = ["*.safetensors", "*.json", "*.txt", "*.model", "*.jinja", "*.tiktoken"]
MARKER = ".iris-download.json"
ProgressCallback = Callable[[int, int], None]


def model_dir(entry: ModelEntry) -> Path:
    return paths.models_dir() / entry.name


def patterns_for(entry: ModelEntry) -> list[str]:
    """The files to fetch: a GGUF entry's two files, or a transformers folder's safe files."""
    return list(entry.files) if entry.format == "gguf" else ALLOW_PATTERNS


def installed_path(entry: ModelEntry) -> Path | None:
    """The model's folder if it is complete (or was copied in by hand), else None."""
    folder = model_dir(entry)
    if entry.format == "gguf":
        if not all((folder / name).is_file() for name in entry.files):
            return None
    elif not (folder / "config.json").is_file():
        return None
    marker = folder / MARKER
    if marker.exists():
        try:
            if not json.loads(marker.read_text(encoding="utf-8")).get("complete"):
                return None
        except (OSError, ValueError):
            return None
    return folder


def download_model(
    entry: ModelEntry,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """Download (or resume) ``entry`` at its pinned revision and return its folder.

    Raises ModelMissingError with one sentence when the hub cannot be reached,
    and CancelledError when ``cancel`` is set (run again to resume).
    """
    import huggingface_hub

    dest = model_dir(entry)
    if installed_path(entry) is not None and _marker(dest).get("revision") == entry.revision:
        return dest
    files = _remote_files(entry, huggingface_hub)
    total = sum(files.values())
    dest.mkdir(parents=True, exist_ok=True)
    _write_marker(dest, entry, complete=False)
    meter = _Meter(dest, files, total, progress, cancel)
    meter.report(force=True)
    try:
        huggingface_hub.snapshot_download(
            repo_id=entry.hub_id,
            revision=entry.revision,
            local_dir=str(dest),
            allow_patterns=patterns_for(entry),
            tqdm_class=meter.tqdm_class(),  # type: ignore[no-untyped-call]
        )
    except _Stop:
        raise CancelledError("Download stopped. Run the same command again to resume it.") from None
    except Exception as exc:  # noqa: BLE001 - every failure becomes one sentence
        if cancel is not None and cancel.cancelled:
            raise CancelledError("Download stopped. Run the same command again to resume it.") from None
        raise _download_error(entry, exc) from None
    missing = [name for name, size in files.items() if not _complete(dest / name, size)]
    if missing:
        raise ModelMissingError(
            f"The download of {entry.name} is incomplete; run iris models download {entry.name} again to resume it.",
            detail=f"missing or short: {missing}",
        )
    _write_marker(dest, entry, complete=True)
    meter.report(force=True, done=total)
    return dest


def _remote_files(entry: ModelEntry, hub: Any) -> dict[str, int]:
    """File name -> size for the files we want at the pinned revision (also checks the network)."""
    from huggingface_hub.utils import filter_repo_objects  # type: ignore[attr-defined]

    try:
        info = hub.HfApi().model_info(entry.hub_id, revision=entry.revision, files_metadata=True)
    except Exception as exc:  # noqa: BLE001
        raise _download_error(entry, exc) from None
    siblings = list(info.siblings or [])
    wanted = set(filter_repo_objects([s.rfilename for s in siblings], allow_patterns=patterns_for(entry)))
    if entry.format == "gguf" and not set(entry.files) <= wanted:
        raise ModelMissingError(
            f"The model hub has no {', '.join(sorted(set(entry.files) - wanted))} in {entry.hub_id}; "
            "the catalogue entry may be out of date."
        )
    return {s.rfilename: int(s.size or 0) for s in siblings if s.rfilename in wanted}


def _download_error(entry: ModelEntry, exc: BaseException) -> ModelMissingError:
    from huggingface_hub import errors as hub_errors

    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, (hub_errors.RepositoryNotFoundError, hub_errors.RevisionNotFoundError)):
        return ModelMissingError(
            f"The model hub has no {entry.hub_id} at revision {entry.revision[:10]}; the catalogue entry may be out of date.",
            detail=detail,
        )
    if isinstance(exc, hub_errors.GatedRepoError):
        return ModelMissingError(f"The model hub only gives {entry.hub_id} to signed-in users who accepted its terms.", detail=detail)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return ModelMissingError(
            f"There is not enough free disk space for {entry.name}, which needs about {entry.size_mb} MB.", detail=detail
        )
    offline = isinstance(exc, hub_errors.OfflineModeIsEnabled)
    why = "offline mode is on (HF_HUB_OFFLINE)" if offline else "there is no connection"
    return ModelMissingError(
        f"Iris could not reach the Hugging Face model hub to download {entry.name} because {why}; connect to the "
        f"internet and run iris models download {entry.name} again, or copy the model folder from another computer "
        "and start Iris with --model /path/to/that/folder.",
        detail=detail,
    )


def _marker(dest: Path) -> dict[str, Any]:
    try:
        data = json.loads((dest / MARKER).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_marker(dest: Path, entry: ModelEntry, *, complete: bool) -> None:
    data = {"name": entry.name, "hub_id": entry.hub_id, "revision": entry.revision, "complete": complete}
    write_text_atomic(dest / MARKER, json.dumps(data, indent=2) + "\n")


def _complete(path: Path, size: int) -> bool:
    return path.is_file() and (size <= 0 or path.stat().st_size == size)


class _Stop(Exception):
    """Raised from a progress update to abandon a cancelled download."""


class _Meter:
    """Reports bytes on disk and enforces cancellation from inside the hub's progress updates."""

    INTERVAL = 0.2

    def __init__(self, dest: Path, files: dict[str, int], total: int, progress: ProgressCallback | None,
                 cancel: CancelToken | None) -> None:
        self.dest, self.files, self.total = dest, files, total
        self.progress, self.cancel = progress, cancel
        self._last = 0.0
        self._lock = threading.Lock()

    def done_bytes(self) -> int:
        done = 0
        for name, size in self.files.items():
            path = self.dest / name
            if path.is_file():
                done += path.stat().st_size if size <= 0 else min(size, path.stat().st_size)
        partial_root = self.dest / ".cache" / "huggingface"
        if partial_root.is_dir():
            done += sum(p.stat().st_size for p in partial_root.rglob("*.incomplete") if p.is_file())
        return min(done, self.total) if self.total else done

    def report(self, *, force: bool = False, done: int | None = None) -> None:
        if self.cancel is not None and self.cancel.cancelled:
            raise _Stop()
        if self.progress is None:
            return
        with self._lock:
            now = time.monotonic()
            if not force and now - self._last < self.INTERVAL:
                return
            self._last = now
        self.progress(self.done_bytes() if done is None else done, self.total)

    def tqdm_class(self) -> Any:
        from tqdm.auto import tqdm  # type: ignore[import-untyped]

        meter = self

        class Progress(tqdm):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                kwargs.pop("name", None)
                kwargs["disable"] = True
                super().__init__(*args, **kwargs)

            def update(self, n: float | None = 1) -> Any:
                meter.report()
                return super().update(n)

            def __iter__(self) -> Any:
                for item in super().__iter__():
                    meter.report()
                    yield item

        return Progress
