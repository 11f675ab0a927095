"""`kme eval`: measure editing quality against a running service or an engine in this process.

    kme eval counterfact ../shared/data/counterfact/counterfact-val.json --json report.json
    kme eval zsre ../shared/data/zsre/zsre-dev.json --target 127.0.0.1:50051 --systems auto
    kme eval mquake-edits ../shared/data/mquake/mquake-cf-dev.json       (its single-hop rewrites)
    kme eval jsonl my-edits.jsonl
    kme eval mquake ../shared/data/mquake/mquake-cf-dev.json --settings edits,world --mello 30

Without --target, the engine runs here exactly as the server builds it (KME_ settings apply), on a
temporary store, and completes prompts in batches. With --target, everything goes through the
client, as a user's calls would; start that service on an empty data directory.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from kme_store.errors import FieldError

from kme_server.editing.serac.data import ZSRE_DEV
from kme_server.editing.serac.folds import Fold
from kme_server.evaluation import multi_hop, single_hop
from kme_server.evaluation.backends import Backend, ClientBackend, LocalBackend
from kme_server.evaluation.cases import load_cases, sample_cases, without_empty_targets
from kme_server.evaluation.report import multi_hop_table, single_hop_table

log = logging.getLogger("kme.eval")

SINGLE_HOP_FORMS = {"counterfact": "counterfact", "zsre": "zsre", "mquake-edits": "mquake", "jsonl": "jsonl"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kme eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=[*SINGLE_HOP_FORMS, "mquake"])
    parser.add_argument("file", type=Path)
    parser.add_argument("--limit", type=int, default=0, help="a seeded sample of this many records (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", help="host:port of a running service; default: an engine in this process")
    parser.add_argument("--token", help="bearer token of the service")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per call to the service")
    parser.add_argument("--json", type=Path, help="write the report (metrics and settings) here")
    parser.add_argument("--cases", type=Path, help="write every case's prompts, answers and verdicts here (JSONL)")
    group = parser.add_argument_group("single-hop datasets")
    group.add_argument("--systems", default=",".join(single_hop.SYSTEMS),
                       help="comma list of: none (no edits), facts (retrieved facts without demonstrations), "
                            "in_context, serac, auto (default: all the service serves)")
    group.add_argument("--no-scores", action="store_true", help="skip the probability metrics (Score calls)")
    group.add_argument("--fold", metavar="K/N",
                       help="store every record's edit, score only the records of fold K of N: the fold a "
                            "cross-fitted scope classifier was trained without (bench/run_quality.sh zsre-crossfit)")
    group.add_argument("--one-at-a-time", action="store_true",
                       help="store each edit alone, evaluate it, delete it (default: all edits stored at once)")
    group = parser.add_argument_group("mquake (multi-hop)")
    group.add_argument("--settings", default="edits,world",
                       help="comma list of: edits (edits only), world (edits and the cases' world facts); "
                            "with --target only one, and the service must be empty")
    group.add_argument("--distractors", type=Path,
                       help="another MQuAKE file whose world facts are stored too (a larger graph)")
    group.add_argument("--mello", type=int, default=0,
                       help="run the MeLLo-style baseline on a seeded sample (--seed) of N asked cases, reported "
                            "beside AUTO on the same cases (in-process only)")
    group.add_argument("--no-hop-wise", action="store_true", help="skip the hop-wise single-hop clozes")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    began = time.perf_counter()
    try:
        if args.dataset == "mquake":
            report, per_case = _run_multi_hop(args)
            table = multi_hop_table(report)
        else:
            report, per_case = _run_single_hop(args)
            table = single_hop_table(report)
    except (FieldError, OSError, ValueError) as error:  # bad input file: say which, store nothing more
        sys.stderr.write(f"kme eval: {error}\n")
        return 2
    report["seconds_total"] = round(time.perf_counter() - began, 1)
    sys.stdout.write(table + "\n")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    if args.cases:
        with args.cases.open("w", encoding="utf-8") as fh:
            for row in per_case:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0


def _describe(args: argparse.Namespace) -> dict[str, Any]:
    return {"dataset": args.dataset, "file": str(args.file), "limit": args.limit, "seed": args.seed,
            "backend": f"service at {args.target}" if args.target else "in-process"}


def _run_single_hop(args: argparse.Namespace) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    cases, skipped = without_empty_targets(
        sample_cases(load_cases(args.file, SINGLE_HOP_FORMS[args.dataset]), args.limit, args.seed))
    if skipped:
        log.warning("set aside %d record(s) whose new target is empty (no edit to store): case ids %s",
                    len(skipped), ", ".join(c.case_id for c in skipped))
    settings = single_hop.EvalSettings(systems=tuple(s.strip() for s in args.systems.split(",") if s.strip()),
                                       scores=not args.no_scores, one_at_a_time=args.one_at_a_time,
                                       fold=Fold.parse(args.fold, "--fold") if args.fold else None)
    with _Backends(args).open() as (backend, about):
        warning = training_overlap(Path(about["serac_dir"]) if about.get("serac_dir") else None, args.file, args.fold)
        if warning:
            log.warning("%s", warning)
        report = single_hop.evaluate(cases, backend, settings)
    return {**_describe(args), **about, **report.to_json(), "training_overlap": warning or "",
            "set_aside_empty_target": [c.case_id for c in skipped]}, report.per_case


def training_overlap(serac_dir: Path | None, evaluated: Path, fold: str | None) -> str | None:
    """A warning when the scope classifier in `serac_dir` trained on the records being evaluated.

    zsre-dev is the one evaluation set the classifier may train on; its training settings (in
    metrics.json) say which records: "all", "none", or "K/N" for all but that fold.
    """
    if serac_dir is None or evaluated.name != ZSRE_DEV.name:
        return None
    try:
        trained = json.loads((serac_dir / "metrics.json").read_text())["train_settings"].get("zsre", "none")
    except (OSError, ValueError, KeyError, AttributeError):
        return None
    if trained == "none" or (fold is not None and trained == fold):
        return None
    which = "every record" if trained == "all" else f"all records but fold {trained}"
    return (f"the scope classifier in {serac_dir} trained on {ZSRE_DEV.as_posix()} ({which}): these scores are "
            f"on its training records; score each fold with a classifier trained without it (--fold K/N, "
            f"bench/run_quality.sh zsre-crossfit)")


def _run_multi_hop(args: argparse.Namespace) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    cases = json.loads(args.file.read_text(encoding="utf-8"))
    asked = multi_hop.sample(cases, args.limit, args.seed)
    distractors = json.loads(args.distractors.read_text(encoding="utf-8")) if args.distractors else []
    names = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = [s for s in names if s not in ("edits", "world")]
    if unknown or not names:
        raise SystemExit(f"kme eval: --settings: unknown setting(s) {unknown}; use edits and/or world")
    if args.target and len(names) != 1:
        raise SystemExit("kme eval: --target: give one --settings (a service holds one store)")
    settings = multi_hop.MultiHopSettings(hop_wise=not args.no_hop_wise)
    report: dict[str, Any] = {**_describe(args), "settings": {}, "distractors": str(args.distractors or "")}
    per_case: list[dict[str, Any]] = []
    backends = _Backends(args)
    for name in names:
        with backends.open() as (backend, about):
            report.update(about)
            batches = multi_hop.stored_batches(cases, name == "world", distractors)
            for batch in batches:
                backend.add(batch)
            log.info("%s: stored %d facts in %d batches (world facts first, then the edits of %d cases)",
                     name, sum(map(len, batches)), len(batches), len(cases))
            row, rows = multi_hop.evaluate(backend, asked, settings)
            report["settings"][f"{name}/auto"] = row
            per_case += [{"setting": name, "system": "auto", **r} for r in rows]
            if args.mello and name == "edits":
                # A seeded sample, not the first N: the file is ordered by hop count, so its first
                # cases are all two-hop ones. AUTO's row on the same cases stands beside it.
                chosen = multi_hop.sample(asked, min(args.mello, len(asked)), args.seed)
                mello = _mello(backend, args)
                row, mello_rows = multi_hop.mello_evaluate(mello.answer, chosen)
                report["settings"][f"{name}/auto@mello"] = multi_hop.restricted(
                    rows, {c["case_id"] for c in chosen})
                report["settings"][f"{name}/mello"] = row
                per_case += [{"setting": name, "system": "mello", **r} for r in mello_rows]
    return report, per_case


def _mello(backend: Backend, args: argparse.Namespace) -> Any:
    from kme_server.evaluation.mello import MeLLo

    if not isinstance(backend, LocalBackend):
        raise SystemExit("kme eval: --mello runs in-process only (it prompts the model directly)")
    return MeLLo(backend.answerer.model, backend.store, args.file.parent / "MeLLo-prompt.txt")


class _Backends:
    """Opens a backend per store: the service, or an engine on a fresh temporary store.

    In-process, the model loads once and serves every store of the run (the multi-hop settings
    each need an empty one).
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._model: Any = None
        self._counterfactual: Any = None

    @contextlib.contextmanager
    def open(self) -> Iterator[tuple[Backend, dict[str, Any]]]:
        if self.args.target:
            from kme_client import KMEClient

            with KMEClient(self.args.target, timeout=self.args.timeout, token=self.args.token) as client:
                yield ClientBackend(client), {}
            return
        from kme_store.store import KnowledgeStore

        from kme_server.engine import build_engine, load_counterfactual
        from kme_server.models.loading import load_model
        from kme_server.settings import Settings

        settings = Settings()
        templates = self.args.file.parent / "cloze_templates.json"
        if self.args.dataset == "mquake" and settings.multihop.templates_dir is None and templates.is_file():
            # MQuAKE ships its relation templates beside its cases (KME_MULTIHOP__TEMPLATES_DIR wins).
            settings.multihop.templates_dir = templates.parent
        if self._model is None:
            self._model = load_model(settings.model)
            self._counterfactual = load_counterfactual(settings)
        with tempfile.TemporaryDirectory(prefix="kme-eval-") as tmp, \
                KnowledgeStore(Path(tmp) / "store", settings.store) as store:
            answerer = build_engine(settings, store, model=self._model, counterfactual=self._counterfactual)
            about = {"model": self._model.name, "modes": sorted(m.value for m in answerer.modes),
                     "counterfactual": answerer.counterfactual.name if answerer.counterfactual else None,
                     "serac_dir": str(settings.answering.serac_dir or "")}
            yield LocalBackend(answerer, store), about


if __name__ == "__main__":
    sys.exit(main())
