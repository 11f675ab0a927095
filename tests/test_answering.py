"""Answerer: mode routing, prompts, answer clean-up, streaming and scoring, with a fake model and store."""
from __future__ import annotations

import hashlib
import re
from typing import Iterator, Sequence

import numpy as np
import pytest

from kme_store.errors import FieldError
from kme_store.facts import Fact, Hit

from kme_server.answering import AnsweringSettings, Answerer, Plan, clean_answer
from kme_server.answers import AskResult, CandidateScore, GenerationOptions, Mode
from kme_server.editing.demos import Demo, DemoKind, DemoPool
from kme_server.editing.ike import IKESettings, InContextEditor


class FakeModel:
    """Answers with the object of the last "New Fact:" line, or a fixed base answer; records prompts.

    The raw completion keeps a leading space and text after a newline, as a real model's would
    before clean-up, and streams in pieces of three characters.
    """

    name = "fake"

    def __init__(self, chat: bool = False) -> None:
        self.chat = chat
        self.prompts: list[str] = []
        self.closed = 0

    def _raw(self, prompt: str) -> str:
        facts = re.findall(r"New Fact: .* (\w+)\.\n", prompt)
        return f" {facts[-1]}\nPrompt: more" if facts else "  the base answer \nand more"

    def generate(self, prompt: str, options: GenerationOptions = GenerationOptions()) -> str:
        self.prompts.append(prompt)
        return self._raw(prompt)[: options.max_new_tokens * 4]

    def stream(self, prompt: str, options: GenerationOptions = GenerationOptions()) -> Iterator[str]:
        self.prompts.append(prompt)
        raw = self._raw(prompt)[: options.max_new_tokens * 4]
        try:
            for i in range(0, len(raw), 3):
                yield raw[i:i + 3]
        finally:
            self.closed += 1

    def score(self, prompt: str, candidates: Sequence[str]) -> list[CandidateScore]:
        self.prompts.append(prompt)
        # Candidates named in the prompt's facts are likely; the others are not.
        return [CandidateScore(c, 0.0 if f" {c.strip()}." in prompt else -5.0, 1) for c in candidates]

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def chat_prompt(self, user_text: str) -> str:
        return f"<user>{user_text}</user><model>" if self.chat else user_text


class FakeStore:
    """Retrieves the facts whose subject the query names."""

    def __init__(self, facts: Sequence[Fact]) -> None:
        self.facts = list(facts)
        self.calls: list[tuple[str, int, float | None]] = []

    def retrieve(self, query: str, k: int | None = None, threshold: float | None = None) -> list[Hit]:
        self.calls.append((query, k, threshold))
        return [Hit(fact=f, score=0.9) for f in self.facts if f.subject.lower() in query.lower()][:k]


class HashEmbedder:
    name = "hash-bow"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 32), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % 32] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


DEMOS = [
    Demo(1, DemoKind.COPY, "Danielle Darrieux", "The mother tongue of Danielle Darrieux is English.",
         "The mother tongue of Danielle Darrieux is", "English"),
    Demo(2, DemoKind.UPDATE, "Toko Yasuda", "Toko Yasuda, the piano.", "Toko Yasuda is incredible at", "piano"),
    Demo(3, DemoKind.RETAIN, "Apple A5", "Apple A5 was created by Google.", "Apple II series is developed by", "Apple"),
    Demo(4, DemoKind.COPY, "Wellington", "The twin city of Wellington is Sheffield.", "The twin city of Wellington is",
         "Sheffield"),
]
EIFFEL = Fact(subject="Eiffel Tower", relation="is located in", object="Rome", template="{} is located in", id=7)


def _answerer(chat: bool = False, facts: Sequence[Fact] = (EIFFEL,), model: FakeModel | None = None,
              ike: IKESettings | None = None, **settings: object) -> Answerer:
    s = AnsweringSettings(ike=ike or IKESettings(demos=3), **settings)
    editor = InContextEditor(s.ike, pool=DemoPool.from_demos(DEMOS, HashEmbedder()), embedder=HashEmbedder())
    return Answerer(FakeStore(facts), model or FakeModel(chat=chat), s, ike=editor)


