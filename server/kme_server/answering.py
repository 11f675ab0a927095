"""The answering engine: routes a question to a mode, builds its prompt, generates and cleans the answer."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Literal, Protocol, Sequence

from pydantic import BaseModel, Field, field_validator

from kme_store.errors import FieldError
from kme_store.facts import Fact, Hit

from kme_server.answers import AskResult, CandidateScore, GenerationOptions, Hop, Mode
from kme_server.editing.ike import IKESettings, InContextEditor
from kme_server.editing.serac.prompt import ABSTAIN, edit_prompt
from kme_server.matching import contains
from kme_server.models.base import LanguageModel, generate_all

log = logging.getLogger(__name__)


class Retriever(Protocol):
    """The part of kme_store.KnowledgeStore the answerer uses."""

    def retrieve(self, query: str, k: int | None = None, threshold: float | None = None) -> list[Hit]:
        ...


class AnsweringSettings(BaseModel):
    """How questions are answered; filled by the server's settings (KME_ANSWERING__...)."""

    # Facts retrieved per question; None keeps the store's own k (RetrievalSettings.k). With a
    # 270M model more than a few facts mostly add noise.
    k: int | None = Field(default=None, ge=1, le=100)
    # Minimum retrieval score; None keeps the store's own threshold (RetrievalSettings).
    min_score: float | None = None
    # Short answers by default: one entity or phrase, cut at the first newline.
    max_new_tokens: int = Field(default=16, ge=1, le=4096)
    stop: tuple[str, ...] = ("\n",)
    default_mode: Mode = Mode.AUTO
    # How a question (text ending in "?") is put to the base model when no fact applies.
    question_frame: str = "Q: {}\nA:"
    # IN_CONTEXT: a question whose answer is empty is put again with the same demonstrations and
    # facts, its last line in question_frame. After IKE's cloze demonstrations Gemma 3 270M often
    # starts a new block after "Prompt: <question>?" (87 of 100 sampled MQuAKE scope-training
    # questions), and framed it answers (docs/BENCHMARKS.md, "IN_CONTEXT and questions"). Not the
    # first form, though: where the question mirrors the fact ("New Fact: What is X's birthplace?
    # Y."), "Prompt:" copies the fact better than the frame does.
    reframe_empty_questions: bool = True
    # Whether prompts go through the model's chat template ("auto": when the model has one).
    # "never" by default: IKE prompts are completions, and wrapped in SmolLM2-135M-Instruct's chat
    # template the model chats instead of completing (20 CounterFact validation records, scored
    # efficacy 0.40 wrapped vs 0.85 unwrapped). NONE and IN_CONTEXT are always wrapped alike, so
    # that a question without facts gets the same prompt in both.
    use_chat_template: Literal["auto", "always", "never"] = "never"
    ike: IKESettings = Field(default_factory=IKESettings)
    # Directory of a trained SERAC scope classifier (KME_ANSWERING__SERAC_DIR; `make serac` trains
    # it here). None, or no classifier there: SERAC off, and AUTO answers in context.
    serac_dir: Path | None = Path(".cache/serac")
    # SERAC's counterfactual model: the base model given the one in-scope edit, as IKE's prompt
    # ("ike": copy, update and retain demonstrations), as IKE's prompt with in-scope
    # demonstrations only ("in_scope": the classifier has already said the edit applies, so
    # nothing is to be ignored), or the edit alone before the question ("fact": shorter, faster).
    # Measured against each other in docs/BENCHMARKS.md. Only used with counterfactual "base".
    serac_prompt: Literal["ike", "in_scope", "fact"] = "ike"
    # Which model answers SERAC's in-scope questions: "trained", the counterfactual model `make
    # serac` fine-tunes into serac_dir/counterfactual (the edit alone before the question, the
    # form it was trained on), or the base model with serac_prompt when none is trained there;
    # "base", the base model with serac_prompt always.
    counterfactual: Literal["trained", "base"] = "trained"

    @field_validator("question_frame")
    @classmethod
    def _one_place_for_the_question(cls, frame: str) -> str:
        # Checked when settings load, so that a frame which would drop the question, or fail to
        # format, is refused at start rather than at the first question.
        try:
            filled = frame.format("\0")
        except (IndexError, KeyError, ValueError) as e:
            raise ValueError(f"question frame {frame!r} must have one '{{}}' and no other braces ({e})") from None
        if filled.count("\0") != 1:
            raise ValueError(f"question frame {frame!r} must have exactly one '{{}}' for the question")
        return frame


