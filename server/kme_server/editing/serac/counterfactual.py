"""SERAC's counterfactual model: the base model fine-tuned to answer a question under one edit.

`python -m kme_server.editing.serac.counterfactual --data-dir D --out DIR [--zsre all|none|K/N]
[--zsre-negative-share F]` (`make serac`; `bench/run_quality.sh zsre-crossfit` trains one without
each half of zsre-dev).

SERAC (Mitchell et al. 2022) sends a question its scope classifier puts in an edit's scope to a
small model trained on (edit, question) -> answer. Here that model is the base language model
itself, fine-tuned on the scope classifier's positive pairs (editing/serac/data.py: the edit's own
prompt, CounterFact's loose rephrasings, other templates of the relation, questions, zsRE's
questions and their rephrasings), each put as

    New Fact: <the edit as a sentence>
    Prompt: <the question> <the edit's object>

which is IKE's prompt without demonstrations (Answerer.edit_plan renders the same). The prompted
base model follows the edit on the edit's own prompt but often not on a loose rephrasing
("X is known for" after an edit of X's occupation); the trained one has seen that such a question
asks for the edited object. No demonstrations also means prompts of ~30 tokens instead of ~175.

The classifier's hard negatives train too, answered with prompt.ABSTAIN ("(unchanged)"): the same
subject asked about another relation, another subject with the same relation, a question chained
through the edit's object. Where the classifier wrongly lets such a question through, the model,
a far larger reader of the pair than the classifier, can still say that the edit does not apply,
and the answerer then asks the untouched base model (Plan.fallback).

Only the transformer layers train: the token embeddings (tied to the output layer, 170M of Gemma
3 270M's 270M parameters) stay as they are, which keeps the optimizer small and the vocabulary's
meaning intact. The loss covers the answer's tokens and the newline that ends it.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from kme_store.errors import FieldError

from kme_server.editing.serac.data import (OTHER_SUBJECT, SAME_SUBJECT, THROUGH_OBJECT, ScopePair,
                                           build_pairs, sample, split_pairs, training_sources)
from kme_server.editing.serac.folds import Fold, records_to_train
from kme_server.editing.serac.prompt import ABSTAIN, edit_prompt
from kme_server.editing.serac.schedule import ProgressLog, linear_warmup_decay, optimizer_step

log = logging.getLogger(__name__)

MODEL_DIR = "counterfactual"  # under the SERAC directory, beside the scope classifier
_META = "kme-counterfactual.json"  # written last: a directory without it is an unfinished run


@dataclass(frozen=True, slots=True)
class Example:
    """One training sequence: the prompt, then the answer the edit implies."""

    prompt: str
    answer: str


@dataclass(frozen=True, slots=True)
class CounterfactualSettings:
    """One training run. The full run, zsRE included, took 1,108 s on 2 AVX-512 cores and 1,271 s on 2
    AVX2 cores, alone on the machine (the budget is 30 minutes; docs/BENCHMARKS.md)."""

    seed: int = 0
    examples: int = 2000  # in-scope pairs trained on (~0.3 s each on 2 CPU cores in float32)
    negatives: int = 1000  # hard negatives trained to abstain
    val_examples: int = 300  # held-out subjects' pairs of each label for the accuracies in the metrics
    val_fraction: float = 0.1  # the scope classifier's subject split, so validation subjects are unseen
    batch_size: int = 8
    # Batches cut from windows of this many batches' examples sorted by length, their order then
    # shuffled: a batch of random lengths pads to its longest (1.36x the examples' tokens on this
    # data), one of neighbours in length hardly at all (1.01x at 50). 1, the default: the shuffled
    # order cut as it is. Measured at 50 (docs/BENCHMARKS.md, session 17): 13% less time per step,
    # and a model whose CounterFact generalization through the service fell from 95.2% to 94.0%.
    length_window: int = 1
    lr: float = 3e-5
    warmup: float = 0.05
    threads: int = 2
    log_every: int = 25
    # zsre-dev's records, as the scope classifier's (train.TrainSettings.zsre): "all", "none", or
    # "K/N" for all but fold K (the cross-fitted benchmark). Their questions ("Which river is the
    # mouth of X?") are a style no other source has: without them the model abstained on 22 zsRE
    # rephrasings that the classifier had rightly let through. Every zsRE pair is taken, up to
    # `zsre_share` of `examples` (`zsre_negative_share` of `negatives`), on top of them: the other
    # sources' examples stay those of a run without zsRE, so what zsRE adds is all that changes.
    # zsRE's in-scope answers only (negative share 0), not its hard negatives: trained to abstain
    # on zsRE's negatives as well (share 0.2), the model abstained on 40 loose CounterFact
    # rephrasings it used to answer ("X's passport is a symbol of"), taking CounterFact
    # generalization below its target (docs/BENCHMARKS.md, sessions 7 and 8).
    zsre: str = "all"
    zsre_share: float = 0.2
    zsre_negative_share: float = 0.0

    def zsre_source(self) -> Fold | bool:
        return records_to_train(self.zsre)

    def zsre_cap(self, n: int, share: float | None = None) -> int:
        return int(n * (self.zsre_share if share is None else share))


QUICK = CounterfactualSettings(examples=16, negatives=8, val_examples=8, log_every=1)

# The negatives a scope classifier most often lets through; unrelated questions it rarely does.
HARD_NEGATIVES = (SAME_SUBJECT, OTHER_SUBJECT, THROUGH_OBJECT)


def in_scope(pairs: Sequence[ScopePair]) -> list[ScopePair]:
    return [p for p in pairs if p.label == 1]


def hard_negatives(pairs: Sequence[ScopePair]) -> list[ScopePair]:
    return [p for p in pairs if p.label == 0 and p.kind in HARD_NEGATIVES]


def examples_from(pairs: Sequence[ScopePair]) -> list[Example]:
    """The in-scope pairs as (prompt, the edit's object): a question in an edit's scope asks for it."""
    return [Example(edit_prompt(p.query, p.fact.sentence()), p.fact.object) for p in in_scope(pairs)]


def abstentions_from(pairs: Sequence[ScopePair]) -> list[Example]:
    """The hard negative pairs as (prompt, ABSTAIN): the edit does not answer the question."""
    return [Example(edit_prompt(p.query, p.fact.sentence()), ABSTAIN) for p in hard_negatives(pairs)]


def chosen(pairs: Sequence[ScopePair], n: int, settings: CounterfactualSettings, seed: int,
           share: float | None = None) -> list[ScopePair]:
    """A seeded sample of `n` pairs of the other sources, and on top every zsRE pair up to
    `share` of `n` (by default CounterfactualSettings.zsre_share)."""
    cap = settings.zsre_cap(n, share)
    # sample() takes everything for n <= 0, so a zero cap must take nothing here explicitly.
    zsre = sample([p for p in pairs if p.source == "zsre"], cap, seed) if cap > 0 else []
    return sample([p for p in pairs if p.source != "zsre"], n, seed) + zsre


def _batch(tokenizer, examples: Sequence[Example], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-padded ids, mask, and the answer tokens' labels (the sequences' last K positions)."""
    seqs, answer_lens = [], []
    for ex in examples:
        prompt = tokenizer(ex.prompt, add_special_tokens=True)["input_ids"]
        answer = tokenizer(" " + ex.answer + "\n", add_special_tokens=False)["input_ids"]
        seqs.append(prompt + answer)
        answer_lens.append(len(answer))
    width, k = max(map(len, seqs)), max(answer_lens)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    labels = torch.full((len(seqs), k), -100, dtype=torch.long)
    for i, (seq, n) in enumerate(zip(seqs, answer_lens)):
        ids[i, width - len(seq):] = torch.tensor(seq)
        mask[i, width - len(seq):] = 1
        labels[i, k - n:] = torch.tensor(seq[-n:])
    return ids, mask, labels


def answer_loss(model, tokenizer, examples: Sequence[Example], pad_id: int) -> torch.Tensor:
    """Mean cross-entropy of the answers' tokens given their prompts."""
    ids, mask, labels = _batch(tokenizer, examples, pad_id)
    k = labels.size(1)
    # Logits only where answer tokens are predicted: the output layer over Gemma's 262k-token
    # vocabulary would otherwise cost more than the rest of the model.
    logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device),
                   logits_to_keep=k + 1).logits[:, :-1]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)).float(),
                                             labels.to(model.device).reshape(-1), ignore_index=-100)


