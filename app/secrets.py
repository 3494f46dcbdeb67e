"""The model server's API key: from the environment or the system keyring, never the settings file.

Settings are a plain JSON file that people copy between computers and paste
into bug reports; a key there would leak. ``IRIS_API_KEY`` wins (handy for a
one-off run and for organisations that hand out keys by script); otherwise the
system keyring (GNOME Keyring / KWallet, Windows Credential Manager, macOS
Keychain) through the optional ``keyring`` package, filed under the server's
host name so a key is only ever sent to the server it was saved for.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from .errors import IrisError

log = logging.getLogger(__name__)

ENV_VAR = "IRIS_API_KEY"
SERVICE = "iris-assistant"


class KeyringUnavailable(IrisError):
    """No usable system keyring; the sentence says what to do instead."""


def get_api_key(host: str) -> str | None:
    """The key for ``host``: ``IRIS_API_KEY`` first, then the keyring; None when there is none."""
    value = os.environ.get(ENV_VAR, "").strip()
    if value:
        return value
    keyring = _keyring()
    if keyring is None:
        return None
    try:
        stored = keyring.get_password(SERVICE, host)
    except Exception as exc:  # noqa: BLE001 - a locked or broken keyring means "no key"
        log.info("keyring lookup failed: %s", exc)
        return None
    return stored or None


def set_api_key(host: str, key: str | None) -> None:
    """Save (or, with an empty key, delete) the key for ``host`` in the system keyring."""
    keyring = _keyring()
    if keyring is None or _is_fail_backend(keyring):
        raise KeyringUnavailable(
            f"This computer has no password store Iris can use; set the environment variable {ENV_VAR} instead."
        )
    try:
        if key:
            keyring.set_password(SERVICE, host, key)
        else:
            try:
                keyring.delete_password(SERVICE, host)
            except keyring.errors.PasswordDeleteError:
                pass
    except Exception as exc:  # noqa: BLE001
        raise KeyringUnavailable(
            f"The API key could not be saved in the system password store; set {ENV_VAR} instead.", detail=repr(exc)
        ) from None


def _keyring() -> Any:
    try:
        import keyring
        import keyring.errors  # noqa: F401
    except ImportError:
        return None
    return keyring


def _is_fail_backend(keyring: Any) -> bool:
    backend = keyring.get_keyring()
    return type(backend).__module__.startswith("keyring.backends.fail")
