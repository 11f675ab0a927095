"""The language-model backend on tiny random models: decoding, streaming, scoring, threads, loading."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from kme_server.answers import GenerationOptions  # noqa: E402
from kme_server.models import ModelSettings, load_model  # noqa: E402
from kme_server.models.decoding import IncrementalDecoder, find_stop, stop_prefix_len  # noqa: E402
from kme_server.models.hf import HFLanguageModel  # noqa: E402

PROMPTS = ["The capital of France is", "Q: who wrote Hamlet?\nA:", "x", "Caf\u00e9 \u00fcber alles"]
LONG = GenerationOptions(max_new_tokens=20, stop=())


def _byte_tokenizer(with_bos: bool) -> object:
    """A byte-level tokenizer without merges: ASCII is one token a character, "é" two."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>"]
    vocab = {token: index for index, token in enumerate(specials)}
    for char in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[char] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    if with_bos:  # like Gemma and Llama: every encoded prompt starts with <s>
        backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def _tiny_model(family: str, vocab_size: int) -> object:
    from transformers import AutoModelForCausalLM, Gemma3TextConfig, GPT2Config, LlamaConfig

    torch.manual_seed(0)
    common = {"vocab_size": vocab_size, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
    if family == "llama":
        config = LlamaConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=256, initializer_range=0.2, **common,
        )
    elif family == "gemma3":
        torch.manual_seed(1)  # seed 0 happens to give one prompt an empty greedy answer
        # Gemma 3's cache mixes sliding-window and full-attention layers (the default model's).
        config = Gemma3TextConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=8, max_position_embeddings=256, sliding_window=4,
            layer_types=["sliding_attention", "full_attention"], initializer_range=0.2, **common,
        )
    else:
        config = GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=256, initializer_range=0.2, **common)
    return AutoModelForCausalLM.from_config(config).eval()


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread (several spin-wait on a busy machine); restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module", params=["llama", "gpt2", "gemma3"])
def tiny_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random model saved as a local Hugging Face directory (Llama with BOS, GPT-2 without)."""
    tokenizer = _byte_tokenizer(with_bos=request.param == "llama")
    model = _tiny_model(request.param, len(tokenizer))
    path = tmp_path_factory.mktemp(f"tiny-{request.param}")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def lm(tiny_dir: Path) -> HFLanguageModel:
    # float32 pinned: the decoding tests compare cached, batched and manual decoding for equality,
    # which holds in float32 and not in bfloat16 (what "auto" picks on a CPU with bfloat16 support)
    return load_model(ModelSettings(name_or_path=str(tiny_dir), device="cpu", dtype="float32"))


def _manual_greedy(lm: HFLanguageModel, prompt: str, steps: int) -> str:
    """Reference decoding: a full forward pass per token, no cache, argmax of the last logits."""
    ids = list(lm.tokenizer(prompt).input_ids)
    start = len(ids)
    with torch.inference_mode():
        for _ in range(steps):
            token = int(lm.model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
            if token == lm.tokenizer.eos_token_id:
                break
            ids.append(token)
    return lm.tokenizer.decode(ids[start:], skip_special_tokens=True).rstrip("\ufffd")


def _manual_logprob(lm: HFLanguageModel, prompt: str, candidate: str) -> float:
    """Reference scoring: log-softmax over one unpadded sequence, summed over the candidate's tokens."""
    start = len(lm.tokenizer(prompt).input_ids)
    ids = lm.tokenizer(prompt + candidate).input_ids
    with torch.inference_mode():
        logprobs = torch.log_softmax(lm.model(input_ids=torch.tensor([ids])).logits[0].float(), dim=-1)
    return float(sum(logprobs[pos - 1, ids[pos]] for pos in range(start, len(ids))))


# -- decoding -------------------------------------------------------------------------------------


@pytest.mark.parametrize("prompt", PROMPTS)
def test_generate_is_deterministic_and_equals_manual_greedy(lm: HFLanguageModel, prompt: str) -> None:
    first = lm.generate(prompt, LONG)
    assert first == lm.generate(prompt, LONG)
    assert first == _manual_greedy(lm, prompt, LONG.max_new_tokens)
    assert first  # the tiny model does produce text, so the comparisons mean something


def test_max_new_tokens_bounds_the_completion(lm: HFLanguageModel) -> None:
    assert lm.generate("abc", GenerationOptions(max_new_tokens=0, stop=())) == ""
    # byte-level tokens: at most one character per ASCII token, a multi-byte one needs several
    assert len(lm.generate("abc", GenerationOptions(max_new_tokens=3, stop=()))) <= 3