def length_batches(examples: Sequence[Example], lengths: Sequence[int] | None, batch_size: int, window: int,
                   seed: int) -> list[list[Example]]:
    """The examples shuffled (seeded) and cut into batches of `batch_size`.

    With `window` > 1, each run of `window` batches' examples is sorted by `lengths` (the
    examples' token counts) before it is cut, and the batches' order is shuffled again, so that a
    batch holds examples of about one length and the model still meets them in no order of length.
    """
    rng = random.Random(seed)
    order = list(range(len(examples)))
    rng.shuffle(order)
    if window > 1:
        if lengths is None or len(lengths) != len(examples):
            raise ValueError("length_window > 1 needs one length per example")
        span = window * batch_size
        order = [i for at in range(0, len(order), span)
                 for i in sorted(order[at:at + span], key=lambda i: lengths[i])]
    batches = [[examples[i] for i in order[at:at + batch_size]] for at in range(0, len(order), batch_size)]
    if window > 1:
        rng.shuffle(batches)
    return batches


def token_lengths(tokenizer, examples: Sequence[Example]) -> list[int]:
    """Each example's token count, prompt and answer tokenized as one text: its row in a batch, to
    within a token where _batch, which tokenizes them apart, splits the seam otherwise."""
    return [len(tokenizer(ex.prompt + " " + ex.answer + "\n")["input_ids"]) for ex in examples]


