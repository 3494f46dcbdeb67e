"""Model faults: CUDA out of memory (load and generation), broken model folders, an interrupted
download that resumes. Each ends in one sentence (shown and spoken) or a working answer, never a crash.

There is no graphics card here, so CUDA is simulated at its edges: ``cuda_available``
says yes and ``from_pretrained`` (or an engine double) raises torch's own
``torch.cuda.OutOfMemoryError``; everything between -- the real loader, the
real TransformersEngine on the tiny model, the pipeline -- runs for real.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from app.catalogue import default_entry
from app.engine import loading
from app.engine.base import VisionEngine
from app.engine.loading import CPU_FALLBACK_MESSAGE, create_engine
from app.errors import ModelLoadError, ModelMissingError, OutOfMemoryError
from tests.reliability.conftest import TINY_SETTINGS, assert_one_sentence

REPO = Path(__file__).resolve().parents[2]
PICTURE = Image.new("RGB", (320, 240), (30, 120, 200))


def cuda_oom() -> BaseException:
    import torch

    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.50 GiB (GPU 0; 3.81 GiB total)")


@pytest.fixture
def fake_cuda(monkeypatch):
    """A machine that reports a CUDA card (whose memory is full, as each test arranges)."""
    import torch

    monkeypatch.setattr(loading, "cuda_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)


def describe(rig):
    return rig.run(lambda cancel: rig.assistant.describe(PICTURE, cancel=cancel), timeout=120)


# ------------------------------------------------------------ CUDA out of memory
def test_cuda_oom_while_loading_retries_on_the_cpu_and_says_so(make_rig, tiny_model_dir, fake_cuda, monkeypatch):
    import transformers

    real = transformers.AutoModelForImageTextToText.from_pretrained.__func__
    devices: list[str] = []

    def from_pretrained(cls, path, **kwargs):
        devices.append(kwargs.get("device_map"))
        if kwargs.get("device_map") == "cuda":
            raise cuda_oom()
        return real(cls, path, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", classmethod(from_pretrained))
    engine = create_engine(str(tiny_model_dir), "cuda", TINY_SETTINGS)
    rig = make_rig(engine, settings={"max_new_tokens": 16})
    box = describe(rig)
    assert "error" not in box, box.get("error") and box["error"].message
    answer = box["result"]
    assert answer.device == "cpu" and answer.output_tokens > 0
    assert devices[0] == "cuda" and devices[-1] == "cpu" and engine.fell_back_to_cpu
    # Said once, shown and spoken, before the answer.
    shown = [m.text for m in rig.shown]
    assert shown.count(CPU_FALLBACK_MESSAGE) == 1
    spoken = rig.spoken()
    first_answer_piece = next(i for i, s in enumerate(spoken) if s != CPU_FALLBACK_MESSAGE and "Loading" not in s)
    assert spoken.index(CPU_FALLBACK_MESSAGE) < first_answer_piece
    assert "result" in describe(rig)  # and it keeps working, without saying it again
    assert [m.text for m in rig.shown].count(CPU_FALLBACK_MESSAGE) == 1


class OomOnCuda(VisionEngine):
    """A CUDA engine double whose generation runs out of graphics memory ``after`` pieces in."""

    model_name = "tiny"
    device = "cuda"
    quantization = "nf4"

    def __init__(self, path: Path, after: int, times: int) -> None:
        super().__init__()
        self.model_path, self.after, self.times = path, after, times
        self.loaded = False

    @property
    def is_loaded(self) -> bool:
        return self.loaded

    def load(self, status=None) -> None:
        self.loaded = True

    def unload(self) -> None:
        self.loaded = False

    def stream(self, conversation, cancel=None, *, max_new_tokens=None, min_new_tokens=None):
        from app.engine.transformers_engine import _generation_error

        self.load()
        for n in range(self.after):
            yield f"Piece {n}. "
        if self.times > 0:
            self.times -= 1
            raise _generation_error("cuda", cuda_oom())  # what the real engine raises for torch's error
        yield "Done."


def oom_factory(after: int, times: int = 1):
    built: list[VisionEngine] = []

    def factory(path, device, settings, name):
        if device == "cuda":
            engine: VisionEngine = OomOnCuda(path, after, times)
        else:
            from app.engine.transformers_engine import TransformersEngine

            engine = TransformersEngine(path, device="cpu", settings=settings, model_name=name)
        built.append(engine)
        return engine

    return factory, built


def test_cuda_oom_before_the_first_word_retries_on_the_cpu(make_rig, tiny_model_dir, fake_cuda):
    factory, built = oom_factory(after=0)
    engine = create_engine(str(tiny_model_dir), "cuda", TINY_SETTINGS, factory=factory)
    rig = make_rig(engine, settings={"max_new_tokens": 16})
    box = describe(rig)
    assert "error" not in box, box.get("error") and box["error"].message
    assert [e.device for e in built] == ["cuda", "cpu"] and box["result"].device == "cpu"
    assert box["result"].output_tokens > 0
    assert CPU_FALLBACK_MESSAGE in rig.spoken() and [m.text for m in rig.shown].count(CPU_FALLBACK_MESSAGE) == 1


def test_cuda_oom_mid_answer_is_one_sentence_and_the_next_request_works(make_rig, tiny_model_dir, fake_cuda):
    """Words already spoken cannot be unsaid: the answer stops with one sentence; no crash."""
    factory, _built = oom_factory(after=2, times=1)
    engine = create_engine(str(tiny_model_dir), "cuda", TINY_SETTINGS, factory=factory)
    rig = make_rig(engine)
    box = describe(rig)
    error = box.get("error")
    assert isinstance(error, OutOfMemoryError)
    assert rig.errors() == [assert_one_sentence(error.message)] and error.message in rig.spoken()
    assert rig.assistant.conversation.pending_question is None  # no half-answered turn left behind
    again = describe(rig)
    assert "result" in again and again["result"].text.endswith("Done.")


def test_out_of_memory_on_the_cpu_is_one_sentence(make_rig, tiny_model_dir):
    def factory(path, device, settings, name):
        engine = OomOnCuda(path, after=0, times=5)
        engine.device = "cpu"
        return engine

    rig = make_rig(create_engine(str(tiny_model_dir), "cpu", TINY_SETTINGS, factory=factory))
    box = describe(rig)
    assert isinstance(box.get("error"), OutOfMemoryError)
    assert_one_sentence(box["error"].message)


# ---------------------------------------------------------- broken model folders
@pytest.fixture(scope="module")
def sharded_model(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model saved in several safetensors shards with an index, as large models are."""
    from transformers import AutoModelForImageTextToText

    dest = tmp_path_factory.mktemp("sharded") / "sharded-smolvlm"
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    model.save_pretrained(dest, max_shard_size="300KB")
    for item in tiny_model_dir.iterdir():
        if item.is_file() and not item.name.startswith("model") and not (dest / item.name).exists():
            shutil.copy(item, dest / item.name)
    assert (dest / "model.safetensors.index.json").exists()
    return dest