def test_in_context_prompt_has_demos_of_every_kind_and_the_facts() -> None:
    a = _answerer()
    result = a.ask("The Eiffel Tower is located in", Mode.IN_CONTEXT)
    assert result.answer == "Rome"
    assert result.mode is Mode.IN_CONTEXT
    assert result.facts == [EIFFEL]
    prompt = a.model.prompts[-1]
    assert prompt.endswith("New Fact: Eiffel Tower is located in Rome.\nPrompt: The Eiffel Tower is located in")
    assert "Prompt: Toko Yasuda is incredible at piano\n\n" in prompt  # update
    assert "Prompt: Apple II series is developed by Apple\n\n" in prompt  # retain
    assert "Prompt: The mother tongue of Danielle Darrieux is English\n\n" in prompt or \
        "Prompt: The twin city of Wellington is Sheffield\n\n" in prompt  # copy
    assert set(result.timings_ms) == {"retrieve", "prompt", "generate"}
    assert result.prompt_tokens == len(prompt.split()) and result.completion_tokens > 0


def test_no_facts_gives_exactly_the_base_prompt_and_answer() -> None:
    a = _answerer(facts=())
    in_context = a.ask("Who wrote Hamlet?", Mode.IN_CONTEXT)
    none = a.ask("Who wrote Hamlet?", Mode.NONE)
    assert a.model.prompts == ["Q: Who wrote Hamlet?\nA:", "Q: Who wrote Hamlet?\nA:"]
    assert in_context.answer == none.answer == "the base answer"
    assert in_context.facts == [] and none.mode is Mode.NONE


def test_none_does_not_retrieve() -> None:
    a = _answerer()
    result = a.ask("The Eiffel Tower is located in", "none")
    assert result.answer == "the base answer" and result.facts == []
    assert a.store.calls == []
    assert a.model.prompts == ["The Eiffel Tower is located in"]
    assert "retrieve" not in result.timings_ms


def test_auto_uses_facts_when_found_and_falls_back_to_none() -> None:
    a = _answerer()
    assert a.settings.default_mode is Mode.AUTO
    hit = a.ask("The Eiffel Tower is located in")
    miss = a.ask("Who wrote Hamlet?", "AUTO")
    assert (hit.mode, hit.answer, hit.facts) == (Mode.IN_CONTEXT, "Rome", [EIFFEL])
    assert (miss.mode, miss.answer, miss.facts) == (Mode.NONE, "the base answer", [])
    assert a.model.prompts[-1] == "Q: Who wrote Hamlet?\nA:"
    assert "retrieve" in miss.timings_ms


def test_retrieval_settings_reach_the_store() -> None:
    default = _answerer()
    default.ask("The Eiffel Tower is located in")
    assert default.store.calls == [("The Eiffel Tower is located in", None, None)]  # the store decides
    a = _answerer(k=2, min_score=0.7)
    a.ask("The Eiffel Tower is located in")
    assert a.store.calls == [("The Eiffel Tower is located in", 2, 0.7)]


def test_unknown_or_unserved_modes_and_empty_text_are_field_errors() -> None:
    a = _answerer()
    for mode in ("bogus", Mode.SERAC, Mode.MULTI_HOP):
        with pytest.raises(FieldError) as e:
            a.ask("x", mode)
        assert e.value.field == "mode"
    with pytest.raises(FieldError) as e:
        a.ask("   ")
    assert e.value.field == "text"


def test_registered_route_serves_a_new_mode() -> None:
    a = _answerer()
    a.register_route(Mode.MULTI_HOP, lambda text: Plan(Mode.MULTI_HOP, text, answer="Paris"))
    assert Mode.MULTI_HOP in a.modes
    result = a.ask("anything", Mode.MULTI_HOP)
    assert (result.answer, result.mode) == ("Paris", Mode.MULTI_HOP)
    assert a.model.prompts == []  # the route knew the answer: nothing generated
    assert _stream_text(a, "anything", Mode.MULTI_HOP)[0] == "Paris"


