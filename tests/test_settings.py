"""Settings: one schema, validated on load and set, safe against corrupt or unwritable files."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from app.settings import SCHEMA, SCHEMA_BY_KEY, Settings, defaults


def _load(path: Path) -> tuple[Settings, list[str]]:
    messages: list[str] = []
    return Settings.load(path, on_message=messages.append), messages


def test_every_default_passes_its_own_validation_and_keys_are_unique():
    assert len(SCHEMA_BY_KEY) == len(SCHEMA)
    for spec in SCHEMA:
        assert spec.validate(spec.default) == spec.default, spec.key
        assert spec.description.strip(), spec.key


def test_defaults_without_a_file_and_nothing_is_written(tmp_path):
    path = tmp_path / "settings.json"
    store, messages = _load(path)
    assert store.as_dict() == defaults()
    assert messages == []
    assert not path.exists()


def test_default_location_is_under_iris_home(iris_home):
    store = Settings.load()
    assert Path(store.path).is_relative_to(iris_home)


@pytest.mark.parametrize(
    "key, bad",
    [
        ("max_new_tokens", 15),
        ("max_new_tokens", 2049),
        ("max_new_tokens", 12.5),
        ("max_new_tokens", True),
        ("max_new_tokens", "100"),
        ("rate", 79),
        ("rate", 501),
        ("volume", -0.1),
        ("volume", 1.01),
        ("volume", "loud"),
        ("device", "gpu"),
        ("preset", "turbo"),
        ("speak_answers", 1),
        ("voice", 3),
        ("history_limit", 0),
        ("cpu_threads", -1),
    ],
)
def test_set_rejects_values_out_of_range_or_of_the_wrong_type(tmp_path, key, bad):
    store, _ = _load(tmp_path / "settings.json")
    before = store[key]
    with pytest.raises(ValueError):
        store.set(key, bad)
    assert store[key] == before
    assert not (tmp_path / "settings.json").exists()


@pytest.mark.parametrize(
    "key, good, stored",
    [
        ("max_new_tokens", 16, 16),
        ("max_new_tokens", 2048, 2048),
        ("max_new_tokens", 64.0, 64),  # a whole float from JSON is accepted as an int
        ("rate", 80, 80),
        ("volume", 0, 0.0),
        ("volume", 1, 1.0),
        ("device", "cuda", "cuda"),
        ("speak_answers", False, False),
    ],
)
def test_set_accepts_the_edges_of_each_range(tmp_path, key, good, stored):
    store, _ = _load(tmp_path / "settings.json")
    store.set(key, good)
    assert store[key] == stored and type(store[key]) is type(stored)


def test_unknown_key_cannot_be_set(tmp_path):
    store, _ = _load(tmp_path / "settings.json")
    with pytest.raises(KeyError):
        store.set("no_such_setting", 1)


def test_round_trip_through_the_file(tmp_path):
    path = tmp_path / "deep" / "er" / "settings.json"
    store, _ = _load(path)
    store.update({"rate": 250, "volume": 0.5, "answer_language": "Français", "preset": "detailed"})
    store.set("speak_answers", False)
    again, messages = _load(path)
    assert messages == []
    assert again.as_dict() == store.as_dict()
    assert again["answer_language"] == "Français"
    assert json.loads(path.read_text(encoding="utf-8"))["values"]["rate"] == 250


def test_set_without_save_does_not_touch_the_file(tmp_path):
    path = tmp_path / "settings.json"
    store, _ = _load(path)
    store.set("rate", 300)
    store.set("rate", 120, save=False)
    assert _load(path)[0]["rate"] == 300


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2, 3]", b'{"schema_version": 1}', b'{"values": [1]}', b"\xff\xfe\x00garbage", b""],
)
def test_corrupt_file_is_backed_up_defaults_are_used_and_the_user_is_told(tmp_path, content):
    path = tmp_path / "settings.json"
    path.write_bytes(content)
    store, messages = _load(path)
    assert store.as_dict() == defaults()
    assert len(messages) == 1 and messages[0].strip()
    backups = list(tmp_path.glob("settings.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == content
    # saving afterwards writes a good file; a second corrupt file gets a new backup name
    store.set("rate", 222)
    assert _load(path)[0]["rate"] == 222
    path.write_bytes(b"{broken again")
    _load(path)
    assert len(list(tmp_path.glob("settings.json.corrupt-*"))) == 2


def test_out_of_range_values_in_the_file_are_reset_one_by_one(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema_version": 1, "values": {"rate": 9999, "volume": 0.3, "device": "tpu"}}))
    store, messages = _load(path)
    assert store["rate"] == SCHEMA_BY_KEY["rate"].default
    assert store["device"] == SCHEMA_BY_KEY["device"].default
    assert store["volume"] == 0.3  # the good value is kept
    assert len(messages) == 1
    assert "rate" in messages[0] and "device" in messages[0]
    assert not list(tmp_path.glob("*.corrupt-*"))  # a bad value is not a corrupt file


def test_unknown_keys_are_ignored(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema_version": 99, "values": {"from_the_future": [1], "rate": 200}}))
    store, messages = _load(path)
    assert messages == []
    assert store["rate"] == 200
    assert "from_the_future" not in store.as_dict()
    with pytest.raises(KeyError):
        store.get("from_the_future")


def _make_unwritable(monkeypatch, folder: Path) -> None:
    """Make ``folder`` refuse new files: chmod for a normal user; root ignores modes, so fake EACCES."""
    if os.geteuid() != 0:
        folder.chmod(0o500)
        return

    import app.atomic

    real_mkstemp = app.atomic.tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == folder:
            raise PermissionError(errno.EACCES, "Permission denied", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(app.atomic.tempfile, "mkstemp", refuse)


def test_unwritable_folder_keeps_the_old_file_and_tells_the_user(tmp_path, monkeypatch):
    folder = tmp_path / "config"
    path = folder / "settings.json"
    store, _ = _load(path)
    store.set("rate", 250)
    old = path.read_bytes()
    messages: list[str] = []
    store.on_message = messages.append
    _make_unwritable(monkeypatch, folder)
    try:
        store.set("rate", 300)  # no exception: the value applies for this session
        assert store["rate"] == 300
        assert store.save() is False
        assert len(messages) == 2 and all(m.strip() for m in messages)
        assert path.read_bytes() == old
        assert [p.name for p in folder.iterdir()] == ["settings.json"]  # no temp file left behind
    finally:
        folder.chmod(0o700)
    assert _load(path)[0]["rate"] == 250


def test_listeners_hear_changes_only(tmp_path):
    store, _ = _load(tmp_path / "settings.json")
    heard: list[tuple[str, object]] = []
    store.subscribe(lambda key, value: heard.append((key, value)))
    store.set("rate", 200)
    store.set("rate", 200)
    store.update({"volume": 0.5, "rate": 200})
    assert heard == [("rate", 200), ("volume", 0.5)]


def test_reset_restores_defaults_and_saves(tmp_path):
    path = tmp_path / "settings.json"
    store, _ = _load(path)
    store.update({"rate": 400, "voice": "en-gb"})
    store.reset()
    assert store.as_dict() == defaults()
    assert _load(path)[0].as_dict() == defaults()
