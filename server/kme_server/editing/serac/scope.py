"""SERAC's scope classifier: a cross-encoder that says whether a query falls in a fact's scope."""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from kme_store.facts import Fact

log = logging.getLogger(__name__)

_CONFIG = "scope.json"
_HEAD = "head.pt"


@dataclass(frozen=True, slots=True)
class ScopeSettings:
    """How the classifier reads its input and decides."""

    threshold: float = 0.5  # probability at or above which a query is in a fact's scope
    max_length: int = 64  # tokens of "query [SEP] fact"; longer pairs lose the start of the query
    batch_size: int = 32  # pairs per forward pass at inference
    device: str = "cpu"  # torch device; the server passes its own

    @classmethod
    def from_dict(cls, data: dict) -> ScopeSettings:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def fact_text(fact: Fact) -> str:
    """What the classifier sees of a fact: the edit stated in its prompt's own words."""
    return fact.sentence()


@dataclass(frozen=True, slots=True)
class ScopeMatch:
    """The candidate fact most likely to govern a query, and that probability."""

    fact: Fact
    probability: float
    in_scope: bool  # probability >= the classifier's threshold


def mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of each sequence's token states over its real tokens (padding masked out).

    The MiniLM sentence model was trained to pool this way, so its states carry meaning averaged
    over tokens rather than in [CLS].
    """
    m = mask.unsqueeze(-1).to(states.dtype)
    return (states * m).sum(1) / m.sum(1).clamp(min=1.0)


class ScopeHead(nn.Module):
    """Mean-pooled encoder states of the pair, then one logit (in scope)."""

    def __init__(self, hidden_size: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(hidden_size, 1)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(mean_pool(states, mask))).squeeze(-1)


class ScopeClassifier(nn.Module):
    """A BERT encoder over "query [SEP] fact sentence" with a logistic head.

    `scores` runs in eval mode without gradients and leaves the module's train/eval mode as it
    found it, so it can be called between training steps.
    """

    def __init__(self, encoder: nn.Module, tokenizer, settings: ScopeSettings = ScopeSettings()) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.settings = settings
        self.head = ScopeHead(encoder.config.hidden_size)
        self.to(torch.device(settings.device))

    # Construction and persistence ------------------------------------------------------------

    @classmethod
    def from_encoder(cls, path: str | Path, settings: ScopeSettings = ScopeSettings()) -> ScopeClassifier:
        """A fresh classifier on a pretrained encoder directory (e.g. all-MiniLM-L6-v2's)."""
        from transformers import AutoModel, AutoTokenizer

        return cls(AutoModel.from_pretrained(str(path)), AutoTokenizer.from_pretrained(str(path)), settings)

    @classmethod
    def load(cls, directory: str | Path, device: str | None = None) -> ScopeClassifier:
        """The classifier saved by `save` in `directory`; raises FileNotFoundError if none is there."""
        from transformers import AutoModel, AutoTokenizer

        directory = Path(directory)
        config_path = directory / _CONFIG
        if not config_path.is_file():
            raise FileNotFoundError(f"no scope classifier in {directory} (missing {_CONFIG})")
        settings = ScopeSettings.from_dict(json.loads(config_path.read_text())["settings"])
        if device is not None:
            settings = replace(settings, device=device)
        model = cls(AutoModel.from_pretrained(str(directory)), AutoTokenizer.from_pretrained(str(directory)),
                    settings)
        state = torch.load(directory / _HEAD, map_location=settings.device, weights_only=True)
        model.head.load_state_dict(state)
        model.eval()
        return model

    def save(self, directory: str | Path, extra: dict | None = None) -> None:
        """Write encoder, tokenizer, head and settings (with `extra` metadata) to `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.encoder.save_pretrained(str(directory))
        self.tokenizer.save_pretrained(str(directory))
        torch.save(self.head.state_dict(), directory / _HEAD)
        config = {"settings": asdict(self.settings), **(extra or {})}
        (directory / _CONFIG).write_text(json.dumps(config, indent=1))

    def with_threshold(self, threshold: float) -> ScopeClassifier:
        self.settings = replace(self.settings, threshold=float(threshold))
        return self

    # Inference ------------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return next(self.head.parameters()).device

    def _query_tail(self, query: str, fact: str) -> str:
        # A long query keeps its end: CounterFact puts unrelated text before the prompt, and the
        # subject and relation sit at the end, where the tokenizer's own truncation would cut.
        budget = self.settings.max_length - 3
        q = self.tokenizer(query, add_special_tokens=False)["input_ids"]
        f = self.tokenizer(fact, add_special_tokens=False)["input_ids"]
        if len(q) + len(f) <= budget:
            return query
        keep = max(budget - len(f), budget // 2)
        return self.tokenizer.decode(q[-keep:])

    def encode(self, queries: Sequence[str], facts: Sequence[str]) -> dict[str, torch.Tensor]:
        queries = [self._query_tail(q, f) for q, f in zip(queries, facts)]
        batch = self.tokenizer(queries, list(facts), padding=True, truncation="longest_first",
                               max_length=self.settings.max_length, return_tensors="pt")
        return {k: v.to(self.device) for k, v in batch.items()}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits (in scope) of a tokenized batch of pairs."""
        states = self.encoder(**batch).last_hidden_state
        return self.head(states, batch["attention_mask"])

    def pair_scores(self, queries: Sequence[str], facts: Sequence[str]) -> list[float]:
        """Probability in scope of each (query, fact text) pair, in batches."""
        if len(queries) != len(facts):
            raise ValueError(f"{len(queries)} queries for {len(facts)} facts")

        def batch(i: int, j: int) -> list[float]:
            return torch.sigmoid(self(self.encode(queries[i:j], facts[i:j])).float()).tolist()

        return self._in_batches(len(queries), batch)

    def sentence_embeddings(self, texts: Sequence[str]) -> list[list[float]]:
        """The encoder's mean-pooled states of each text alone: before fine-tuning, the sentence
        embeddings of the pretrained model (all-MiniLM-L6-v2 pools this way)."""
        def batch(i: int, j: int) -> list[list[float]]:
            enc = self.tokenizer(list(texts[i:j]), padding=True, truncation=True,
                                 max_length=self.settings.max_length, return_tensors="pt").to(self.device)
            return mean_pool(self.encoder(**enc).last_hidden_state, enc["attention_mask"]).float().tolist()

        return self._in_batches(len(texts), batch)

    def _in_batches(self, n: int, batch: Callable[[int, int], list]) -> list:
        """`batch(i, j)` over items [0, n) in slices of the batch size, concatenated; in eval mode
        without gradients, leaving the module's train/eval mode as it found it."""
        was_training = self.training
        self.eval()
        out: list = []
        try:
            with torch.inference_mode():
                step = self.settings.batch_size
                for i in range(0, n, step):
                    out += batch(i, i + step)
        finally:
            self.train(was_training)
        return out

    def scores(self, query: str, facts: Sequence[Fact]) -> list[float]:
        """Probability that `query` is in the scope of each fact, in the facts' order."""
        return self.pair_scores([query] * len(facts), [fact_text(f) for f in facts])

    def best(self, query: str, facts: Sequence[Fact]) -> ScopeMatch | None:
        """The most likely in-scope fact with its probability; None when there are no facts.

        The match says whether it clears the threshold: the caller routes to the counterfactual
        model only then, and to the untouched base model otherwise.
        """
        if not facts:
            return None
        probs = self.scores(query, facts)
        i = max(range(len(facts)), key=probs.__getitem__)
        return ScopeMatch(facts[i], probs[i], probs[i] >= self.settings.threshold)


def choose_threshold(probs: Sequence[float], labels: Sequence[int],
                     candidates: Sequence[float] | None = None) -> tuple[float, float]:
    """The threshold that maximizes balanced accuracy on validation pairs, and that accuracy.

    Balanced accuracy (mean of recall on in-scope and out-of-scope pairs) does not depend on how
    many negatives of each kind were built. Ties go to the highest threshold: when two thresholds
    do equally well, the stricter one protects locality.
    """
    if len(probs) != len(labels) or not probs:
        raise ValueError("need as many labels as probabilities, and at least one")
    pos = sum(1 for y in labels if y)
    neg = len(labels) - pos
    grid = sorted(set(candidates if candidates is not None else [i / 100 for i in range(1, 100)]))
    best_t, best_v = grid[0], -1.0
    for t in grid:
        tp = sum(1 for p, y in zip(probs, labels) if y and p >= t)
        tn = sum(1 for p, y in zip(probs, labels) if not y and p < t)
        value = 0.5 * ((tp / pos if pos else 1.0) + (tn / neg if neg else 1.0))
        if value >= best_v:
            best_t, best_v = t, value
    return best_t, best_v


def choose_threshold_by_kind(probs: Sequence[float], labels: Sequence[int], kinds: Sequence[str],
                             candidates: Sequence[float] | None = None) -> tuple[float, float]:
    """The threshold that maximizes the accuracy of the worst kind of pair, and that accuracy.

    The service must meet every measure at once (rephrasings accepted, same-subject questions on
    other relations rejected, ...): a threshold that is excellent on average but poor on one kind
    fails that measure. Ties go to the highest threshold, which protects locality.
    """
    if not (len(probs) == len(labels) == len(kinds)) or not probs:
        raise ValueError("need as many labels and kinds as probabilities, and at least one")
    by_kind: dict[str, list[tuple[float, int]]] = {}
    for p, y, k in zip(probs, labels, kinds):
        by_kind.setdefault(k, []).append((p, y))
    grid = sorted(set(candidates if candidates is not None else [i / 100 for i in range(1, 100)]))
    best_t, best_v = grid[0], -1.0
    for t in grid:
        worst = min(sum(1 for p, y in rows if (p >= t) == bool(y)) / len(rows) for rows in by_kind.values())
        if worst >= best_v:
            best_t, best_v = t, worst
    return best_t, best_v


def metrics_at(probs: Sequence[float], labels: Sequence[int], threshold: float) -> dict[str, float]:
    """Accuracy, precision, recall and balanced accuracy of `probs >= threshold`."""
    tp = sum(1 for p, y in zip(probs, labels) if y and p >= threshold)
    fp = sum(1 for p, y in zip(probs, labels) if not y and p >= threshold)
    fn = sum(1 for p, y in zip(probs, labels) if y and p < threshold)
    tn = len(labels) - tp - fp - fn
    pos, neg = tp + fn, tn + fp
    return {"threshold": threshold, "pairs": len(labels),
            "accuracy": (tp + tn) / max(len(labels), 1),
            "precision": tp / max(tp + fp, 1), "recall": tp / max(pos, 1),
            "specificity": tn / max(neg, 1),
            "balanced_accuracy": 0.5 * (tp / max(pos, 1) + tn / max(neg, 1))}