@dataclass(slots=True)
class Plan:
    """What a route decided: the prompt to complete and the facts behind it.

    A route that already knows the answer (a multi-hop walk that ended in the store) sets `answer`,
    and no text is generated.
    """

    mode: Mode
    prompt: str
    facts: list[Fact] = field(default_factory=list)
    chain: list[Hop] = field(default_factory=list)
    answer: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    # The model that completes `prompt`; None: the answerer's base model. SERAC's in-scope plans
    # name the counterfactual model when one is trained.
    model: LanguageModel | None = None
    # What to answer with instead when the model abstains (answers prompt.ABSTAIN): the trained
    # counterfactual model says so when the edit does not bear on the question after all. Built
    # only then: it is what the route would have planned had the scope classifier said no.
    fallback: Callable[[], Plan] | None = None
    # With a fallback: answers the completion must contain (whole words, normalized) to stand;
    # any other completion counts as an abstention. See Answerer.edit_plan.
    expects: tuple[str, ...] = ()
    # With a fallback: an empty completion counts as an abstention. See Answerer.in_context_plan.
    retry_when_empty: bool = False


# A route turns a question into a plan. One per mode; SERAC and MULTI_HOP register theirs.
Route = Callable[[str], Plan]


def clean_answer(raw: str, stop: Sequence[str]) -> str:
    """The answer as returned: leading space dropped, cut at the first stop string, trailing space dropped."""
    text = raw.lstrip()
    cut = _first_stop(text, stop)
    return (text if cut is None else text[:cut]).rstrip()


def _first_stop(text: str, stop: Sequence[str]) -> int | None:
    found = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return min(found) if found else None


class _StreamCleaner:
    """clean_answer() applied to a stream: emits only text that the final answer surely starts with.

    Text that might begin a stop string, and trailing whitespace, are held back until later pieces
    show whether they belong to the answer; so the pieces always join to clean_answer(whole).
    """

    def __init__(self, stop: Sequence[str]) -> None:
        self._stop = [s for s in stop if s]
        self._raw = ""
        self._sent = 0
        self.stopped = False

    def feed(self, piece: str) -> str:
        self._raw += piece
        text = self._raw.lstrip()
        cut = _first_stop(text, self._stop)
        if cut is not None:
            self.stopped = True
            return self._emit(text[:cut].rstrip())
        return self._emit(text[: len(text) - self._partial_stop(text)].rstrip())

    def finish(self) -> str:
        return self._emit(clean_answer(self._raw, self._stop))

    @property
    def raw(self) -> str:
        return self._raw

    def _partial_stop(self, text: str) -> int:
        # Length of the longest tail of `text` that is a proper prefix of some stop string.
        longest = 0
        for s in self._stop:
            for n in range(min(len(s) - 1, len(text)), longest, -1):
                if text.endswith(s[:n]):
                    longest = n
                    break
        return longest

    def _emit(self, safe: str) -> str:
        out = safe[self._sent:]
        self._sent = max(self._sent, len(safe))
        return out