def train(model, tokenizer, examples: Sequence[Example], settings: CounterfactualSettings,
          progress: Callable[[int, int, float], None] | None = None, max_steps: int | None = None) -> list[float]:
    """Fine-tune `model` (a causal LM) in place on `examples`; returns the step losses.

    `max_steps` stops the run early, on the schedule of the whole run (a timing run's first steps).
    """
    torch.manual_seed(settings.seed)
    for name, p in model.named_parameters():
        if "embed" in name:
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    total = max(math.ceil(len(examples) / settings.batch_size), 1)
    sched = linear_warmup_decay(optim, total, settings.warmup)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    lengths = token_lengths(tokenizer, examples) if settings.length_window > 1 else None
    batches = length_batches(examples, lengths, settings.batch_size, settings.length_window, settings.seed)
    losses: list[float] = []
    model.train()
    for step, batch in enumerate(batches[:max_steps], 1):
        loss = answer_loss(model, tokenizer, batch, pad_id)
        losses.append(optimizer_step(loss, optim, sched, params))
        if progress:
            progress(step, total, losses[-1])
    model.eval()
    return losses


def training_examples(data_dir: Path, settings: CounterfactualSettings
                      ) -> tuple[list[Example], list[ScopePair], list[ScopePair]]:
    """The examples trained on, and the held-out subjects' in-scope pairs and hard negatives that
    validate the model (the scope classifier's subject split)."""
    pairs = build_pairs(data_dir, seed=settings.seed, zsre=settings.zsre_source())
    train_pairs, val_pairs = split_pairs(pairs, settings.val_fraction, settings.seed)
    train_in = chosen(in_scope(train_pairs), settings.examples, settings, settings.seed)
    train_out = chosen(hard_negatives(train_pairs), settings.negatives, settings, settings.seed,
                       settings.zsre_negative_share)
    val_in = chosen(in_scope(val_pairs), settings.val_examples, settings, settings.seed + 1)
    val_out = chosen(hard_negatives(val_pairs), settings.val_examples, settings, settings.seed + 1)
    return examples_from(train_in) + abstentions_from(train_out), val_in, val_out


