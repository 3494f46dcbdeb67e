"""SentenceChunker: first clause early, then sentences; never empty, never too long, nothing lost."""

from __future__ import annotations

import random
import re

import pytest

from app.speech.chunker import SentenceChunker, chunk_text, split_for_speech


def stream(text: str, chunker: SentenceChunker | None = None, step: int = 1) -> list[str]:
    """Feed ``text`` a few characters at a time, as a model streams tokens."""
    chunker = chunker or SentenceChunker()
    pieces: list[str] = []
    for i in range(0, len(text), step):
        pieces += chunker.feed(text[i : i + step])
    return pieces + chunker.flush()


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_first_piece_is_the_first_clause_once_it_has_a_few_words():
    text = "A tabby cat sits on a mat, looking at the camera, calm and still. The room is bright, warm and quiet."
    chunker = SentenceChunker()
    assert chunker.feed("A tabby cat sits on a mat") == []
    assert chunker.feed(", looking") == ["A tabby cat sits on a mat,"]
    assert stream(text) == [
        "A tabby cat sits on a mat,",
        "looking at the camera, calm and still.",  # later commas do not cut
        "The room is bright, warm and quiet.",
    ]


def test_a_short_first_clause_is_not_cut():
    assert stream("Yes, it is a cat. It sleeps.") == ["Yes, it is a cat.", "It sleeps."]


def test_dash_and_semicolon_are_clause_boundaries_for_the_first_piece():
    assert stream("The screen shows a login form - two fields and a button.")[0] == "The screen shows a login form -"
    assert stream("Three people stand near the door; one waves.")[0] == "Three people stand near the door;"


def test_sentences_are_cut_at_their_ends_including_quotes_and_newlines():
    text = 'It is late. Is it? Yes! He said "Stop." Then he left.\nLine two\n\nLine three. End'
    assert stream(text) == [
        "It is late.",
        "Is it?",
        "Yes!",
        'He said "Stop."',
        "Then he left.",
        "Line two",
        "Line three.",
        "End",
    ]


def test_blank_lines_do_not_hold_back_the_next_sentence():
    chunker = SentenceChunker()
    assert chunker.feed("Hello world.\n\nNext sentence. Third one. ") == ["Hello world.", "Next sentence.", "Third one."]
    assert chunker.flush() == []


def test_abbreviations_initials_and_list_numbers_are_not_sentence_ends():
    assert chunk_text("Dr. Smith met Mr. Jones at St. Mary's, e.g. on Monday. Then they left.") == [
        "Dr. Smith met Mr. Jones at St. Mary's,",
        "e.g. on Monday.",
        "Then they left.",
    ]
    assert chunk_text("J. K. Rowling wrote it. 1. Open the file. 2. Save it. I counted to 10. Done.") == [
        "J. K. Rowling wrote it.",
        "1. Open the file.",
        "2. Save it.",
        "I counted to 10.",
        "Done.",
    ]


def test_flush_returns_the_rest_once():
    chunker = SentenceChunker()
    assert chunker.feed("No full stop yet") == []
    assert chunker.flush() == ["No full stop yet"]
    assert chunker.flush() == []
    assert SentenceChunker().flush() == []
    assert chunk_text("   \n  ") == []


@pytest.mark.parametrize("max_chars", [40, 120, 240])
def test_a_long_run_on_text_is_cut_at_max_chars(max_chars):
    words = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor " * 12).split()
    text = " ".join(words)  # no punctuation at all
    pieces = stream(text, SentenceChunker(max_chars=max_chars), step=7)
    assert len(pieces) > 1
    assert all(0 < len(p) <= max_chars for p in pieces)
    assert " ".join(pieces).split() == words  # cut between words, nothing lost


def test_a_long_text_prefers_its_last_clause_boundary():
    text = ("one two three four five six seven, " * 10).strip()
    pieces = chunk_text(text)
    assert all(len(p) <= 240 for p in pieces) and len(pieces) > 1
    assert all(p.endswith(",") for p in pieces[:-1])


def test_a_word_longer_than_max_chars_is_split_without_loss():
    text = "start " + "x" * 100 + " end."
    pieces = stream(text, SentenceChunker(max_chars=30))
    assert all(0 < len(p) <= 30 for p in pieces)
    assert squash("".join(pieces)) == squash(text)


def test_random_texts_never_lose_text_never_give_empty_or_long_pieces_and_streaming_matches():
    rng = random.Random(7)
    vocabulary = ["cat", "Dr.", "a", "window", "3.5", "e.g.", "sky", "J.", "1.", "(big)", '"yes"', "...", "—"]
    marks = ["", "", "", ",", ".", "!", "?", ";", ":", ".\n", "\n\n", " -"]
    for _ in range(150):
        words = [rng.choice(vocabulary) + rng.choice(marks) for _ in range(rng.randint(0, 120))]
        text = " ".join(words)
        max_chars = rng.choice([30, 80, 240])
        whole = chunk_text(text) if max_chars == 240 else stream(text, SentenceChunker(max_chars=max_chars), step=len(text) + 1)
        streamed = stream(text, SentenceChunker(max_chars=max_chars), step=rng.randint(1, 9))
        for pieces in (whole, streamed):
            assert all(p and p == p.strip() and len(p) <= max_chars for p in pieces), pieces
            assert squash(" ".join(pieces)) == squash(text)
        assert streamed == whole, text


def test_split_for_speech_keeps_short_text_whole_and_packs_long_text():
    assert split_for_speech("  Hello.  ") == ["Hello."]
    assert split_for_speech("") == []
    text = "This is one sentence. " * 60
    parts = split_for_speech(text, 200)
    assert len(parts) > 1 and all(len(p) <= 200 for p in parts)
    assert all(p.endswith(".") for p in parts)  # packed whole sentences
    assert " ".join(parts).split() == text.split()
    assert len(parts) == pytest.approx(len(text) / 200, abs=2)  # packed, not one per sentence
