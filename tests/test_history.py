"""History: private on disk, bounded, clearable, and robust to corrupt or unwritable files."""

from __future__ import annotations

import json
import os
import stat

import pytest
from PIL import Image

from app import paths
from app.history import History

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


def _image(color=(200, 30, 30), size=(32, 24)) -> Image.Image:
    image = Image.new("RGB", size, color)
    image.putpixel((0, 0), (0, 0, 0))
    return image


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_directory_is_history_dir():
    history = History(enabled=True, limit=5)
    assert history.directory == paths.history_dir()


@posix_only
def test_files_are_owner_only(tmp_path):
    directory = tmp_path / "hist"
    history = History(directory, enabled=True, limit=5)
    entry = history.add(_image(), "A red square. Details.", source="file", question=None)
    assert entry is not None
    assert _mode(directory) == 0o700
    assert _mode(history.index_path) == 0o600
    image_path = history.image_path(entry)
    assert image_path is not None and image_path.suffix == ".png"
    assert _mode(image_path) == 0o600
    # An existing, too-open folder is tightened.
    os.chmod(directory, 0o755)
    history.add(_image(), "Again.", source="file")
    assert _mode(directory) == 0o700


def test_entries_round_trip_newest_first(tmp_path):
    history = History(tmp_path / "h", enabled=True, limit=10)
    first = history.add(_image((1, 2, 3)), "First answer. More.", source="screen")
    second = history.add(_image((4, 5, 6)), "Second answer.", source="camera", question="What colour?")
    reopened = History(tmp_path / "h", enabled=True, limit=10)
    entries = reopened.entries()
    assert [e.id for e in entries] == [second.id, first.id]
    assert entries[0].question == "What colour?" and entries[0].source == "camera"
    assert entries[1].first_sentence == "First answer."
    loaded = reopened.load_image(entries[0])
    assert loaded is not None and loaded.getpixel((5, 5)) == (4, 5, 6)


def test_limit_deletes_oldest_entries_and_images(tmp_path):
    history = History(tmp_path / "h", enabled=True, limit=3)
    added = [history.add(_image((i, i, i)), f"Answer {i}.", source="file") for i in range(5)]
    ids = [e.id for e in history.entries()]
    assert ids == [e.id for e in reversed(added[2:])]
    pngs = sorted(p.name for p in (tmp_path / "h").glob("*.png"))
    assert pngs == sorted(e.image for e in added[2:])
    # Lowering the limit later trims too.
    history.set_limit(1)
    assert [e.id for e in history.entries()] == [added[4].id]
    assert [p.name for p in (tmp_path / "h").glob("*.png")] == [added[4].image]


def test_clear_removes_every_file(tmp_path):
    directory = tmp_path / "h"
    history = History(directory, enabled=True, limit=10)
    for i in range(3):
        history.add(_image(), f"Answer {i}.", source="file")
    assert len(list(directory.glob("*.png"))) == 3
    assert history.clear() is True
    assert history.entries() == []
    assert list(directory.glob("*.png")) == []
    assert not history.index_path.exists()
    assert History(directory, enabled=True, limit=10).entries() == []


def test_disabled_history_writes_nothing(tmp_path):
    directory = tmp_path / "h"
    history = History(directory, enabled=False, limit=10)
    assert history.add(_image(), "Secret text on screen.", source="screen") is None
    assert not directory.exists()
    assert history.entries() == []
    history.set_enabled(True)
    assert history.add(_image(), "Now kept.", source="screen") is not None
    history.set_enabled(False)
    assert history.add(_image(), "Not kept.", source="screen") is None
    assert [e.text for e in history.entries()] == ["Now kept."]


def test_corrupt_index_is_backed_up_and_replaced(tmp_path):
    directory = tmp_path / "h"
    directory.mkdir()
    (directory / "index.json").write_text("{ not json", encoding="utf-8")
    (directory / "stale.png").write_bytes(b"old")  # an image no valid entry refers to
    messages: list[str] = []
    history = History(directory, enabled=True, limit=10, on_message=messages.append)
    assert history.entries() == []
    assert len(messages) == 1
    backups = list(directory.glob("index.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == "{ not json"
    assert json.loads(history.index_path.read_text(encoding="utf-8"))["entries"] == []
    assert not (directory / "stale.png").exists()
    assert history.add(_image(), "Works again.", source="file") is not None
    assert len(History(directory, enabled=True, limit=10).entries()) == 1


def test_index_cannot_point_outside_the_folder(tmp_path):
    directory = tmp_path / "h"
    directory.mkdir()
    outside = tmp_path / "victim.png"
    outside.write_bytes(b"keep me")
    bad = {"version": 1, "entries": [{"id": "x", "time": 1.0, "source": "s", "text": "t", "image": "../victim.png"}]}
    (directory / "index.json").write_text(json.dumps(bad), encoding="utf-8")
    messages: list[str] = []
    history = History(directory, enabled=True, limit=10, on_message=messages.append)
    assert history.entries() == [] and messages
    history.clear()
    assert outside.read_bytes() == b"keep me"


def test_read_only_folder_reports_and_keeps_going(tmp_path, monkeypatch):
    directory = tmp_path / "h"
    messages: list[str] = []
    history = History(directory, enabled=True, limit=10, on_message=messages.append)
    kept = history.add(_image(), "Kept before.", source="file")
    assert kept is not None

    # Simulate a read-only disk for every write (root ignores chmod, so patch the write).
    import app.history as history_module

    def refuse(*_args, **_kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(history_module, "write_bytes_atomic", refuse)
    monkeypatch.setattr(history_module, "write_text_atomic", refuse)
    assert history.add(_image(), "Not saved.", source="file") is None
    assert len(messages) == 1 and messages[0].endswith(".")
    assert [e.id for e in history.entries()] == [kept.id]
    assert sorted(p.name for p in directory.glob("*.png")) == [kept.image]
    monkeypatch.undo()
    assert [e.id for e in History(directory, enabled=True, limit=10).entries()] == [kept.id]


def test_disk_full_on_index_write_rolls_back(tmp_path, monkeypatch):
    directory = tmp_path / "h"
    messages: list[str] = []
    history = History(directory, enabled=True, limit=2, on_message=messages.append)
    first = history.add(_image(), "One.", source="file")
    second = history.add(_image(), "Two.", source="file")
    import app.history as history_module

    def full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(history_module, "write_text_atomic", full)
    assert history.add(_image(), "Three.", source="file") is None  # would have trimmed "One."
    assert messages and "full" in messages[0]
    assert [e.id for e in history.entries()] == [second.id, first.id]
    assert sorted(p.name for p in directory.glob("*.png")) == sorted([first.image, second.image])


@posix_only
def test_really_read_only_folder_when_not_root(tmp_path):
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root can write to read-only folders")
    directory = tmp_path / "h"
    directory.mkdir(mode=0o500)
    messages: list[str] = []
    try:
        history = History(directory, enabled=True, limit=10, on_message=messages.append)
        assert history.add(_image(), "Not saved.", source="file") is None
        assert messages
    finally:
        os.chmod(directory, 0o700)