class Answerer:
    """Answers questions with a store and a language model; the engine the gRPC layer calls.

    Synchronous and thread-safe as far as its parts are: the store and the model serialize their
    own work. Modes: NONE, IN_CONTEXT and AUTO now; others are added with register_route().
    """

    def __init__(self, store: Retriever, model: LanguageModel, settings: AnsweringSettings | None = None,
                 ike: InContextEditor | None = None, counterfactual: LanguageModel | None = None) -> None:
        self.store = store
        self.model = model
        # SERAC's trained counterfactual model, if any (editing/serac/counterfactual.py).
        self.counterfactual = counterfactual
        self.settings = settings or AnsweringSettings()
        self.ike = ike or InContextEditor(self.settings.ike)
        self._routes: dict[Mode, Route] = {
            Mode.NONE: self._route_none,
            Mode.IN_CONTEXT: self._route_in_context,
            Mode.AUTO: self._route_auto,
        }
        self._chat: bool | None = None
        self._ready = False
        self._lock = threading.Lock()

    # -- extension points ----------------------------------------------------------------------

    def register_route(self, mode: Mode, route: Route) -> None:
        """Serve `mode` with `route` (question -> Plan); replaces the route it had, if any."""
        self._routes[mode] = route

    def route(self, mode: Mode) -> Route | None:
        """The route serving `mode`, if any (so that a new route can wrap the one it replaces)."""
        return self._routes.get(mode)

    def is_builtin(self, route: Route | None) -> bool:
        """Whether `route` is one of the answerer's own (NONE, IN_CONTEXT, AUTO's retrieve-then-IKE)."""
        return route is not None and route in (self._route_none, self._route_in_context, self._route_auto)

    @property
    def modes(self) -> list[Mode]:
        """The modes this answerer serves."""
        return list(self._routes)

    # -- public API ----------------------------------------------------------------------------

    def ask(self, text: str, mode: Mode | str | None = None, options: GenerationOptions | None = None) -> AskResult:
        """Answer `text` in `mode` (the settings' default mode when None).

        Raises FieldError for an empty question or a mode this server does not serve.
        """
        plan = self.plan(text, mode)
        opts = self._options(options)
        if plan.answer is not None:
            return self._result(plan, plan.answer, raw=plan.answer, generate_ms=0.0)
        start = time.perf_counter()
        raw = self._model_of(plan).generate(plan.prompt, opts)
        if _abstains(plan, raw, opts.stop):
            plan = _fall_back(plan, _ms(start))
            if plan.answer is not None:
                return self._result(plan, plan.answer, raw=plan.answer, generate_ms=0.0)
            start = time.perf_counter()
            raw = self._model_of(plan).generate(plan.prompt, opts)
        generate_ms = _ms(start)
        return self._result(plan, clean_answer(raw, opts.stop), raw=raw, generate_ms=generate_ms)

    def ask_many(self, texts: Sequence[str], mode: Mode | str | None = None,
                 options: GenerationOptions | None = None, *,
                 memo: dict[tuple[str, str], str] | None = None) -> list[AskResult]:
        """ask() for many questions: each is routed alone, then the prompts complete in batches.

        A model with generate_batch() (HFLanguageModel) decodes many prompts per forward pass,
        which on a CPU is several times the throughput of one by one; greedy answers equal ask()'s
        up to float rounding in padded rows. Identical prompts complete once. `memo` ((model name,
        prompt) -> raw completion), if given, is read and filled: greedy decoding makes a
        completion a function of its model and prompt, so a caller asking with the same options
        may share it across calls (an evaluation asks the same unedited prompt in many modes).
        Sampled decoding (temperature > 0) neither reads nor fills it.
        """
        plans = [self.plan(text, mode) for text in texts]
        opts = self._options(options)
        cache: dict[tuple[str, str], str] = memo if memo is not None and opts.temperature <= 0 else {}
        generate_ms = self._complete(plans, opts, cache)
        # Plans whose model abstained go to their fallback, completed in a second round.
        abstained = [i for i, p in enumerate(plans)
                     if p.answer is None and _abstains(p, cache[(self._model_of(p).name, p.prompt)], opts.stop)]
        for i in abstained:
            plans[i] = _fall_back(plans[i], generate_ms)
        if abstained:
            generate_ms = self._complete([plans[i] for i in abstained], opts, cache)
        results = []
        for plan in plans:
            if plan.answer is not None:
                results.append(self._result(plan, plan.answer, raw=plan.answer, generate_ms=0.0))
            else:
                raw = cache[(self._model_of(plan).name, plan.prompt)]
                results.append(self._result(plan, clean_answer(raw, opts.stop), raw=raw, generate_ms=generate_ms))
        return results

    def _complete(self, plans: Sequence[Plan], opts: GenerationOptions, cache: dict[tuple[str, str], str]) -> float:
        """Complete the plans' prompts not in `cache` into it, batched per model; ms per completion."""
        models = {id(m): m for m in (self._model_of(p) for p in plans if p.answer is None)}
        start = time.perf_counter()
        completed = 0
        for model in models.values():
            # Shortest first, so that a batch pads little; ties by text, because a batch's padding
            # shifts a padded row's rounding, and a set's order changes with each process's hash
            # seed: ordered by length alone, 6% of CounterFact's greedy answers changed from run
            # to run.
            todo = sorted({p.prompt for p in plans if p.answer is None and self._model_of(p) is model
                           and (model.name, p.prompt) not in cache}, key=lambda prompt: (len(prompt), prompt))
            raws = generate_all(model, todo, opts)
            cache.update(((model.name, p), raw) for p, raw in zip(todo, raws))
            completed += len(todo)
        return _ms(start) / max(completed, 1)

    def stream(self, text: str, mode: Mode | str | None = None,
               options: GenerationOptions | None = None) -> Iterator[str | AskResult]:
        """The answer of ask() as text pieces while they are decoded, then the AskResult.

        The pieces join to the AskResult's answer. Raises as ask() does, before the first piece.
        """
        plan = self.plan(text, mode)
        opts = self._options(options)
        if plan.fallback is not None and plan.answer is None:
            # Whether the model abstains shows only in its answer, so it is decoded whole (a few
            # tokens) before anything is sent.
            start = time.perf_counter()
            raw = self._model_of(plan).generate(plan.prompt, opts)
            if not _abstains(plan, raw, opts.stop):
                return self._known(plan, clean_answer(raw, opts.stop), raw, _ms(start))
            plan = _fall_back(plan, _ms(start))
        return self._stream(plan, opts)

    def score(self, prompt: str, candidates: Sequence[str], mode: Mode | str | None = None) -> list[CandidateScore]:
        """Log-probability of each candidate as the continuation of `prompt` under `mode`.

        In IN_CONTEXT (and AUTO, when facts are retrieved) the candidates follow the IKE prompt;
        in NONE they follow the base prompt. Raises FieldError for an empty prompt or no candidates.
        """
        if not isinstance(prompt, str) or not prompt.strip():
            raise FieldError("prompt", "is empty")
        if not candidates:
            raise FieldError("candidates", "is empty")
        plan = self.plan(prompt, mode)
        return self._model_of(plan).score(plan.prompt, list(candidates))

    def plan(self, text: str, mode: Mode | str | None = None) -> Plan:
        """Route `text` to `mode` and return the prompt and facts it would be answered with."""
        if not isinstance(text, str) or not text.strip():
            raise FieldError("text", "is empty")
        chosen = self._mode(mode)
        route = self._routes.get(chosen)
        if route is None:
            served = ", ".join(m.value for m in self._routes)
            raise FieldError("mode", f"{chosen.value!r} is not available on this server; one of {served}")
        return route(text)

    def ready(self) -> bool:
        """True once warm_up() has finished: demonstrations loaded and the model answered once."""
        return self._ready

    def warm_up(self) -> None:
        """Load what the first question would otherwise wait for; idempotent."""
        with self._lock:
            if self._ready:
                return
            start = time.perf_counter()
            self.ike.warm_up()
            self.model.generate(self.base_prompt("Hello"), GenerationOptions(max_new_tokens=1, stop=()))
            if self.counterfactual is not None:
                self.counterfactual.generate("Hello", GenerationOptions(max_new_tokens=1, stop=()))
            self._ready = True
            log.info("answerer warm in %.0f ms", _ms(start))

    def base_prompt(self, text: str) -> str:
        """The prompt the base model sees for `text`: the text itself, or it in the chat template."""
        return self.model.chat_prompt(text) if self._use_chat() else text

    def bare_prompt(self, text: str) -> str:
        """The prompt of a question answered with no facts: NONE, and every mode that finds none.

        A base model given a bare question tends to continue with a new line (an empty answer)
        or another question; framed as "Q: ...\nA:" it answers. Cloze prompts stay as they are.
        """
        framed = self.settings.question_frame.format(text.strip()) if _is_question(text) else text
        return self.base_prompt(framed)

    # -- routes --------------------------------------------------------------------------------

    def _route_none(self, text: str) -> Plan:
        start = time.perf_counter()
        prompt = self.bare_prompt(text)
        return Plan(Mode.NONE, prompt, timings_ms={"prompt": _ms(start)})

    def in_context_plan(self, text: str, facts: Sequence[Fact]) -> Plan:
        """IN_CONTEXT's plan for `text` given exactly `facts`, retrieving nothing.

        Without facts the prompt is exactly NONE's, so the answer is exactly the base answer.
        """
        facts = list(facts)
        start = time.perf_counter()
        if not facts:
            return Plan(Mode.IN_CONTEXT, self.bare_prompt(text), timings_ms={"prompt": _ms(start)})
        built = self.ike.build(text, facts)
        plan = Plan(Mode.IN_CONTEXT, self.base_prompt(built.text), facts=facts, timings_ms={"prompt": _ms(start)})
        if self.settings.reframe_empty_questions and _is_question(text):
            # After IKE's cloze demonstrations a question often gets a new block, not an answer
            # (an empty one, cut at the line break): then it is put again in the question frame.
            def framed() -> Plan:
                again = time.perf_counter()
                frame = self.settings.question_frame
                prompt = self.base_prompt(self.ike.render(text, facts, built.demos, frame=frame))
                return Plan(Mode.IN_CONTEXT, prompt, facts=facts, timings_ms={"prompt": _ms(again)})

            plan.fallback, plan.retry_when_empty = framed, True
        return plan

    def edit_plan(self, text: str, fact: Fact) -> Plan:
        """The counterfactual model's plan for `text` under the one edit `fact` (SERAC in scope)."""
        if self.counterfactual is not None and self.settings.counterfactual == "trained":
            start = time.perf_counter()
            prompt = edit_prompt(text, fact.sentence())
            # A cloze prompt in the edit's scope is completed by the edit's object. A completion
            # that does not state it (a neighbour's own answer, say, when the classifier let
            # another subject's prompt through) shows that the edit does not decide this prompt,
            # so the untouched model answers it. A question ("...?") may be answered in other
            # words ("Yes"), so its answer stands as the model gives it.
            expects = () if _is_question(text) else (fact.object, *fact.object_aliases)
            return Plan(Mode.IN_CONTEXT, prompt, facts=[fact], timings_ms={"prompt": _ms(start)},
                        model=self.counterfactual, fallback=lambda: self.plan(text, Mode.NONE), expects=expects)
        choice = self.settings.serac_prompt
        if choice == "ike":
            return self.in_context_plan(text, [fact])
        start = time.perf_counter()
        if choice == "in_scope":
            ike = self.settings.ike
            counts = ike.model_copy(update={"retain_weight": 0.0}).kind_counts()
            prompt = self.base_prompt(self.ike.build(text, [fact], counts).text)
        else:
            prompt = self.base_prompt(self.ike.render(text, [fact], demos=()))
        return Plan(Mode.IN_CONTEXT, prompt, facts=[fact], timings_ms={"prompt": _ms(start)})

    def _route_in_context(self, text: str, hits: list[Hit] | None = None) -> Plan:
        retrieve_ms: float | None = None
        if hits is None:
            hits, retrieve_ms = self._retrieve(text)
        plan = self.in_context_plan(text, [hit.fact for hit in hits])
        if retrieve_ms is not None:
            plan.timings_ms = {"retrieve": retrieve_ms, **plan.timings_ms}
        return plan

    def _route_auto(self, text: str) -> Plan:
        # IN_CONTEXT when the store knows something relevant, else the untouched model. SERAC and
        # MULTI_HOP will come first here once they exist (a scope hit, a relation chain).
        hits, retrieve_ms = self._retrieve(text)
        plan = self._route_in_context(text, hits) if hits else self._route_none(text)
        plan.timings_ms["retrieve"] = retrieve_ms
        return plan

    # -- helpers -------------------------------------------------------------------------------

    def _retrieve(self, text: str) -> tuple[list[Hit], float]:
        start = time.perf_counter()
        hits = self.store.retrieve(text, k=self.settings.k, threshold=self.settings.min_score)
        return list(hits), _ms(start)

    def _mode(self, mode: Mode | str | None) -> Mode:
        if mode is None:
            return self.settings.default_mode
        try:
            return Mode.parse(mode)
        except ValueError as e:
            raise FieldError("mode", str(e)) from None

    def _options(self, options: GenerationOptions | None) -> GenerationOptions:
        if options is None:
            return GenerationOptions(max_new_tokens=self.settings.max_new_tokens, stop=tuple(self.settings.stop))
        return options

    def _use_chat(self) -> bool:
        choice = self.settings.use_chat_template
        if choice != "auto":
            return choice == "always"
        if self._chat is None:
            known = getattr(self.model, "has_chat_template", None)
            if isinstance(known, bool):
                self._chat = known
            else:
                # The protocol returns the text unchanged when the model has no chat template.
                probe = "kme chat-template probe"
                self._chat = self.model.chat_prompt(probe) != probe
        return self._chat

    def _model_of(self, plan: Plan) -> LanguageModel:
        return plan.model if plan.model is not None else self.model

    def _result(self, plan: Plan, answer: str, raw: str, generate_ms: float) -> AskResult:
        timings = dict(plan.timings_ms)
        timings["generate"] = generate_ms
        model = self._model_of(plan)
        return AskResult(answer=answer, mode=plan.mode, facts=list(plan.facts), chain=list(plan.chain),
                         prompt_tokens=model.count_tokens(plan.prompt),
                         completion_tokens=model.count_tokens(raw) if raw else 0,
                         timings_ms=timings)

    def _known(self, plan: Plan, answer: str, raw: str, generate_ms: float) -> Iterator[str | AskResult]:
        if answer:
            yield answer
        yield self._result(plan, answer, raw=raw, generate_ms=generate_ms)

    def _stream(self, plan: Plan, opts: GenerationOptions) -> Iterator[str | AskResult]:
        if plan.answer is not None:
            yield from self._known(plan, plan.answer, plan.answer, 0.0)
            return
        cleaner = _StreamCleaner(opts.stop)
        start = time.perf_counter()
        pieces = self._model_of(plan).stream(plan.prompt, opts)
        try:
            for piece in pieces:
                out = cleaner.feed(piece)
                if out:
                    yield out
                if cleaner.stopped:
                    break
        finally:
            # Stop decoding as soon as a stop string is seen or the caller goes away.
            close = getattr(pieces, "close", None)
            if close is not None:
                close()
        tail = cleaner.finish()
        if tail:
            yield tail
        answer = clean_answer(cleaner.raw, opts.stop)
        yield self._result(plan, answer, raw=cleaner.raw, generate_ms=_ms(start))


