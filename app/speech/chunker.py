"""Split streaming text into speakable pieces so speech starts before generation ends.

The first piece is cut at the first clause boundary (comma, semicolon, colon,
dash) once it has a few words, because the silence before the first word is
what a blind user feels most; later pieces are cut at sentence ends so the
voice keeps natural prosody. A period after an abbreviation ("Dr."), an
initial ("J.") or a list number ("1.") is not a sentence end. No piece is
longer than ``max_chars``: a run-on text is cut at its last clause boundary,
else its last space, before that limit.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"[.!?…。！？]+[\"'”’)\]]*(?=\s)|\n+")
_CLAUSE_END = re.compile(r"[,;:，；：]\s|\s[-–—]\s")
_LAST_WORD = re.compile(r"(\S+)$")
_ABBREVIATIONS = frozenset(
    "mr mrs ms mx dr prof sr jr st mt vs etc e.g i.e eg ie cf no nos fig figs approx "
    "dept est inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec".split()
)


def _is_false_end(buf: str, match: re.Match[str]) -> bool:
    """True when a lone period ends an abbreviation, an initial or a list number."""
    if match.group() != ".":
        return False
    before = buf[: match.start()]
    last = _LAST_WORD.search(before)
    if last is None:
        return False
    word = last.group(1).lstrip("([\"'“‘")
    if word.lower() in _ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isalpha() and word.isupper():
        return True  # an initial, as in "J. K. Rowling"
    return word.isdigit() and len(word) <= 3 and before.strip() == last.group(1)


class SentenceChunker:
    def __init__(self, *, first_clause_words: int = 4, max_chars: int = 240) -> None:
        self._buffer = ""
        self._emitted = 0
        self.first_clause_words = first_clause_words
        self.max_chars = max(8, max_chars)

    def feed(self, text: str) -> list[str]:
        """Add streamed text; return the pieces that are complete."""
        self._buffer += text
        pieces: list[str] = []
        while True:
            cut = self._find_cut()
            if cut is None:
                break
            piece, self._buffer = self._buffer[:cut], self._buffer[cut:]
            piece = piece.strip()
            if piece:
                pieces.append(piece)
                self._emitted += 1
        return pieces

    def flush(self) -> list[str]:
        """Return whatever is left at the end of the stream."""
        piece, self._buffer = self._buffer.strip(), ""
        if piece:
            self._emitted += 1
            return [piece]
        return []

    def _find_cut(self) -> int | None:
        # The earliest valid cut wins, so feeding a whole text at once cuts exactly
        # where streaming it token by token would.
        buf = self._buffer
        limit = self.max_chars
        cuts: list[int] = []
        for match in _SENTENCE_END.finditer(buf):
            if len(buf[: match.end()].strip()) > limit:
                break  # too long for one piece: cut below instead
            if buf[: match.end()].strip() and not _is_false_end(buf, match):
                cuts.append(match.end())
                break
        if self._emitted == 0:
            for clause in _CLAUSE_END.finditer(buf):
                if len(buf[: clause.end()].strip()) > limit:
                    break
                if len(buf[: clause.start()].split()) >= self.first_clause_words:
                    cuts.append(clause.end())
                    break
        if cuts:
            return min(cuts)
        if len(buf.strip()) > limit:
            return self._long_cut(buf)
        return None

    def _long_cut(self, buf: str) -> int:
        """Where to cut a run-on text: last clause boundary, else last space, before the limit."""
        start = len(buf) - len(buf.lstrip())
        window = buf[: start + self.max_chars]
        clauses = [m.end() for m in _CLAUSE_END.finditer(window) if buf[: m.end()].strip()]
        if clauses and clauses[-1] - start > self.max_chars // 3:
            return clauses[-1]
        space = window.rfind(" ")
        return space if space > start else start + self.max_chars


def chunk_text(text: str) -> list[str]:
    """Chunk a whole text at once (for repeats and OCR output)."""
    chunker = SentenceChunker()
    return chunker.feed(text) + chunker.flush()


def split_for_speech(text: str, max_chars: int = 400) -> list[str]:
    """Cut one over-long utterance into sentence-sized parts, each at most ``max_chars``.

    Engines slow down badly on huge inputs (pyttsx3's espeak driver copies its
    whole buffer for every audio block), so the speaker feeds them parts.
    """
    text = text.strip()
    if len(text) <= max_chars:
        return [text] if text else []
    chunker = SentenceChunker(first_clause_words=10**9, max_chars=max_chars)
    parts: list[str] = []
    for piece in chunker.feed(text) + chunker.flush():
        if parts and len(parts[-1]) + 1 + len(piece) <= max_chars:
            parts[-1] += " " + piece
        else:
            parts.append(piece)
    return parts
