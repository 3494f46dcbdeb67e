"""The bad-input corpus: every odd file, path or question gets one clear sentence, and Iris keeps working.

Each case goes through the real core as both faces use it: the file is loaded
and described in a job on the core's worker (``JobRunner``); a failure comes
back as an :class:`IrisError` whose sentence is shown (notifier sink) and
spoken (SilentSpeaker records it); right after, a good image is described.
A subset runs through the real ``iris`` command in subprocesses, and the
odd-but-valid images also go through the real engine on the tiny model.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from PIL import Image

import app.images as images
from app.errors import BadInputError
from app.images import load_image
from tests.make_images import (
    FAKE_HEIC,
    MINIMAL_PDF,
    MINIMAL_SVG,
    _apng,
    _cmyk_jpeg,
    _exif_rotated,
    _gif_animation,
    _palette_transparent,
    _sixteen_bit,
    _truncated,
    encode,
    halves,
    png_claiming_size,
    write_file,
)
from tests.reliability.conftest import assert_one_sentence

REPO = Path(__file__).resolve().parents[2]
RED = (255, 0, 0)


@dataclass
class Case:
    make: Callable[[Path, pytest.MonkeyPatch], Any]  # -> what to pass to load_image
    good: bool
    size: tuple[int, int] | None = None  # expected size of a good image
    probe: tuple[tuple[int, int], tuple[int, int, int]] | None = None  # (x, y), rgb


write = write_file


def sparse(folder: Path, name: str, size: int) -> Path:
    path = folder / name
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def unreadable(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real PNG the kernel would refuse to an ordinary user (we run as root, so the
    refusal is simulated at the one place images.py opens files; the setpriv test
    below checks the real kernel refusal as the 'nobody' user)."""
    path = write(folder, "private.png", encode(halves(), "PNG"))
    path.chmod(0)

    def refusing_open(file, *args, **kwargs):
        if Path(file) == path:
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return open(file, *args, **kwargs)

    monkeypatch.setattr(images, "open", refusing_open, raising=False)
    return path


def fifo(folder: Path) -> Path:
    path = folder / "pipe.png"
    os.mkfifo(path)
    return path


def loop(folder: Path) -> Path:
    path = folder / "loop.png"
    path.symlink_to(path)
    return path


def mp4_head() -> bytes:
    return b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + b"\x00" * 500


def png(image: Image.Image) -> bytes:
    return encode(image, "PNG")


BAD: dict[str, Callable[[Path, pytest.MonkeyPatch], Any]] = {
    "truncated_png": lambda d, m: write(d, "cut.png", _truncated("PNG")),
    "truncated_jpeg": lambda d, m: write(d, "cut.jpg", _truncated("JPEG")),
    "png_header_only": lambda d, m: write(d, "stub.png", png(Image.new("RGB", (50, 50)))[:40]),
    "zero_byte_file": lambda d, m: write(d, "empty.png", b""),
    "zero_byte_data": lambda d, m: b"",
    "random_bytes_with_png_extension": lambda d, m: write(d, "noise.png", np.random.default_rng(1).bytes(5000)),
    "random_bytes_data": lambda d, m: np.random.default_rng(2).bytes(300),
    "text_file_named_png": lambda d, m: write(d, "notes.png", b"Shopping list:\n- milk\n- bread\n" * 20),
    "svg": lambda d, m: write(d, "logo.svg", MINIMAL_SVG),
    "pdf": lambda d, m: write(d, "letter.pdf", MINIMAL_PDF),
    "pdf_named_png": lambda d, m: write(d, "letter.png", MINIMAL_PDF),
    "heic_without_decoder": lambda d, m: write(d, "IMG_0001.HEIC", FAKE_HEIC),
    "html_named_jpg": lambda d, m: write(d, "page.jpg", b"<!DOCTYPE html><html><body>hi</body></html>"),
    "zip_named_png": lambda d, m: write(d, "photos.png", b"PK\x03\x04" + b"\x00" * 200),
    "video_named_jpg": lambda d, m: write(d, "clip.jpg", mp4_head()),
    "program_named_png": lambda d, m: write(d, "setup.png", b"\x7fELF\x02\x01\x01" + b"\x00" * 300),
    "decompression_bomb_30000x30000": lambda d, m: write(d, "bomb.png", png_claiming_size(30000, 30000)),
    "bomb_over_cap_as_data": lambda d, m: png_claiming_size(12000, 10000),
    "file_of_200_mb": lambda d, m: sparse(d, "huge.png", 200 * 1024 * 1024),
    "directory": lambda d, m: (d / "holiday.png").mkdir() or (d / "holiday.png"),
    "missing_path": lambda d, m: d / "no-such-photo.png",
    "missing_folder": lambda d, m: d / "no-such-folder" / "photo.png",
    "no_read_permission": lambda d, m: unreadable(d, m),
    "non_utf8_name_not_an_image": lambda d, m: write(d, b"caf\xe9-\xff\xfe.png", b"words, not a picture"),
    "very_long_name": lambda d, m: d / ("x" * 300 + ".png"),
    "control_characters_in_name": lambda d, m: write(d, "bell\x07\x1b[31m.png", b"\x00\x01\x02garbage"),
    "url_https": lambda d, m: "https://example.com/cat.png",
    "url_ftp": lambda d, m: "ftp://example.com/photos/cat.jpg",
    "named_pipe": lambda d, m: fifo(d),
    "character_device": lambda d, m: Path("/dev/zero"),
    "symlink_loop": lambda d, m: loop(d),
    "not_a_path_at_all": lambda d, m: 12345,
}