def test_stop_string_cuts_the_completion(lm: HFLanguageModel) -> None:
    full = lm.generate(PROMPTS[0], LONG)
    stop = full[4:6]  # a stop string that does occur: cut at its first occurrence
    expected = full[: full.find(stop)]
    options = GenerationOptions(max_new_tokens=LONG.max_new_tokens, stop=("\u2603never", stop))
    assert lm.generate(PROMPTS[0], options) == expected
    assert "".join(lm.stream(PROMPTS[0], options)) == expected


def test_sampling_is_seeded(lm: HFLanguageModel) -> None:
    options = GenerationOptions(max_new_tokens=12, stop=(), temperature=1.5)
    assert lm.generate("abc", options) == lm.generate("abc", options)


@pytest.mark.parametrize("stop", [(), ("\n",), ("ab", "e")])
@pytest.mark.parametrize("prompt", PROMPTS)
def test_stream_concatenation_equals_generate(lm: HFLanguageModel, prompt: str, stop: tuple[str, ...]) -> None:
    options = GenerationOptions(max_new_tokens=20, stop=stop)
    pieces = list(lm.stream(prompt, options))
    assert "".join(pieces) == lm.generate(prompt, options)
    assert all(pieces)  # no empty pieces (a random model may emit invalid UTF-8: see the decoder test)


@pytest.mark.parametrize("stop", [("e",), ("a", "o"), ()])
def test_generate_batch_equals_generate(lm: HFLanguageModel, stop: tuple[str, ...]) -> None:
    # Rows end at different steps and leave the batch; the others must decode on unchanged.
    options = GenerationOptions(max_new_tokens=12, stop=stop)
    assert lm.generate_batch(PROMPTS, options) == [lm.generate(prompt, options) for prompt in PROMPTS]


# -- scoring --------------------------------------------------------------------------------------


def test_score_equals_manual_log_softmax_sum(lm: HFLanguageModel) -> None:
    prompt = PROMPTS[0]
    candidates = [" Paris", "Paris", " Rome is far", "\u00e9t\u00e9", ""]
    scores = lm.score(prompt, candidates)
    assert [s.candidate for s in scores] == candidates
    for score in scores:
        assert score.logprob == pytest.approx(_manual_logprob(lm, prompt, score.candidate), abs=1e-4)
    assert [s.tokens for s in scores] == [6, 5, 12, 5, 0]  # the leading space is a token of its own
    assert scores[-1].logprob == 0.0


def test_score_ranks_the_greedy_next_token_first(lm: HFLanguageModel) -> None:
    prompt = PROMPTS[1]
    best = lm.generate(prompt, GenerationOptions(max_new_tokens=1, stop=()))
    others = [c for c in "abcxyz Q?." if c != best]
    scores = lm.score(prompt, [*others, best])
    assert max(scores, key=lambda s: s.logprob).candidate == best


def test_generate_batch_chunks_by_generate_batch_size(tiny_dir: Path) -> None:
    lm = load_model(ModelSettings(name_or_path=str(tiny_dir), generate_batch_size=2, dtype="float32"))
    options = GenerationOptions(max_new_tokens=6, stop=())
    whole = HFLanguageModel(lm.model, lm.tokenizer, name="whole", generate_batch_size=len(PROMPTS))
    assert lm.generate_batch(PROMPTS, options) == whole.generate_batch(PROMPTS, options)


def test_score_with_an_empty_prompt_and_chunking(tiny_dir: Path) -> None:
    lm = load_model(ModelSettings(name_or_path=str(tiny_dir), score_batch_size=2, dtype="float32"))
    candidates = ["a", "bb", "ccc", "dddd", "e"]
    chunked = lm.score("", candidates)
    whole = HFLanguageModel(lm.model, lm.tokenizer, name="whole", score_batch_size=32).score("", candidates)
    assert [s.logprob for s in chunked] == pytest.approx([s.logprob for s in whole], abs=1e-5)
    assert all(s.logprob < 0 for s in chunked)


# -- threads, tokens, templates --------------------------------------------------------------------