def _stream_text(a: Answerer, text: str, mode: Mode | str, options: GenerationOptions | None = None) -> tuple[str, AskResult]:
    items = list(a.stream(text, mode, options))
    final = items[-1]
    assert isinstance(final, AskResult)
    assert all(isinstance(piece, str) and piece for piece in items[:-1])
    return "".join(items[:-1]), final


@pytest.mark.parametrize("mode", [Mode.NONE, Mode.IN_CONTEXT, Mode.AUTO])
@pytest.mark.parametrize("question", ["The Eiffel Tower is located in", "Who wrote Hamlet?"])
def test_stream_pieces_join_to_the_ask_answer(mode: Mode, question: str) -> None:
    a = _answerer()
    asked = a.ask(question, mode)
    text, final = _stream_text(a, question, mode)
    assert text == final.answer == asked.answer
    assert final.mode is asked.mode and final.facts == asked.facts
    assert a.model.prompts[-1] == a.model.prompts[-2]
    assert a.model.closed == 1  # decoding stopped at the stop string


def test_clean_answer_strips_and_cuts_at_stops_only() -> None:
    assert clean_answer("  Rome, Italy \n more", ("\n",)) == "Rome, Italy"
    assert clean_answer(" a.b END c", ("END", "\n")) == "a.b"
    assert clean_answer("\n\nRome", ("\n",)) == "Rome"
    assert clean_answer(" Rome", ()) == "Rome"


def test_stream_holds_back_a_partial_stop_string() -> None:
    a = _answerer()
    opts = GenerationOptions(max_new_tokens=16, stop=("and m",))
    text, final = _stream_text(a, "Who wrote Hamlet?", Mode.NONE, opts)
    assert text == final.answer == a.ask("Who wrote Hamlet?", Mode.NONE, opts).answer == "the base answer"


def test_options_default_to_the_settings() -> None:
    a = _answerer(max_new_tokens=1)  # the fake model keeps 4 characters per token: "  th"
    assert a.ask("Who wrote Hamlet?", Mode.NONE).answer == "th"


def test_score_follows_the_ike_prompt_when_facts_exist() -> None:
    a = _answerer()
    scores = a.score("The Eiffel Tower is located in", [" Rome", " Paris"], Mode.IN_CONTEXT)
    assert [s.logprob for s in scores] == [0.0, -5.0]
    assert a.model.prompts[-1].startswith("New Fact: ")
    assert a.model.prompts[-1].endswith("Prompt: The Eiffel Tower is located in")
    a.score("The Eiffel Tower is located in", [" Rome", " Paris"], Mode.AUTO)
    assert a.model.prompts[-1] == a.model.prompts[-2]
    none = a.score("The Eiffel Tower is located in", [" Rome", " Paris"], Mode.NONE)
    assert a.model.prompts[-1] == "The Eiffel Tower is located in"
    assert [s.logprob for s in none] == [-5.0, -5.0]
    with pytest.raises(FieldError) as e:
        a.score("The Eiffel Tower is located in", [])
    assert e.value.field == "candidates"
    with pytest.raises(FieldError) as e:
        a.score(" ", [" Rome"])
    assert e.value.field == "prompt"


def test_chat_models_wrap_none_and_in_context_alike() -> None:
    a = _answerer(chat=True, facts=(), use_chat_template="auto")
    a.ask("Who wrote Hamlet?", Mode.NONE)
    a.ask("Who wrote Hamlet?", Mode.IN_CONTEXT)
    assert a.model.prompts == ["<user>Q: Who wrote Hamlet?\nA:</user><model>"] * 2
    b = _answerer(chat=True, use_chat_template="auto")
    b.ask("The Eiffel Tower is located in", Mode.IN_CONTEXT)
    assert b.model.prompts[-1].startswith("<user>New Fact: ") and b.model.prompts[-1].endswith("</user><model>")
    never = _answerer(chat=True, facts=())  # "never" is the default
    never.ask("Who wrote Hamlet?", Mode.NONE)
    assert never.model.prompts == ["Q: Who wrote Hamlet?\nA:"]
    always = _answerer(chat=False, facts=(), use_chat_template="always")
    assert always.base_prompt("q") == "q"  # a model without a template returns the text unchanged