GOOD: dict[str, Case] = {
    "animated_gif_first_frame": Case(lambda d, m: write(d, "anim.gif", _gif_animation()), True, (40, 30), ((5, 5), RED)),
    "apng_first_frame": Case(lambda d, m: write(d, "anim.png", _apng()), True, (40, 30), ((5, 5), RED)),
    "png_16_bit": Case(lambda d, m: write(d, "deep.png", _sixteen_bit()), True, (64, 48), ((63, 10), (255, 255, 255))),
    "cmyk_jpeg": Case(lambda d, m: write(d, "print.jpg", _cmyk_jpeg()), True, (64, 48), ((5, 24), (0, 0, 0))),
    "palette_with_transparency": Case(lambda d, m: write(d, "pal.png", _palette_transparent()), True, (64, 48),
                                      ((58, 24), (255, 255, 255))),
    "exif_rotated_photo": Case(lambda d, m: write(d, "phone.jpg", _exif_rotated(6)), True, (48, 64),
                               ((40, 5), (0, 0, 0))),
    "one_by_one": Case(lambda d, m: write(d, "dot.png", png(Image.new("RGB", (1, 1), (10, 200, 30)))), True, (1, 1),
                       ((0, 0), (10, 200, 30))),
    "one_by_ten_thousand": Case(lambda d, m: write(d, "tall.png", png(Image.new("RGB", (1, 10000), RED))), True,
                                (1, 10000), ((0, 9999), RED)),
    "ten_thousand_by_one": Case(lambda d, m: write(d, "wide.png", png(Image.new("RGB", (10000, 1), RED))), True,
                                (10000, 1), ((9999, 0), RED)),
    "non_utf8_name_good_image": Case(lambda d, m: write(d, b"r\xe9sum\xe9-\xff.png", png(halves())), True, (64, 48)),
    "long_but_valid_name": Case(lambda d, m: write(d, "y" * 240 + ".png", png(halves())), True, (64, 48)),
    "emoji_and_rtl_name": Case(lambda d, m: write(d, "صورة-🐱-照片.png", png(halves())), True, (64, 48)),
    "jpeg_named_png": Case(lambda d, m: write(d, "really-a-jpeg.png", encode(halves(), "JPEG", quality=95)), True,
                           (64, 48)),
    "file_url": Case(lambda d, m: write(d, "by url.png", png(halves())).as_uri(), True, (64, 48)),
    "image_as_bytes": Case(lambda d, m: png(halves()), True, (64, 48)),
}

CASES: dict[str, Case] = {**{k: Case(v, False) for k, v in BAD.items()}, **GOOD}


def describe_job(rig, source: Any):
    def job(cancel):
        image = load_image(source)  # on the worker, as the GUI's open_images does
        return rig.assistant.describe(image, label="the file", cancel=cancel)

    return job