def broken(kind: str, good: Path, dest: Path) -> Path:
    shutil.copytree(good, dest)
    shards = sorted(dest.glob("model*.safetensors"))
    config = dest / "config.json"
    if kind == "missing_shard":
        shards[-1].unlink()
    elif kind == "truncated_shard":
        data = shards[0].read_bytes()
        shards[0].write_bytes(data[: len(data) // 2])
    elif kind == "overwritten_header":
        with shards[0].open("r+b") as fh:
            fh.write(b"\xff" * 64)
    elif kind == "zero_byte_shard":
        shards[1].write_bytes(b"")
    elif kind == "damaged_index":
        (dest / "model.safetensors.index.json").write_text("{ not json")
    elif kind == "missing_config":
        config.unlink()
    elif kind == "damaged_config":
        config.write_text('{"model_type": "idefics3", ')
    elif kind in ("wrong_model_type_text_only", "unknown_model_type"):
        data = json.loads(config.read_text())
        data["model_type"] = "llama" if kind == "wrong_model_type_text_only" else "iris_future_vlm"
        config.write_text(json.dumps(data))
    elif kind == "missing_tokenizer":
        for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json"):
            (dest / name).unlink(missing_ok=True)
    elif kind == "no_weights":
        for shard in shards:
            shard.unlink()
        (dest / "model.safetensors.index.json").unlink()
    else:  # pragma: no cover
        raise ValueError(kind)
    return dest


BROKEN = {
    "missing_shard": ModelMissingError,
    "truncated_shard": ModelLoadError,
    "overwritten_header": ModelLoadError,
    "zero_byte_shard": ModelLoadError,
    "damaged_index": ModelLoadError,
    "missing_config": ModelMissingError,
    "damaged_config": ModelLoadError,
    "wrong_model_type_text_only": ModelLoadError,
    "unknown_model_type": ModelLoadError,
    "missing_tokenizer": ModelMissingError,
    "no_weights": ModelMissingError,
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_model_folder_is_one_sentence_and_iris_keeps_working(kind, make_rig, sharded_model, tmp_path,
                                                                   tiny_engine):
    folder = broken(kind, sharded_model, tmp_path / "model")
    rig = make_rig(create_engine(str(folder), "cpu", TINY_SETTINGS))
    box = describe(rig)
    error = box.get("error")
    assert type(error) is BROKEN[kind], f"{type(error).__name__}: {getattr(error, 'message', error)}"
    assert rig.errors() == [assert_one_sentence(error.message)] and error.message in rig.spoken()
    # The user installs a good model: the same assistant works.
    rig.assistant.engine = tiny_engine
    assert "result" in describe(rig)


def test_the_intact_sharded_model_loads(make_rig, sharded_model):
    """The control for the broken-folder cases: the same folder, unbroken, answers."""
    rig = make_rig(create_engine(str(sharded_model), "cpu", TINY_SETTINGS), settings={"max_new_tokens": 16})
    box = describe(rig)
    assert "result" in box and box["result"].output_tokens > 0


@pytest.mark.parametrize("kind,code", [("truncated_shard", 3), ("missing_shard", 3), ("wrong_model_type_text_only", 3)])
def test_cli_broken_model_is_exit_3_and_one_line(kind, code, sharded_model, tmp_path, photo_path):
    folder = broken(kind, sharded_model, tmp_path / "model")
    result = subprocess.run([sys.executable, "-m", "app", "describe", str(photo_path), "--model", str(folder),
                             "--no-speak"], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, IRIS_DEBUG=""))
    if BROKEN[kind] is ModelMissingError and result.returncode == 0:
        # A missing model (not a damaged one): Iris reads the picture's text instead and says
        # what is missing, as for the screen (issue 11).
        assert "Traceback" not in result.stderr and result.stdout.strip()
        assert "Until then, here is the text Iris can read." in result.stderr
        return
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.startswith("iris: ")]
    assert len(lines) == 1, result.stderr  # status lines aside, one error line
    assert_one_sentence(lines[0][6:])


# ------------------------------------------------------ interrupted download
class FakeHub:
    """The model hub over a local folder: the first transfer dies half-way through the
    weights, the second resumes from the partial file the first left behind."""

    def __init__(self, source: Path, fail_times: int = 1) -> None:
        self.source = source
        self.fail_times = fail_times
        self.calls: list[dict] = []
        self.resumed_from: list[int] = []

    def files(self) -> dict[str, int]:
        return {p.name: p.stat().st_size for p in self.source.iterdir() if p.is_file()}

    def model_info(self, repo_id, revision=None, files_metadata=False, **kwargs):
        siblings = [SimpleNamespace(rfilename=n, size=s) for n, s in self.files().items()]
        siblings.append(SimpleNamespace(rfilename="pytorch_model.bin", size=1234))  # never to be fetched
        return SimpleNamespace(siblings=siblings)

    def snapshot_download(self, repo_id, *, revision, local_dir, allow_patterns, tqdm_class, **kwargs):
        from huggingface_hub.utils import filter_repo_objects

        self.calls.append({"repo_id": repo_id, "revision": revision, "allow_patterns": list(allow_patterns)})
        names = list(filter_repo_objects(sorted(self.files()), allow_patterns=allow_patterns))
        assert "pytorch_model.bin" not in names
        partial_dir = Path(local_dir) / ".cache" / "huggingface" / "download"
        partial_dir.mkdir(parents=True, exist_ok=True)
        bar = tqdm_class(total=sum(self.files()[n] for n in names), unit="B")
        for name in sorted(names, key=lambda n: n.endswith(".safetensors")):  # weights last
            target = Path(local_dir) / name
            if target.exists():
                continue
            data = (self.source / name).read_bytes()
            partial = partial_dir / f"{name}.incomplete"
            start = partial.stat().st_size if partial.exists() else 0
            if start:
                self.resumed_from.append(start)
            with partial.open("ab") as fh:
                end = len(data) // 2 if (self.fail_times and name.endswith(".safetensors")) else len(data)
                for offset in range(start, end, 50_000):
                    chunk = data[offset:min(end, offset + 50_000)]
                    fh.write(chunk)
                    fh.flush()
                    bar.update(len(chunk))
            if end < len(data):
                self.fail_times -= 1
                raise ConnectionResetError(104, "Connection reset by peer")
            os.replace(partial, target)
        bar.close()
        return str(local_dir)


def installed_or_partial(entry):
    from app.download import model_dir

    return model_dir(entry).rglob("*.incomplete")


def test_interrupted_download_is_a_sentence_then_resumes_and_the_model_works(tiny_model_dir, monkeypatch, make_rig):
    import huggingface_hub

    from app.download import download_model, installed_path

    hub = FakeHub(tiny_model_dir)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", hub.model_info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub.snapshot_download)
    monkeypatch.setattr(loading, "cuda_available", lambda: False)
    entry = default_entry("cpu")
    progress: list[tuple[int, int]] = []

    with pytest.raises(ModelMissingError) as info:
        download_model(entry, progress=lambda done, total: progress.append((done, total)))
    assert_one_sentence(info.value.message, limit=600)
    assert len(hub.calls) == 1 and list(installed_or_partial(entry))  # it died mid-transfer
    # Half a model is never taken for an installed one.
    assert installed_path(entry) is None
    rig = make_rig(create_engine("auto", "cpu", TINY_SETTINGS))
    first = describe(rig)
    assert isinstance(first.get("error"), ModelMissingError)
    assert_one_sentence(first["error"].message)

    path = download_model(entry, progress=lambda done, total: progress.append((done, total)))
    assert hub.resumed_from and hub.resumed_from[0] > 0  # continued, not restarted
    assert installed_path(entry) == path
    assert all(c["revision"] == entry.revision and len(entry.revision) == 40 for c in hub.calls)
    done = [d for d, _ in progress]
    assert progress[-1][0] == progress[-1][1] > 0 and max(done) <= progress[-1][1]
    assert not (path / ".cache" / "huggingface" / "download").exists() or not list(
        (path / ".cache" / "huggingface" / "download").glob("*.incomplete"))
    # The resumed download is the real model: it loads and answers.
    rig.assistant.engine = create_engine("auto", "cpu", {**TINY_SETTINGS, "max_new_tokens": 16})
    box = describe(rig)
    assert "result" in box and box["result"].output_tokens > 0 and box["result"].model == entry.name
