"""Split streaming text into speakable pieces so speech starts before generation ends.

The first piece is cut at the first clause boundary (comma, semicolon, colon,
dash) once it has a few words, because the silence before the first word is
what a blind user feels most; later pieces are cut at sentence ends so the
voice keeps natural prosody.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"[.!?…。！？]+[\"')\]]*(?=\s)|\n+")
_CLAUSE_END = re.compile(r"[,;:，；：]\s|\s[-–—]\s")


class SentenceChunker:
    def __init__(self, *, first_clause_words: int = 4, max_chars: int = 240) -> None:
        self._buffer = ""
        self._emitted = 0
        self.first_clause_words = first_clause_words
        self.max_chars = max_chars

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
        buf = self._buffer
        match = _SENTENCE_END.search(buf)
        if match and buf[: match.end()].strip():
            return match.end()
        if self._emitted == 0:
            for clause in _CLAUSE_END.finditer(buf):
                if len(buf[: clause.start()].split()) >= self.first_clause_words:
                    return clause.end()
        if len(buf) > self.max_chars:
            space = buf.rfind(" ", 0, self.max_chars)
            return space if space > 0 else self.max_chars
        return None


def chunk_text(text: str) -> list[str]:
    """Chunk a whole text at once (for repeats and OCR output)."""
    chunker = SentenceChunker()
    return chunker.feed(text) + chunker.flush()