@pytest.mark.parametrize("name", sorted(CASES))
def test_image_case(name, rig, tmp_path, monkeypatch):
    case = CASES[name]
    source = case.make(tmp_path, monkeypatch)
    start = time.perf_counter()
    box = rig.run(describe_job(rig, source))
    elapsed = time.perf_counter() - start
    if case.good:
        assert "error" not in box, box.get("error") and box["error"].message
        answer = box["result"]
        seen = rig.engine.calls[-1].image
        assert seen.mode == "RGB" and seen.size == case.size
        if case.probe:
            (x, y), rgb = case.probe
            assert all(abs(a - b) <= 40 for a, b in zip(seen.getpixel((x, y)), rgb)), seen.getpixel((x, y))
        assert answer.text.split(".")[0] in " ".join(rig.spoken())
        assert rig.errors() == []
    else:
        error = box.get("error")
        assert isinstance(error, BadInputError), f"{type(error).__name__}: {getattr(error, 'message', error)}"
        sentence = assert_one_sentence(error.message)
        assert rig.errors() == [sentence]  # shown once, through the notifier
        assert sentence in rig.spoken()  # and spoken
        assert rig.engine.calls == []  # the model never saw it
        assert elapsed < 5, f"refusing {name} took {elapsed:.1f} s"
    # Iris still works afterwards.
    rig.describe_good()


def test_corpus_has_at_least_thirty_cases():
    assert len(CASES) >= 30 and len(BAD) >= 25 and len(GOOD) >= 10


# ----------------------------------------------------------------- questions
QUESTIONS = {
    "empty": ("", False),
    "only_spaces_and_newlines": ("   \n\t  ", False),
    "ten_thousand_characters": ("Why " * 2500, False),
    "arabic": ("ما لون القطة في الصورة؟", True),
    "chinese": ("图片里的猫是什么颜色？", True),
    "hebrew_with_emoji": ("מה יש בתמונה? 🐈", True),
    "control_characters": ("What\x00 is\x1b[2J this?", True),
}


@pytest.mark.parametrize("name", sorted(QUESTIONS))
def test_question_case(name, rig):
    question, good = QUESTIONS[name]
    rig.describe_good()
    before = len(rig.spoken())
    box = rig.run(lambda cancel: rig.assistant.ask(question, cancel=cancel))
    if good:
        assert "error" not in box, box["error"].message
        assert rig.engine.calls[-1].turns[-2].text.startswith(question.strip()[:3])
        assert box["result"].text.split(".")[0] in " ".join(rig.spoken()[before:])
    else:
        assert isinstance(box.get("error"), BadInputError)
        sentence = assert_one_sentence(box["error"].message)
        assert sentence in rig.spoken() and rig.errors() == [sentence]
        # The refused question left no trace in the conversation.
        assert all(t.text != question for t in rig.assistant.conversation.turns)
    rig.describe_good()
    follow_up = rig.run(lambda cancel: rig.assistant.ask("And the background?", cancel=cancel))
    assert "result" in follow_up


def test_a_question_before_any_picture_is_one_sentence(rig):
    box = rig.run(lambda cancel: rig.assistant.ask("What is this?", cancel=cancel))
    assert isinstance(box.get("error"), BadInputError)
    assert_one_sentence(box["error"].message)
    rig.describe_good()


def test_many_files_at_once_each_gets_an_answer_or_a_sentence(rig, tmp_path, monkeypatch):
    """Forty files handed over together (as a multi-file drop does): each good one is described,
    each bad one gets its own sentence, and nothing stops the rest."""
    names = sorted(CASES)
    sources, expected_good = [], 0
    for index in range(40):
        name = names[index % len(names)]
        folder = tmp_path / f"f{index}"
        folder.mkdir()
        sources.append(CASES[name].make(folder, monkeypatch))
        expected_good += CASES[name].good

    def job(cancel):
        answers, refused = [], []
        for source in sources:
            try:
                image = load_image(source)
            except BadInputError as exc:
                refused.append(exc.message)
                rig.notifier.error(exc.message)
                continue
            answers.append(rig.assistant.describe(image, cancel=cancel))
        return answers, refused

    box = rig.run(job, timeout=60)
    answers, refused = box["result"]
    assert len(answers) == expected_good and len(refused) == 40 - expected_good
    assert len(rig.engine.calls) == expected_good
    for sentence in refused:
        assert_one_sentence(sentence)
    assert rig.errors() == refused
    rig.describe_good()


# -------------------------------------------------------- through the tiny model
REAL_MODEL_CASES = ["one_by_one", "one_by_ten_thousand", "ten_thousand_by_one", "png_16_bit", "cmyk_jpeg",
                    "animated_gif_first_frame", "exif_rotated_photo"]