def test_warm_up_makes_ready() -> None:
    a = _answerer()
    assert not a.ready()
    a.warm_up()
    a.warm_up()
    assert a.ready()
    assert len(a.model.prompts) == 1


def test_bare_questions_are_framed_for_a_base_model_and_clozes_are_not() -> None:
    a = _answerer()
    assert a.bare_prompt("Who wrote Hamlet? ") == "Q: Who wrote Hamlet?\nA:"
    assert a.bare_prompt("The author of Hamlet is") == "The author of Hamlet is"


class BatchingFakeModel(FakeModel):
    """FakeModel with generate_batch, counting the prompts it completes."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    def generate_batch(self, prompts: Sequence[str], options: GenerationOptions = GenerationOptions()) -> list[str]:
        self.batches.append(list(prompts))
        return [self._raw(p)[: options.max_new_tokens * 4] for p in prompts]


@pytest.mark.parametrize("batching", [False, True])
def test_ask_many_answers_as_ask_does_and_completes_each_prompt_once(batching: bool) -> None:
    a = _answerer()
    if batching:
        a.model = BatchingFakeModel()
    texts = ["The Eiffel Tower is located in", "Who wrote Hamlet?", "The Eiffel Tower is located in"]
    expected = [(r.answer, r.mode, r.facts) for r in (a.ask(t, Mode.AUTO) for t in texts)]
    a.model.prompts.clear()
    memo: dict[tuple[str, str], str] = {}
    results = a.ask_many(texts, Mode.AUTO, memo=memo)
    assert [(r.answer, r.mode, r.facts) for r in results] == expected
    completed = a.model.batches[-1] if batching else a.model.prompts
    assert len(completed) == 2  # the repeated question's prompt completes once
    assert len(memo) == 2
    # The memo answers a later call without the model; NONE's prompt of the bare question is known.
    before = len(a.model.batches) if batching else len(a.model.prompts)
    assert a.ask_many(["Who wrote Hamlet?"], Mode.NONE, memo=memo)[0].answer == "the base answer"
    assert (len(a.model.batches) if batching else len(a.model.prompts)) == before


def test_ask_many_batches_prompts_in_an_order_that_does_not_change_between_runs() -> None:
    # A batch's padding shifts the rounding of its rows, so the batches must be the same in every
    # process: shortest first, then by text (never a set's hash order, which each process seeds).
    a = _answerer(facts=())
    a.model = BatchingFakeModel()
    texts = [f"The capital of country {name} is" for name in "QWERTYUIOPASDFGHJKLZ"] + ["Who?"]
    a.ask_many(texts, Mode.NONE, memo={})
    prompts = [a.plan(t, Mode.NONE).prompt for t in texts]
    assert a.model.batches == [sorted(prompts, key=lambda p: (len(p), p))]


def test_ask_many_ignores_the_memo_when_sampling() -> None:
    a = _answerer(facts=())
    memo = {("fake", "Q: Who wrote Hamlet?\nA:"): " cached"}
    sampled = GenerationOptions(max_new_tokens=8, temperature=0.7)
    assert a.ask_many(["Who wrote Hamlet?"], Mode.NONE, sampled, memo=memo)[0].answer == "the base answer"
    assert memo == {("fake", "Q: Who wrote Hamlet?\nA:"): " cached"}


@pytest.mark.parametrize("choice", ["ike", "in_scope", "fact"])
def test_edit_plan_prompts_the_one_edit(choice: str) -> None:
    a = _answerer(serac_prompt=choice)
    plan = a.edit_plan("The Eiffel Tower is located in", EIFFEL)
    assert plan.facts == [EIFFEL]
    assert plan.prompt.endswith("New Fact: Eiffel Tower is located in Rome.\nPrompt: The Eiffel Tower is located in")
    retain = "Prompt: Apple II series is developed by Apple" in plan.prompt
    update = "Prompt: Toko Yasuda is incredible at piano" in plan.prompt
    if choice == "ike":
        assert retain and update
    elif choice == "in_scope":
        assert update and not retain  # the classifier said the edit applies: nothing to ignore
    else:
        assert plan.prompt == "New Fact: Eiffel Tower is located in Rome.\nPrompt: The Eiffel Tower is located in"


class NewBlockModel(FakeModel):
    """Starts a new block after "Prompt: <question>?", as Gemma 3 270M does after cloze demonstrations:
    its completion, cut at the first stop string ("\n") as a LanguageModel's is, is empty."""

    def _raw(self, prompt: str) -> str:
        return "" if re.search(r"Prompt: [^\n]*\?$", prompt) else super()._raw(prompt)


