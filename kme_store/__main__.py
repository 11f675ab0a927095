"""Command line of the store: `python -m kme_store import FILE --data DIR`, `retrieve`, `stats`."""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from typing import Any

from kme_store.errors import StoreError
from kme_store.settings import StoreSettings


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if hasattr(obj, "value") and not isinstance(obj, (int, float, str)):
        return obj.value
    return obj


def _parser() -> argparse.ArgumentParser:
    # The store options go with every command, so that they may stand before or after it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", required=True, help="the store's directory (created if absent)")
    common.add_argument("--embedding-model", help="sentence-transformers model name or path")
    common.add_argument("-v", "--verbose", action="store_true")
    ap = argparse.ArgumentParser(prog="python -m kme_store", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", parents=[common], help="import a file of facts or edit requests")
    imp.add_argument("file")
    imp.add_argument("--format", choices=["jsonl", "csv", "tsv", "json", "mquake", "counterfact", "zsre"])
    imp.add_argument("--strict", action="store_true", help="refuse the whole file if any line is bad")
    imp.add_argument("--world", action="store_true", help="MQuAKE: also import the original chains as facts")
    imp.add_argument("--progress", action="store_true", help="draw a progress bar on stderr")
    ret = sub.add_parser("retrieve", parents=[common], help="the facts relevant to a question")
    ret.add_argument("query")
    ret.add_argument("-k", type=int, default=5)
    ret.add_argument("--threshold", type=float)
    sub.add_parser("stats", parents=[common], help="counts of facts, entities, relations, batches")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    from kme_store.store import KnowledgeStore

    settings = StoreSettings(embedding_model=args.embedding_model)
    try:
        with KnowledgeStore(args.data, settings, read_only=args.command != "import") as store:
            if args.command == "import":
                bar = None
                if args.progress:
                    from tqdm import tqdm

                    bar = tqdm(unit=" lines", file=sys.stderr)
                callback = (lambda n: bar.update(n - bar.n)) if bar else None
                summary = store.import_file(args.file, args.format, strict=args.strict, world=args.world,
                                            progress=callback)
                if bar:
                    bar.close()
                out: Any = {**_jsonable(summary), "errors": [str(e) for e in summary.errors]}
            elif args.command == "retrieve":
                out = [{"score": round(h.score, 4), "fact": _jsonable(h.fact), "mention": h.mention}
                       for h in store.retrieve(args.query, args.k, args.threshold)]
            else:
                out = _jsonable(store.stats())
    except StoreError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