def test_concurrent_calls_match_sequential(lm: HFLanguageModel) -> None:
    options = GenerationOptions(max_new_tokens=12, stop=())
    expected_text = {prompt: lm.generate(prompt, options) for prompt in PROMPTS}
    expected_score = {prompt: [s.logprob for s in lm.score(prompt, [" a", " bc"])] for prompt in PROMPTS}
    failures: list[str] = []

    def worker(index: int) -> None:
        prompt = PROMPTS[index % len(PROMPTS)]
        for _ in range(3):
            text = lm.generate(prompt, options) if index % 3 else "".join(lm.stream(prompt, options))
            if text != expected_text[prompt]:
                failures.append(f"text of {prompt!r}")
            if [s.logprob for s in lm.score(prompt, [" a", " bc"])] != expected_score[prompt]:
                failures.append(f"score of {prompt!r}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_count_tokens(lm: HFLanguageModel) -> None:
    bos = 1 if lm.tokenizer.bos_token_id in lm.tokenizer("a").input_ids else 0
    assert lm.count_tokens("abc") == 3 + bos
    assert lm.count_tokens("\u00e9") == 2 + bos


def test_chat_prompt_without_template_is_identity(lm: HFLanguageModel) -> None:
    assert lm.chat_prompt("What is the capital of France?") == "What is the capital of France?"


def test_chat_prompt_applies_the_template(tiny_dir: Path) -> None:
    lm = load_model(ModelSettings(name_or_path=str(tiny_dir)))
    lm.tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    assert lm.chat_prompt("hi") == "<|user|>hi\n<|assistant|>"


def test_prompt_starting_with_bos_gets_no_second_bos(tiny_dir: Path) -> None:
    lm = load_model(ModelSettings(name_or_path=str(tiny_dir)))
    if lm.tokenizer.bos_token_id not in lm.tokenizer("a").input_ids:
        pytest.skip("this tokenizer adds no BOS")
    assert lm.count_tokens("<s>abc") == lm.count_tokens("abc")


# -- text helpers -----------------------------------------------------------------------------------


def test_stop_helpers() -> None:
    assert find_stop("abc\ndef", ["\n", "c"]) == 2
    assert find_stop("abc", ["x", ""]) == -1
    assert stop_prefix_len("the end of Ans", ["Answer:"]) == 3
    assert stop_prefix_len("abc", ["x"]) == 0


def test_incremental_decoder_keeps_multibyte_characters_whole() -> None:
    tokenizer = _byte_tokenizer(with_bos=False)
    text = " caf\u00e9 \u2603!"
    ids = tokenizer(text).input_ids
    decoder = IncrementalDecoder(lambda t: tokenizer.decode(t), tokenizer("Q:").input_ids)
    seen = [decoder.text(ids[: n + 1]) for n in range(len(ids))]
    assert seen[-1] == text
    assert not any("\ufffd" in part for part in seen)
    assert all(later.startswith(earlier) for earlier, later in zip(seen, seen[1:]))


# -- settings and loading -----------------------------------------------------------------------------


def test_unknown_model_name_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_model(ModelSettings(name_or_path=str(tmp_path / "nothing"), cache_dir=tmp_path))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_without_a_gpu_is_an_error(tiny_dir: Path) -> None:
    with pytest.raises(RuntimeError):
        load_model(ModelSettings(name_or_path=str(tiny_dir), device="cuda"))


def test_auto_device_and_dtype() -> None:
    from kme_server.models.loading import resolve_device, resolve_dtype

    device = resolve_device("auto")
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_dtype("auto", torch.device("cpu"), cpu_flags=frozenset({"avx2", "avx512f"})) == torch.float32
    assert resolve_dtype("auto", torch.device("cpu"), cpu_flags=frozenset({"avx512f", "avx512_bf16"})) == torch.bfloat16
    assert resolve_dtype("auto", torch.device("cpu"), cpu_flags=frozenset({"amx_bf16"})) == torch.bfloat16
    assert resolve_dtype("float32", torch.device("cpu"), cpu_flags=frozenset({"avx512_bf16"})) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16


# -- the real models (slow; need `python -m kme_server.models.convert --model all`) --------------------


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["gemma3-270m", "smollm2-135m"])
def test_real_preset_knows_the_capital_of_france(preset: str) -> None:
    from kme_server.models.convert import is_converted

    cache_dir = Path(__file__).resolve().parents[1] / ".cache" / "models"
    if not is_converted(preset, cache_dir):
        pytest.skip(f"{preset} is not converted in {cache_dir}")
    lm = load_model(ModelSettings(name_or_path=preset, cache_dir=cache_dir))
    scores = lm.score("The capital of France is", [" London", " Paris", " Berlin", " the city of Paris"])
    assert max(scores, key=lambda s: s.logprob).candidate == " Paris"
    for score in scores:  # the prefix cache and padding agree with one plain forward pass
        expected = _manual_logprob(lm, "The capital of France is", score.candidate)
        assert score.logprob == pytest.approx(expected, abs=1e-3)
    assert "Paris" in lm.generate("Q: What is the capital of France?\nA:", GenerationOptions(max_new_tokens=8))