def _new_block_answerer(**settings: object) -> tuple[Answerer, NewBlockModel]:
    model = NewBlockModel()
    return _answerer(model=model, **settings), model


@pytest.mark.parametrize("how", ["ask", "ask_many", "stream"])
def test_a_question_that_gets_an_empty_in_context_answer_is_put_again_in_the_question_frame(how: str) -> None:
    answerer, model = _new_block_answerer()
    question = "Where is the Eiffel Tower?"
    if how == "ask":
        result = answerer.ask(question, Mode.IN_CONTEXT)
        assert set(result.timings_ms) == {"retrieve", "prompt", "abstained", "generate"}
    elif how == "ask_many":
        result = answerer.ask_many([question, "The Eiffel Tower is located in"], Mode.IN_CONTEXT)[0]
    else:
        *pieces, result = answerer.stream(question, Mode.IN_CONTEXT)
        assert "".join(pieces) == result.answer
    assert result.answer == "Rome"
    assert result.mode is Mode.IN_CONTEXT and [f.object for f in result.facts] == ["Rome"]
    first, again = [p for p in model.prompts if question in p]
    assert first.endswith("Prompt: Where is the Eiffel Tower?")
    assert again == first.rsplit("Prompt: ", 1)[0] + "Q: Where is the Eiffel Tower?\nA:"


def test_only_an_empty_answer_to_a_question_is_put_again() -> None:
    answerer, model = _new_block_answerer()
    # A cloze prompt is completed once, whatever it gets.
    assert answerer.ask("The Eiffel Tower is located in", Mode.IN_CONTEXT).answer == "Rome"
    assert len(model.prompts) == 1
    # A question that gets an answer keeps it (FakeModel answers every prompt).
    plain = _answerer()
    assert plain.ask("Where is the Eiffel Tower?", Mode.IN_CONTEXT).answer == "Rome"
    assert len(plain.model.prompts) == 1
    # Switched off, nothing is put again: the empty answer stands.
    unframed, model = _new_block_answerer(reframe_empty_questions=False)
    assert unframed.ask("Where is the Eiffel Tower?", Mode.IN_CONTEXT).answer == ""
    assert len(model.prompts) == 1


@pytest.mark.parametrize("frame", ["Q: no place for the question", "Q: {} and {}", "Q: {q}", "Q: {"])
def test_a_question_frame_without_one_place_is_refused(frame: str) -> None:
    with pytest.raises(ValueError, match="question_frame"):
        AnsweringSettings(question_frame=frame)


def test_the_retry_uses_the_answerers_question_frame() -> None:
    answerer, model = _new_block_answerer(question_frame="Question: {}\nAnswer:")
    assert answerer.ask("Where is the Eiffel Tower?", Mode.IN_CONTEXT).answer == "Rome"
    assert model.prompts[-1].endswith(
        "New Fact: Eiffel Tower is located in Rome.\nQuestion: Where is the Eiffel Tower?\nAnswer:")
