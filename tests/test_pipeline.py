"""Assistant: what Iris says for describe / ask / read, blank screens, OCR fallback and cancel."""

from __future__ import annotations

import json
import threading
import time

import pytest
from PIL import Image, ImageDraw

from app.engine.base import CancelToken
from app.errors import BadInputError, ModelLoadError, ModelMissingError
from app.notifier import Notifier
from app.pipeline import MAX_QUESTION_CHARS, Answer, Assistant
from app.settings import Settings
from app.speech.base import SilentSpeaker
from tests.mock_engine import MockEngine

ANSWER = "A grey cat sits on a sofa. It has green eyes, and it looks at the camera. Behind it is a window."


class FakeOCR:
    engine_name = "fake-ocr"

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.calls = 0

    def read_lines(self, image: Image.Image) -> list[str]:
        self.calls += 1
        return list(self.lines)


class SlowSpeaker(SilentSpeaker):
    """Synthesises on another thread: audio is ready ``delay`` seconds after speak()."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def speak(self, text: str, *, interrupt: bool = False, priority=None, owner=None) -> None:
        with self._lock:
            self.spoken.append(text)

        def ready() -> None:
            time.sleep(self.delay)
            self._emit("audio", text)

        threading.Thread(target=ready, daemon=True).start()


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.load(tmp_path / "settings.json")


def make(settings, engine=None, ocr=None, speaker=None) -> tuple[Assistant, SilentSpeaker, Notifier]:
    speaker = speaker or SilentSpeaker()
    notifier = Notifier()  # status messages are not spoken here: the speaker hears only answers
    assistant = Assistant(engine=engine, speaker=speaker, notifier=notifier, settings=settings, ocr=ocr)
    return assistant, speaker, notifier


def photo() -> Image.Image:
    image = Image.new("RGB", (320, 240), (200, 180, 150))
    draw = ImageDraw.Draw(image)
    draw.ellipse([80, 40, 240, 200], fill=(90, 90, 90))
    draw.rectangle([0, 200, 320, 240], fill=(40, 60, 150))
    return image


def blank_screen() -> Image.Image:
    return Image.new("RGB", (1280, 800), (0, 0, 0))


def spoken_text(speaker: SilentSpeaker) -> list[str]:
    return [s for s in speaker.spoken if not s.startswith("<")]


# --------------------------------------------------------------------- describe
def test_describe_streams_the_answer_and_speaks_it_sentence_by_sentence(settings):
    engine = MockEngine(ANSWER)
    assistant, speaker, _ = make(settings, engine)
    pieces: list[str] = []
    answer = assistant.describe(photo(), label="cat.png", on_text=pieces.append, speak=True)
    assert len(pieces) == len(ANSWER.split(" ")) > 1  # streamed, not all at once
    assert "".join(pieces) == ANSWER == answer.text
    assert answer.kind == "describe" and not answer.cancelled
    assert (answer.model, answer.device, answer.quantization) == ("mock", "cpu", "none")
    assert answer.output_tokens == len(ANSWER.split(" ")) and answer.input_tokens > 0
    spoken = spoken_text(speaker)
    assert len(spoken) >= 3  # several pieces: speech started before the end of the answer
    assert " ".join(spoken).split() == ANSWER.split()
    conversation = assistant.conversation
    assert [t.role for t in conversation.turns] == ["user", "assistant"]
    assert conversation.turns[0].text == settings["prompt_describe"]
    assert conversation.turns[1].text == ANSWER
    assert assistant.last_answer is answer


class CallbackOnlyEngine(MockEngine):
    """Answers only through generate() and records the thread each piece is handed over on."""

    def __init__(self, answer: str) -> None:
        super().__init__(answer)
        self.piece_threads: set[int] = set()

    def stream(self, *args, **kwargs):
        raise AssertionError("the pipeline must use generate(), which runs on the caller's thread")

    def generate(self, conversation, cancel, on_text, *, max_new_tokens=None, min_new_tokens=None):
        self.load()
        for word in self.answer.split(" "):
            if cancel is not None and cancel.cancelled:
                return
            self.piece_threads.add(threading.get_ident())
            on_text(word + " ")


def test_the_answer_is_generated_and_spoken_on_the_callers_thread(settings):
    engine = CallbackOnlyEngine(ANSWER)
    assistant, speaker, _ = make(settings, engine)
    pieces: list[str] = []
    answer = assistant.describe(photo(), on_text=pieces.append, speak=True)
    assert engine.piece_threads == {threading.get_ident()}
    assert answer.text == ANSWER and len(pieces) > 1
    assert " ".join(spoken_text(speaker)).split() == ANSWER.split()


def test_describe_picks_the_screen_prompt_or_a_given_prompt(settings):
    engine = MockEngine("Fine.")
    assistant, _, _ = make(settings, engine)
    assistant.describe(photo(), is_screen=True, speak=False)
    assert engine.calls[-1].turns[0].text == settings["prompt_screen"]
    assert engine.calls[-1].is_screen
    assistant.describe(photo(), prompt="Count the circles.", speak=False)
    assert engine.calls[-1].turns[0].text == "Count the circles."


def test_answer_language_is_added_to_the_prompt(settings):
    settings.set("answer_language", "Deutsch", save=False)
    engine = MockEngine("Gut.")
    assistant, _, _ = make(settings, engine)
    assistant.describe(photo(), speak=False)
    assert "Deutsch" in engine.calls[-1].turns[0].text


def test_max_new_tokens_setting_reaches_the_engine(settings):
    settings.set("max_new_tokens", 16, save=False)
    long_answer = " ".join(f"w{i}" for i in range(100))
    assistant, _, _ = make(settings, MockEngine(long_answer))
    answer = assistant.describe(photo(), speak=False)
    assert answer.output_tokens == 16


def test_an_empty_model_answer_still_says_something(settings):
    assistant, speaker, _ = make(settings, MockEngine(""))
    answer = assistant.describe(photo(), speak=True)
    assert answer.text.strip()
    assert spoken_text(speaker) == [answer.text]


def test_speak_answers_setting_is_the_default_and_speak_false_is_silent(settings):
    assistant, speaker, _ = make(settings, MockEngine(ANSWER))
    settings.set("speak_answers", False, save=False)
    assistant.describe(photo())
    assert spoken_text(speaker) == []
    settings.set("speak_answers", True, save=False)
    assistant.describe(photo(), speak=False)
    assert spoken_text(speaker) == []
    assistant.describe(photo())
    assert spoken_text(speaker)


# -------------------------------------------------------------------------- ask
def test_a_follow_up_question_sees_the_earlier_turns(settings):
    seen = []

    def reply(conversation):
        seen.append([t.text for t in conversation.turns])
        return f"Answer {len(seen)}."

    assistant, _, _ = make(settings, MockEngine(reply))
    assistant.describe(photo(), speak=False)
    answer = assistant.ask("  What colour is the cat?  ", speak=False)
    assert answer.kind == "ask" and answer.text == "Answer 2."
    assert seen[1] == [settings["prompt_describe"], "Answer 1.", "What colour is the cat?"]
    assert len(assistant.conversation.turns) == 4


def test_ask_with_an_image_starts_a_new_conversation(settings):
    engine = MockEngine("Blue.")
    assistant, _, _ = make(settings, engine)
    assistant.describe(photo(), speak=False)
    other = Image.new("RGB", (64, 64), (0, 0, 255))
    assistant.ask("What colour is it?", image=other, speak=False)
    assert engine.calls[-1].image is other
    assert [t.text for t in engine.calls[-1].turns] == ["What colour is it?", "Blue."]


@pytest.mark.parametrize("question", ["", "   \n\t", "x" * (MAX_QUESTION_CHARS + 1)])
def test_bad_questions_are_refused_before_the_model_runs(settings, question):
    engine = MockEngine()
    assistant, _, _ = make(settings, engine)
    with pytest.raises(BadInputError) as info:
        assistant.ask(question, image=photo())
    assert info.value.message.strip()
    assert engine.calls == []


def test_asking_before_any_picture_is_bad_input(settings):
    engine = MockEngine()
    assistant, _, _ = make(settings, engine)
    with pytest.raises(BadInputError):
        assistant.ask("What is this?")
    assert engine.calls == []


# ------------------------------------------------------------------------- read
def test_read_text_reads_the_lines_in_order_without_the_model(settings):
    engine = MockEngine()
    ocr = FakeOCR(["Invoice 2041", "Total due: 118.50 EUR"])
    assistant, speaker, _ = make(settings, engine, ocr)
    pieces: list[str] = []
    answer = assistant.read_text(photo(), on_text=pieces.append, speak=True)
    assert answer.kind == "read" and answer.model == answer.engine == "fake-ocr"
    assert answer.text.index("Invoice 2041") < answer.text.index("Total due: 118.50 EUR")
    assert "".join(pieces) == answer.text
    assert engine.calls == [] and ocr.calls == 1
    assert "Invoice 2041" in " ".join(spoken_text(speaker))
    assert assistant.last_answer is answer


def test_read_text_with_no_text_found_still_answers(settings):
    assistant, _, _ = make(settings, MockEngine(), FakeOCR([]))
    answer = assistant.read_text(photo(), speak=False)
    assert answer.kind == "read" and answer.text.strip()


def test_read_text_without_ocr_is_a_missing_model(settings):
    assistant, _, _ = make(settings, MockEngine(), None)
    with pytest.raises(ModelMissingError):
        assistant.read_text(photo(), speak=False)


# ------------------------------------------------------------------------ blank
def test_a_blank_screen_is_announced_without_running_the_model(settings):
    engine = MockEngine()
    ocr = FakeOCR(["should not be read"])
    assistant, speaker, _ = make(settings, engine, ocr)
    answer = assistant.describe(blank_screen(), is_screen=True, speak=True)
    assert answer.kind == "blank" and answer.text.strip()
    assert answer.output_tokens == 0 and answer.model == "none"
    assert spoken_text(speaker) == [answer.text]
    assert engine.calls == [] and engine.load_count == 0
    assert assistant.conversation is None
    answer = assistant.read_text(blank_screen(), is_screen=True, speak=False)
    assert answer.kind == "blank" and ocr.calls == 0


def test_a_uniform_photo_is_still_described(settings):
    # Only screens are checked for blankness: a photo of a white wall is a photo.
    engine = MockEngine("A white wall.")
    assistant, _, _ = make(settings, engine)
    answer = assistant.describe(Image.new("RGB", (200, 200), "white"), is_screen=False, speak=False)
    assert answer.kind == "describe" and len(engine.calls) == 1


def test_a_screen_with_content_is_described(settings):
    screen = Image.new("RGB", (1280, 800), "white")
    ImageDraw.Draw(screen).text((40, 40), "File  Edit  View", fill="black")
    engine = MockEngine("A text editor.")
    assistant, _, _ = make(settings, engine)
    assert assistant.describe(screen, is_screen=True, speak=False).kind == "describe"


# ----------------------------------------------------------------- OCR fallback
@pytest.mark.parametrize("engine_kind", ["raises-on-load", "raises-on-stream", "none"])
def test_without_a_model_the_screen_text_is_read_and_the_user_told_how_to_get_one(settings, engine_kind):
    missing = ModelMissingError("No description model is installed. Run: iris models download NAME")
    engine = {
        "raises-on-load": MockEngine(fail=missing, fail_on_load=True),
        "raises-on-stream": MockEngine(fail=missing),
        "none": None,
    }[engine_kind]
    ocr = FakeOCR(["Inbox (3)", "Meeting at noon"])
    assistant, speaker, notifier = make(settings, engine, ocr)
    pieces: list[str] = []
    answer = assistant.describe(photo(), is_screen=True, on_text=pieces.append, speak=True)
    assert answer.kind == "ocr-fallback" and answer.model == answer.engine == "fake-ocr"
    assert answer.notice and "iris models download" in answer.notice
    assert answer.text.splitlines() == ["Inbox (3)", "Meeting at noon"]  # only the screen's text
    assert "".join(pieces) == answer.text
    # the notice is a message (shown by every face) and is spoken before the text
    assert any("iris models download" in m.text for m in notifier.history)
    spoken = " ".join(spoken_text(speaker))
    assert spoken.index("iris models download") < spoken.index("Meeting at noon")
    assert answer.to_json()["notice"] == answer.notice
    if assistant.conversation is not None:
        assert assistant.conversation.pending_question is None


def test_without_a_model_or_ocr_the_missing_model_error_reaches_the_caller(settings):
    assistant, _, _ = make(settings, MockEngine(fail=ModelMissingError("Missing."), fail_on_load=True), None)
    with pytest.raises(ModelMissingError):
        assistant.describe(photo(), speak=False)


def test_other_engine_failures_are_not_hidden_by_ocr(settings):
    ocr = FakeOCR(["text"])
    assistant, _, _ = make(settings, MockEngine(fail=ModelLoadError("The model files are damaged.")), ocr)
    with pytest.raises(ModelLoadError):
        assistant.describe(photo(), is_screen=True, speak=False)
    assert ocr.calls == 0
    assert assistant.conversation.pending_question is None


# ----------------------------------------------------------- cancel and staleness
def test_cancel_mid_answer_stops_quickly_and_leaves_no_trace(settings):
    long_answer = " ".join(f"word{i}." for i in range(200))
    engine = MockEngine(long_answer, token_delay=0.01)
    assistant, speaker, _ = make(settings, MockEngine("The first picture."))
    first = assistant.describe(photo(), speak=False)
    assistant.engine = engine
    cancel = CancelToken()
    pieces: list[str] = []

    def on_text(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 3:
            cancel.cancel()

    start = time.perf_counter()
    answer = assistant.describe(photo(), cancel=cancel, on_text=on_text, speak=True)
    assert time.perf_counter() - start < 1.0
    assert answer.cancelled
    assert 3 <= len(pieces) < 10
    assert assistant.last_answer is first  # a cancelled answer never replaces the last one
    assert assistant.conversation.pending_question is None
    assert all(t.role != "assistant" for t in assistant.conversation.turns)
    # repeat still says the last complete answer
    speaker.spoken.clear()
    assert assistant.repeat_last() is first
    assert spoken_text(speaker) == ["The first picture."]


def test_stop_silences_at_once_and_nothing_is_spoken_after_it(settings):
    sentences = " ".join(f"Sentence number {i} is here." for i in range(100))
    engine = MockEngine(sentences, token_delay=0.002)
    assistant, speaker, _ = make(settings, engine)
    cancel = CancelToken()
    result: list[Answer] = []
    worker = threading.Thread(
        target=lambda: result.append(assistant.describe(photo(), cancel=cancel, speak=True))
    )
    worker.start()
    deadline = time.perf_counter() + 5
    while len(spoken_text(speaker)) < 2 and time.perf_counter() < deadline:
        time.sleep(0.001)
    assistant.stop(cancel)
    worker.join(5)
    assert not worker.is_alive()
    assert cancel.cancelled and result[0].cancelled
    assert "<stop>" in speaker.spoken
    assert speaker.spoken[-1] == "<stop>"  # nothing queued after the stop


def test_an_engine_error_drops_the_unanswered_question(settings):
    engine = MockEngine("First.")
    assistant, _, _ = make(settings, engine)
    assistant.describe(photo(), speak=False)
    engine.fail = RuntimeError("generation crashed")
    with pytest.raises(RuntimeError):
        assistant.ask("And then?", speak=False)
    assert [t.role for t in assistant.conversation.turns] == ["user", "assistant"]


def test_loading_is_announced_only_while_the_model_is_not_loaded(settings):
    assistant, _, notifier = make(settings, MockEngine("Yes."))
    assistant.describe(photo(), speak=False)
    assert len(notifier.history) == 1 and notifier.history[0].level.value == "working"
    assistant.describe(photo(), speak=False)
    assert len(notifier.history) == 1


def test_repeat_with_nothing_to_repeat_tells_the_user(settings):
    assistant, _, notifier = make(settings, MockEngine())
    assert assistant.repeat_last() is None
    assert notifier.history and notifier.history[-1].text.strip()


# ---------------------------------------------------------------------- timings
def test_timings_first_token_before_first_audio_before_total(settings):
    assistant, speaker, _ = make(settings, MockEngine(ANSWER, token_delay=0.005))
    pieces: list[str] = []
    pieces_at_first_audio: list[int] = []
    speaker.add_listener(lambda event, text: event == "audio" and pieces_at_first_audio.append(len(pieces)))
    answer = assistant.describe(photo(), speak=True, on_text=pieces.append)
    t = answer.timings
    assert set(t) == {"load", "first_token", "first_audio", "total"}
    assert t["first_token"] is not None and t["first_audio"] is not None
    assert 0 <= t["first_token"] <= t["first_audio"] <= t["total"]
    # the first audio comes with the first sentence, long before the whole answer
    # (a sentence is known to be complete once the next word starts)
    assert pieces_at_first_audio[0] <= len(ANSWER.split(".")[0].split()) + 1
    assert pieces_at_first_audio[0] < len(pieces) / 2


def test_first_audio_is_measured_even_when_speech_is_slower_than_the_model(settings):
    speaker = SlowSpeaker(delay=0.2)
    assistant, _, _ = make(settings, MockEngine("Short answer."), speaker=speaker)
    answer = assistant.describe(photo(), speak=True)
    assert answer.timings["first_audio"] is not None
    assert answer.timings["first_audio"] >= 0.2
    read = make(settings, MockEngine(), FakeOCR(["One line"]), speaker=SlowSpeaker(0.1))[0]
    assert read.read_text(photo(), speak=True).timings["first_audio"] >= 0.1


def test_no_first_audio_when_not_speaking(settings):
    assistant, speaker, _ = make(settings, MockEngine(ANSWER))
    answer = assistant.describe(photo(), speak=False)
    assert answer.timings["first_audio"] is None
    assert speaker.spoken == []


def test_the_clock_does_not_outlive_the_answer(settings):
    speaker = SilentSpeaker()
    assistant, _, _ = make(settings, MockEngine(ANSWER), speaker=speaker)
    for _ in range(5):
        assistant.describe(photo(), speak=True)
    assert speaker._listeners == []


def test_answer_json_has_every_documented_key(settings):
    assistant, _, _ = make(settings, MockEngine(ANSWER))
    data = assistant.describe(photo(), speak=True).to_json()
    for key in ("text", "model", "device", "quantization", "input_tokens", "output_tokens", "timings"):
        assert key in data
    assert "notice" not in data
    assert json.loads(json.dumps(data)) == data


def test_a_missing_model_is_not_announced_as_loading_and_the_notice_is_separate_sentences(settings):
    from app.notifier import Level

    missing = ModelMissingError("No description model is installed. Run: iris models download NAME")
    assistant, speaker, notifier = make(settings, MockEngine(fail=missing, fail_on_load=True), FakeOCR(["Inbox"]))
    assistant.describe(photo(), is_screen=True, speak=True)
    assert [m for m in notifier.history if m.level is Level.WORKING] == []  # no "loading" before "missing"
    notice = next(t for t in spoken_text(speaker) if "iris models download" in t)
    assert "NAME." in notice  # the command ends its sentence instead of running into the next one


def test_ocr_fallback_total_time_includes_reading_the_text(settings):
    class SlowOCR(FakeOCR):
        def read_lines(self, image):
            import time

            time.sleep(0.2)
            return super().read_lines(image)

    missing = ModelMissingError("No description model is installed.")
    assistant, _, _ = make(settings, MockEngine(fail=missing, fail_on_load=True), SlowOCR(["Inbox"]))
    answer = assistant.describe(photo(), is_screen=True, speak=False)
    assert answer.timings["total"] >= 0.2


def test_loading_is_announced_once_the_model_is_found_and_timed(settings):
    from app.notifier import Level

    engine = MockEngine(ANSWER, load_delay=0.1)
    assistant, _, notifier = make(settings, engine)
    answer = assistant.describe(photo(), speak=False)
    assert [m.level for m in notifier.history].count(Level.WORKING) == 1  # the engine's own loading message
    assert answer.timings["load"] >= 0.1
    assert answer.timings["first_token"] >= answer.timings["load"]  # measured from the request, like first_audio
