"""HFLanguageModel: a Hugging Face causal LM behind the LanguageModel interface."""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import torch

from kme_server.answers import CandidateScore, GenerationOptions
from kme_server.models.decoding import IncrementalDecoder, find_stop, stop_prefix_len

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

# End-of-turn tokens of common chat formats: decoding stops at them like at EOS.
_END_TOKENS = ("<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|endoftext|>", "</s>", "<eos>")


class HFLanguageModel:
    """Greedy (or seeded sampled) decoding, streaming and candidate scoring with a KV cache.

    Concurrency: one threading.Lock guards every forward pass, not whole requests. Requests from
    many threads therefore never run the model side by side, yet interleave step by step: a long
    generation does not starve short ones, and a stream whose consumer stalls (a slow gRPC
    client) holds no lock between pieces. Each request keeps its own KV cache, so results do not
    depend on what runs beside it.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        name: str,
        seed: int = 0,
        generate_batch_size: int = 128,
        score_batch_size: int = 32,
    ) -> None:
        self.name = name
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.device = next(model.parameters()).device
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()
        self._seed = seed
        self._generate_batch_size = generate_batch_size
        self._score_batch_size = score_batch_size
        self._eos_ids = _end_token_ids(model, tokenizer)
        # Padding is masked out, so any id works; models without a pad token reuse an end token.
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self._eos_ids, default=0)
        # A token to condition on when a prompt encodes to nothing (GPT-2 adds no BOS).
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        self._start_id: int = start if start is not None else self._pad_id

    # -- the LanguageModel interface ------------------------------------------------------------

    def generate(self, prompt: str, options: GenerationOptions = GenerationOptions()) -> str:
        """The completion of `prompt` (prompt excluded), cut at the first stop string."""
        return "".join(self.stream(prompt, options))

    def stream(self, prompt: str, options: GenerationOptions = GenerationOptions()) -> Iterator[str]:
        """The same completion as generate(), as text pieces while they are decoded.

        A piece is yielded only when it is final: text that might still become a stop string, or
        half of a multi-token character, waits for the next tokens.
        """
        _check_options(options)
        prompt_ids = self._prompt_ids(prompt)
        decoder = IncrementalDecoder(self._decode, prompt_ids)
        stops = tuple(stop for stop in options.stop if stop)
        sampler = self._sampler(options)
        generated: list[int] = []
        emitted = 0
        step_ids = torch.tensor([prompt_ids], device=self.device)
        cache: Any = None
        for _ in range(options.max_new_tokens):
            logits, cache = self._forward(step_ids, cache)
            token = int(self._pick(logits, options.temperature, sampler)[0])
            if token in self._eos_ids:
                break
            generated.append(token)
            text = decoder.text(generated)
            cut = find_stop(text, stops)
            if cut >= 0:
                if cut > emitted:
                    yield text[emitted:cut]
                return
            ready = len(text) - stop_prefix_len(text, stops)
            if ready > emitted:
                yield text[emitted:ready]
                emitted = ready
            step_ids = torch.tensor([[token]], device=self.device)
        rest = decoder.text(generated)[emitted:]
        if rest:
            yield rest

    def score(self, prompt: str, candidates: Sequence[str]) -> list[CandidateScore]:
        """Summed log-probability of each candidate's tokens as the continuation of `prompt`.

        The candidate's tokens are those of encode(prompt + candidate) after its common prefix
        with encode(prompt), so a leading space belongs to the candidate and a token that merges
        across the boundary is counted as the candidate's. The shared prefix runs once; the
        candidates then run as one right-padded batch on copies of its KV cache.
        """
        if not candidates:
            return []
        prompt_ids = self._prompt_ids(prompt, allow_empty=True)
        sequences = [self._prompt_ids(prompt + candidate, allow_empty=True) for candidate in candidates]
        starts = [_common_prefix_len(prompt_ids, seq) for seq in sequences]
        if min(starts) == 0:  # nothing to condition the first token on: begin with a start token
            sequences = [[self._start_id, *seq] for seq in sequences]
            starts = [start + 1 for start in starts]
        results: list[CandidateScore] = []
        for first in range(0, len(candidates), self._score_batch_size):
            chunk = slice(first, first + self._score_batch_size)
            logprobs = self._score_chunk(sequences[chunk], starts[chunk])
            for candidate, seq, start, logprob in zip(candidates[chunk], sequences[chunk], starts[chunk], logprobs):
                results.append(CandidateScore(candidate=candidate, logprob=logprob, tokens=len(seq) - start))
        return results

    def count_tokens(self, text: str) -> int:
        """Number of tokens of `text` as a prompt (a BOS the tokenizer adds included)."""
        return len(self._prompt_ids(text, allow_empty=True))

    def chat_prompt(self, user_text: str) -> str:
        """`user_text` wrapped in the model's chat template, or unchanged if it has none."""
        if not getattr(self.tokenizer, "chat_template", None):
            return user_text
        messages = [{"role": "user", "content": user_text}]
        return str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))

    # -- beyond the interface -------------------------------------------------------------------

    def generate_batch(self, prompts: Sequence[str], options: GenerationOptions = GenerationOptions()) -> list[str]:
        """generate() for many prompts, left-padded into batches of up to generate_batch_size.

        Greedy results equal generate()'s up to float rounding in padded rows; sampled results
        differ from generate()'s because one seeded stream of random numbers serves the batch.
        """
        _check_options(options)
        results: list[str] = []
        for first in range(0, len(prompts), self._generate_batch_size):
            results.extend(self._generate_chunk(prompts[first : first + self._generate_batch_size], options))
        return results

    # -- internals ------------------------------------------------------------------------------

    def _prompt_ids(self, text: str, *, allow_empty: bool = False) -> list[int]:
        """Token ids of a prompt, with the tokenizer's special tokens unless it already has BOS.

        Chat templates (Gemma's among them) write the BOS as text; adding another would give the
        model two and change its answers.
        """
        bos = self.tokenizer.bos_token
        has_bos = bool(bos) and text.startswith(bos)
        with self._encode_lock:
            ids = list(self.tokenizer(text, add_special_tokens=not has_bos).input_ids)
        if not ids and not allow_empty:
            ids = [self._start_id]
        return ids

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def _sampler(self, options: GenerationOptions) -> torch.Generator | None:
        if options.temperature <= 0:
            return None
        return torch.Generator(device=self.device).manual_seed(self._seed)

    @staticmethod
    def _pick(logits: torch.Tensor, temperature: float, sampler: torch.Generator | None) -> torch.Tensor:
        """Next token per row: argmax, or a draw from softmax(logits / temperature).

        The greedy pick reads the logits in the model's dtype: widening bfloat16 to float32 is
        exact, so the token is the same without the copy. It is max().indices, not argmax(): both
        return the first of tied maxima, and on a 128 x 262k bfloat16 batch (Gemma 3's vocabulary)
        max took 17 ms on a two-core CPU where argmax took 72 and float().argmax 65.
        """
        if sampler is None:
            return logits.max(dim=-1).indices
        probs = torch.softmax(logits.float() / temperature, dim=-1)
        return torch.multinomial(probs, 1, generator=sampler).squeeze(-1)

    def _forward(
        self,
        input_ids: torch.Tensor,
        cache: Any,
        *,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        last_only: bool = True,
    ) -> tuple[torch.Tensor, Any]:
        """One forward pass under the lock; logits in the model's dtype (of the last position if
        last_only): callers that normalize them widen them to float32 first."""
        with self._lock, torch.inference_mode():
            out = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                past_key_values=cache,
                use_cache=True,
                # only the last position's logits: Gemma's 262k vocabulary makes the rest costly
                logits_to_keep=1 if last_only else 0,
            )
        logits = out.logits[:, -1, :] if last_only else out.logits
        return logits, out.past_key_values

    def _score_chunk(self, sequences: list[list[int]], starts: list[int]) -> list[float]:
        """Summed log-probabilities of sequences[i][starts[i]:] given what precedes them."""
        shared = min(starts)
        prefix = torch.tensor([sequences[0][:shared]], device=self.device)
        first_logits, cache = self._forward(prefix, None)
        first_logits = first_logits.float()
        tails = [seq[shared:] for seq in sequences]
        width = max(len(tail) for tail in tails)
        if width == 0:
            return [0.0 for _ in sequences]
        batch = len(sequences)
        with torch.inference_mode():  # the cache holds inference tensors
            cache.batch_repeat_interleave(batch)
        ids = torch.full((batch, width), self._pad_id, dtype=torch.long, device=self.device)
        mask = torch.zeros((batch, shared + width), dtype=torch.long, device=self.device)
        mask[:, :shared] = 1
        for row, tail in enumerate(tails):
            ids[row, : len(tail)] = torch.tensor(tail, device=self.device)
            mask[row, shared : shared + len(tail)] = 1
        positions = torch.arange(shared, shared + width, device=self.device).expand(batch, width)
        logits, _ = self._forward(ids, cache, attention_mask=mask, position_ids=positions, last_only=False)
        logits = logits.float()
        # distribution of the token at index shared + j: the prefix's last logits for j = 0,
        # the batch's logits at j - 1 after that
        dists = torch.cat([first_logits.expand(batch, -1).unsqueeze(1), logits[:, :-1, :]], dim=1)
        logprobs = torch.log_softmax(dists, dim=-1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)
        totals = []
        for row, (tail, start) in enumerate(zip(tails, starts)):
            totals.append(float(logprobs[row, start - shared : len(tail)].sum()))
        return totals

    def _generate_chunk(self, prompts: Sequence[str], options: GenerationOptions) -> list[str]:
        """Batched greedy/sampled decoding of a few prompts; see generate_batch()."""
        encoded = [self._prompt_ids(prompt) for prompt in prompts]
        batch, width = len(encoded), max(len(ids) for ids in encoded)
        # left padding: every row's next token comes out of the last column
        ids = torch.full((batch, width), self._pad_id, dtype=torch.long, device=self.device)
        mask = torch.zeros((batch, width), dtype=torch.long, device=self.device)
        for row, prompt_ids in enumerate(encoded):
            ids[row, width - len(prompt_ids) :] = torch.tensor(prompt_ids, device=self.device)
            mask[row, width - len(prompt_ids) :] = 1
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        decoders = [IncrementalDecoder(self._decode, prompt_ids) for prompt_ids in encoded]
        stops = tuple(stop for stop in options.stop if stop)
        sampler = self._sampler(options)
        generated: list[list[int]] = [[] for _ in encoded]
        texts = ["" for _ in encoded]
        done = [False] * batch
        cache: Any = None
        active = list(range(batch))  # original rows still decoding, in cache order
        for _ in range(options.max_new_tokens):
            logits, cache = self._forward(ids, cache, attention_mask=mask, position_ids=positions)
            tokens = self._pick(logits, options.temperature, sampler).tolist()
            for row, token in zip(active, tokens):
                if done[row]:  # a finished row the cache could not drop
                    continue
                if token in self._eos_ids:
                    done[row] = True
                    continue
                generated[row].append(token)
                texts[row] = decoders[row].text(generated[row])
                cut = find_stop(texts[row], stops)
                if cut >= 0:
                    texts[row], done[row] = texts[row][:cut], True
            if all(done):
                break
            keep = [i for i, row in enumerate(active) if not done[row]]
            if len(keep) < len(active) and hasattr(cache, "batch_select_indices"):
                # Finished rows leave the batch: with a 262k-token vocabulary (Gemma 3) every row
                # costs a large LM-head product per step, and short answers end early.
                index = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(index)
                mask, positions = mask[index], positions[index]
                active, tokens = [active[i] for i in keep], [tokens[i] for i in keep]
            ids = torch.tensor([[token] for token in tokens], device=self.device)
            mask = torch.cat([mask, torch.ones((len(active), 1), dtype=mask.dtype, device=self.device)], dim=1)
            positions = positions[:, -1:] + 1
        return texts


def _check_options(options: GenerationOptions) -> None:
    if options.max_new_tokens < 0:
        raise ValueError("max_new_tokens must be >= 0")
    if options.temperature < 0:
        raise ValueError("temperature must be >= 0")


def _common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    size = 0
    for left, right in zip(a, b):
        if left != right:
            break
        size += 1
    return size


def _end_token_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> frozenset[int]:
    """Ids that end a completion: EOS of the tokenizer, config and generation config, and end-of-turn tokens."""
    ids: set[int] = set()
    for value in (
        tokenizer.eos_token_id,
        getattr(model.generation_config, "eos_token_id", None),
        getattr(model.config, "eos_token_id", None),
    ):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(v for v in value if isinstance(v, int))
    # only special (added) tokens: Gemma's vocabulary also holds "</s>" as ordinary text
    added = tokenizer.get_added_vocab()
    ids.update(added[token] for token in _END_TOKENS if token in added)
    return frozenset(ids)