def run(data_dir: Path, base: Path, out: Path, settings: CounterfactualSettings) -> dict:
    """The whole command: pairs, split, fine-tuning, validation answers, save. Returns the metrics."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from kme_server.models.hf import HFLanguageModel
    from kme_server.answers import GenerationOptions

    torch.set_num_threads(settings.threads)
    started = time.monotonic()
    train_examples, val_in_pairs, val_out_pairs = training_examples(data_dir, settings)
    val_in, val_out = examples_from(val_in_pairs), abstentions_from(val_out_pairs)
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    # float32 whatever the serving dtype: bfloat16 weights would round away small updates.
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, local_files_only=True)
    progress = ProgressLog(log, settings.log_every)
    losses = train(model, tokenizer, train_examples, settings, progress)
    # On unseen subjects, greedy as served: in scope, the answer contains the edit's object; a hard
    # negative, the model abstains.
    lm = HFLanguageModel(model, tokenizer, name=MODEL_DIR)
    options = GenerationOptions(max_new_tokens=16, stop=("\n",))
    answers = lm.generate_batch([ex.prompt for ex in val_in + val_out], options)
    follows = [ex.answer.lower() in a.lower() for ex, a in zip(val_in, answers)]
    followed = sum(follows)
    zsre_follows = [f for f, p in zip(follows, val_in_pairs) if p.source == "zsre"]
    abstained = sum(a.strip() == ABSTAIN for a in answers[len(val_in):])
    wrongly_abstained = sum(a.strip() == ABSTAIN for a in answers[:len(val_in)])
    metrics = {"validation_in_scope_follows_edit": followed / max(len(val_in), 1),
               "validation_in_scope_abstains": wrongly_abstained / max(len(val_in), 1),
               "validation_zsre_in_scope_follows_edit": sum(zsre_follows) / max(len(zsre_follows), 1),
               "validation_zsre_in_scope": len(zsre_follows),
               "validation_hard_negative_abstains": abstained / max(len(val_out), 1),
               "validation_examples": [len(val_in), len(val_out)], "train_examples": len(train_examples),
               "final_loss": sum(losses[-20:]) / max(len(losses[-20:]), 1),
               "settings": asdict(settings), "base": str(base), "seconds": time.monotonic() - started,
               "sources": training_sources(settings.zsre)}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / _META).write_text(json.dumps(metrics, indent=1))
    log.info("validation: %d/%d in-scope answers follow the edit, %d/%d hard negatives abstain; saved to %s "
             "in %.0f s", followed, len(val_in), abstained, len(val_out), out, metrics["seconds"])
    return metrics


def is_trained(path: Path) -> bool:
    """Whether a finished training run left a model in `path`."""
    return (Path(path) / _META).is_file() and (Path(path) / "config.json").is_file()


def main(argv: list[str] | None = None) -> int:
    from kme_server.models.loading import model_dir
    from kme_server.models.settings import ModelSettings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True, help="the benchmark data (../shared/data)")
    ap.add_argument("--out", type=Path, required=True, help="where the model goes (SERAC_DIR/counterfactual)")
    ap.add_argument("--base", default="gemma3-270m", help="preset or Hugging Face directory to fine-tune")
    ap.add_argument("--cache-dir", type=Path, default=ModelSettings().cache_dir, help="converted presets")
    ap.add_argument("--quick", action="store_true", help="a tiny run for CI")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--zsre-negative-share", type=float, default=CounterfactualSettings().zsre_negative_share,
                    help="zsRE hard negatives (trained to abstain) as a share of the negatives; 0: none")
    ap.add_argument("--zsre", default=CounterfactualSettings().zsre,
                    help='zsre-dev records to train on: "all" (the service\'s model), "none", or "K/N": all but '
                         'fold K of N, for the cross-fitted benchmark (bench/run_quality.sh zsre-crossfit)')
    ap.add_argument("--length-window", type=int, default=CounterfactualSettings().length_window,
                    help="batches per window of examples sorted by length; 1: no sorting (the default)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = QUICK if args.quick else CounterfactualSettings()
    settings = CounterfactualSettings(**{**asdict(settings), "seed": args.seed, "zsre": args.zsre,
                                         "zsre_negative_share": args.zsre_negative_share,
                                         "length_window": args.length_window})
    if not 0.0 <= settings.zsre_negative_share <= 1.0:
        ap.error(f"--zsre-negative-share: {settings.zsre_negative_share} is not a share between 0 and 1")
    if settings.length_window < 1:
        ap.error(f"--length-window: {settings.length_window} is not a number of batches (at least 1)")
    try:
        settings.zsre_source()  # a bad --zsre fails here, before minutes of loading and pair building
    except FieldError as error:
        ap.error(f"--{error}")
    base = model_dir(ModelSettings(name_or_path=args.base, cache_dir=args.cache_dir))
    run(args.data_dir, base, args.out, settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["CounterfactualSettings", "Example", "HARD_NEGATIVES", "MODEL_DIR", "QUICK", "abstentions_from",
           "answer_loss", "chosen", "examples_from", "hard_negatives", "in_scope", "is_trained", "length_batches",
           "run", "token_lengths", "train", "training_examples"]