def test_odd_images_and_scripts_through_the_real_engine(make_rig, tiny_engine, tmp_path, monkeypatch):
    """The real processor copes with extreme aspect ratios and odd modes; Arabic and Chinese
    questions tokenize and get an answer; a refused question leaves the conversation usable."""
    rig = make_rig(tiny_engine, settings={"max_new_tokens": 16})
    for name in REAL_MODEL_CASES:
        folder = tmp_path / name
        folder.mkdir()
        box = rig.run(describe_job(rig, GOOD[name].make(folder, monkeypatch)))
        assert "error" not in box, (name, box.get("error") and box["error"].message)
        assert box["result"].output_tokens > 0 and box["result"].text
    for question in (QUESTIONS["arabic"][0], QUESTIONS["chinese"][0], QUESTIONS["ten_thousand_characters"][0]):
        box = rig.run(lambda cancel, q=question: rig.assistant.ask(q, cancel=cancel))
        if len(question) > 5000:
            assert isinstance(box.get("error"), BadInputError)
        else:
            assert "error" not in box, box.get("error") and box["error"].message
            assert box["result"].input_tokens > 0 and box["result"].text
    assert rig.errors() == [assert_one_sentence(m) for m in rig.errors()]
    rig.describe_good()


# ------------------------------------------------------------- the real CLI
def iris(*args: str, timeout: float = 60, user: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "app", *args]
    if user:
        command = ["setpriv", f"--reuid={user}", f"--regid={user if user != 'nobody' else 'nogroup'}",
                   "--clear-groups", *command]
    env = dict(os.environ, IRIS_DEBUG="", OMP_NUM_THREADS="1")
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    stderr = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("iris: "), stderr
    assert result.stdout == b""
    return assert_one_sentence(lines[0][len("iris: "):])


CLI_CASES = ["truncated_png", "truncated_jpeg", "zero_byte_file", "random_bytes_with_png_extension",
             "text_file_named_png", "svg", "pdf", "heic_without_decoder", "decompression_bomb_30000x30000",
             "file_of_200_mb", "directory", "missing_path", "non_utf8_name_not_an_image", "very_long_name",
             "url_https", "named_pipe", "control_characters_in_name"]


@pytest.mark.parametrize("command", ["describe", "ask", "read"])
def test_cli_refuses_bad_files_with_exit_2_and_one_line(command, tmp_path, monkeypatch):
    for name in CLI_CASES:
        folder = tmp_path / f"{command}-{name}"
        folder.mkdir()
        source = BAD[name](folder, monkeypatch)
        arg = os.fsencode(source) if isinstance(source, Path) else source
        extra = ["What is it?"] if command == "ask" else []
        result = iris(command, os.fsdecode(arg), *extra, "--no-speak")
        assert result.returncode == 2, (name, result.stderr)
        one_error_line(result)


CLI_QUESTIONS = {
    "empty question": ("ask", "{photo}", ""),
    "10,000-character question": ("ask", "{photo}", "Why " * 2500),
    "many files at once": ("describe", "{photo}", "{photo}"),
    "many files at once, ask": ("ask",),
    "image data that is not an image on stdin": ("describe", "-"),
}


@pytest.mark.parametrize("name", sorted(CLI_QUESTIONS))
def test_cli_refuses_bad_questions_and_arguments(name, tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(png(halves()))
    args = [a.format(photo=photo) for a in CLI_QUESTIONS[name]]
    if args[-1] == "-":
        result = subprocess.run([sys.executable, "-m", "app", *args, "--no-speak"], cwd=REPO, input=b"not an image",
                                capture_output=True, timeout=60)
    else:
        result = iris(*args, "--no-speak")
    assert result.returncode == 2, result.stderr
    one_error_line(result)


def test_cli_unreadable_file_as_an_ordinary_user(tmp_path):
    """The kernel's own refusal, not a simulation: run iris as 'nobody' on a 0600 root file."""
    import shutil
    import tempfile

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to switch to an unprivileged user")
    folder = Path(tempfile.mkdtemp(prefix="iris-perm-"))
    try:
        folder.chmod(0o755)
        photo = folder / "secret.png"
        photo.write_bytes(png(halves()))
        photo.chmod(0o600)
        probe = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable,
                                "-c", "import app"], cwd=REPO, capture_output=True, timeout=60)
        if probe.returncode != 0:
            pytest.skip("the unprivileged user cannot run this Python")
        result = iris("describe", str(photo), "--no-speak", user="nobody")
        assert result.returncode == 2, result.stderr
        sentence = one_error_line(result)
        assert "secret.png" in sentence  # says which file
        photo.chmod(0o644)  # the same file, readable: the refusal was about permission
        result = iris("read", str(photo), "--no-speak", "--json", user="nobody")
        assert result.returncode == 0, result.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)
