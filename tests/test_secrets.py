"""The model server's API key: environment first, then the system keyring (through the real
``keyring`` API with an in-memory backend), per host, and never in the settings file."""

from __future__ import annotations

import json

import pytest

keyring = pytest.importorskip("keyring")
from keyring.backend import KeyringBackend  # noqa: E402

from app import secrets  # noqa: E402
from app.settings import Settings  # noqa: E402


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.store.get((service, username))

    def set_password(self, service, username, password):
        self.store[(service, username)] = password

    def delete_password(self, service, username):
        if (service, username) not in self.store:
            raise keyring.errors.PasswordDeleteError("none")
        del self.store[(service, username)]


@pytest.fixture
def memory_keyring(monkeypatch):
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    monkeypatch.delenv(secrets.ENV_VAR, raising=False)
    yield backend
    keyring.set_keyring(previous)


def test_key_is_kept_per_host_in_the_keyring(memory_keyring):
    secrets.set_api_key("gpu.example.org", "k-123")
    assert secrets.get_api_key("gpu.example.org") == "k-123"
    assert secrets.get_api_key("other.example.org") is None  # never sent to another host
    secrets.set_api_key("gpu.example.org", "")
    assert secrets.get_api_key("gpu.example.org") is None


def test_environment_wins(memory_keyring, monkeypatch):
    secrets.set_api_key("gpu.example.org", "from-keyring")
    monkeypatch.setenv(secrets.ENV_VAR, "from-env")
    assert secrets.get_api_key("gpu.example.org") == "from-env"


def test_no_usable_keyring_is_one_sentence(monkeypatch):
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(secrets.KeyringUnavailable):
            secrets.set_api_key("h", "k")
        monkeypatch.delenv(secrets.ENV_VAR, raising=False)
        assert secrets.get_api_key("h") is None
    finally:
        keyring.set_keyring(previous)


def test_settings_have_no_place_for_a_key(tmp_path, memory_keyring):
    settings = Settings.load(path=tmp_path / "settings.json")
    settings.update({"server_url": "https://gpu.example.org/v1", "server_model": "m", "server_allow_remote": True})
    settings.save()
    secrets.set_api_key("gpu.example.org", "k-secret")
    assert "k-secret" not in (tmp_path / "settings.json").read_text()
    assert not any("api" in name.lower() for name in json.loads((tmp_path / "settings.json").read_text()))