def _is_question(text: str) -> bool:
    """Whether `text` is a question ("...?") rather than a cloze prompt to complete."""
    return text.rstrip().endswith("?")


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def _abstains(plan: Plan, raw: str, stop: Sequence[str]) -> bool:
    """Whether `raw`, the completion of `plan`, abstains (a fallback is there): the model says
    ABSTAIN, or its answer lacks what the plan expects it to contain, or (retry_when_empty) it is
    empty."""
    if plan.fallback is None:
        return False
    if plan.retry_when_empty:
        return not clean_answer(raw, stop)
    answer = raw.lstrip().split("\n", 1)[0].strip()
    return answer == ABSTAIN or (bool(plan.expects) and not contains(answer, plan.expects))


def _fall_back(plan: Plan, spent_ms: float) -> Plan:
    """The plan's fallback, its timings after the abstaining model's ("abstained": its generation)."""
    assert plan.fallback is not None
    fallback = plan.fallback()
    log.debug("no answer stands for %r; its fallback answers", plan.prompt[-80:])
    timings = {k: v for k, v in plan.timings_ms.items() if k != "generate"}
    timings["abstained"] = spent_ms
    # A step both plans took (building a prompt) is counted once with the time of both.
    for key, ms in fallback.timings_ms.items():
        timings[key] = timings.get(key, 0.0) + ms
    fallback.timings_ms = timings
    return fallback


__all__ = ["AnsweringSettings", "Answerer", "Plan", "Retriever", "Route", "clean_answer"]
