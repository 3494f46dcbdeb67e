"""The OCR language setting: 'auto' (the system locale's language) or ISO 639-1 codes like 'de' or 'de+en'.

Engines that need a language (tesseract's traineddata, Windows' recogniser,
Apple's Vision) get the list, most likely first; English is added last when
the setting does not name it, since menus and error codes are often English.
"""

from __future__ import annotations

import locale
import os
import re

#: ISO 639-1 -> tesseract traineddata names (the languages Iris users are likeliest to have).
TESSERACT_CODES = {
    "en": "eng", "de": "deu", "fr": "fra", "es": "spa", "it": "ita", "pt": "por", "nl": "nld", "sv": "swe",
    "da": "dan", "no": "nor", "nb": "nor", "fi": "fin", "pl": "pol", "cs": "ces", "sk": "slk", "hu": "hun",
    "ro": "ron", "tr": "tur", "el": "ell", "ru": "rus", "uk": "ukr", "bg": "bul", "hr": "hrv", "sl": "slv",
    "ca": "cat", "eu": "eus", "gl": "glg", "ga": "gle", "cy": "cym", "is": "isl", "et": "est", "lv": "lav",
    "lt": "lit", "ja": "jpn", "zh": "chi_sim", "ko": "kor", "ar": "ara", "he": "heb", "hi": "hin", "vi": "vie",
}


def system_language() -> str:
    """The two-letter language of the user's locale ('en' when it cannot be told)."""
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = os.environ.get(variable, "")
        if value and value not in ("C", "POSIX") and not value.startswith("C."):
            return _two_letters(value) or "en"
    try:
        name = locale.getlocale()[0] or ""
    except ValueError:
        name = ""
    return _two_letters(name) or "en"


#: Windows' locale names ("German_Germany") for the commonest languages.
WINDOWS_NAMES = {"english": "en", "german": "de", "french": "fr", "spanish": "es", "italian": "it",
                 "portuguese": "pt", "dutch": "nl", "swedish": "sv", "danish": "da", "norwegian": "no",
                 "finnish": "fi", "polish": "pl", "czech": "cs", "russian": "ru", "turkish": "tr"}


def _two_letters(name: str) -> str:
    first = re.split(r"[_.@-]", name, maxsplit=1)[0].lower()
    if first in WINDOWS_NAMES:
        return WINDOWS_NAMES[first]
    return first if re.fullmatch(r"[a-z]{2,3}", first) else ""


def resolve(setting: str | None) -> list[str]:
    """The languages to read, most likely first: the setting ('auto' = the locale's), then English."""
    value = (setting or "auto").strip().lower()
    codes = [system_language()] if value in ("", "auto") else [c.strip() for c in re.split(r"[+,\s]+", value)]
    codes = [c for c in codes if c]
    if "en" not in codes:
        codes.append("en")
    return list(dict.fromkeys(codes))


def tesseract_codes(languages: list[str], installed: set[str]) -> list[str]:
    """Tesseract's names for ``languages`` that are installed (a traineddata name passes through)."""
    out = []
    for code in languages:
        name = TESSERACT_CODES.get(code, code)
        if name in installed and name not in out:
            out.append(name)
    return out
