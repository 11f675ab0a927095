"""`kme`: the command line, a thin layer over KMEClient (and `kme serve` over kme_server)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from enum import Enum
from typing import Any, Callable, Sequence

from kme_client.errors import (DeadlineExceeded, InvalidArgument, KMEError, NotFound, ResourceExhausted,
                               Unauthenticated, Unavailable)

EXIT_CODES: list[tuple[type[KMEError], int]] = [
    (InvalidArgument, 2), (NotFound, 3), (Unauthenticated, 4), (Unavailable, 5), (DeadlineExceeded, 6),
    (ResourceExhausted, 7),
]
EPILOG = ("exit codes: 0 ok, 1 other error, 2 invalid input, 3 not found, 4 unauthenticated, 5 unavailable, "
          "6 deadline exceeded, 7 limit exceeded; `kme health` exits 1 when the server is not SERVING")


def _client(args: argparse.Namespace) -> Any:
    from kme_client.sync import KMEClient

    tls: Any = args.root_cert or args.tls
    return KMEClient(args.target, timeout=args.timeout, token=args.token, tls=tls)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _emit(args: argparse.Namespace, value: Any, text: Callable[[Any], str]) -> None:
    print(json.dumps(_jsonable(value), ensure_ascii=False, indent=None if getattr(args, "compact", False) else 1)
          if getattr(args, "json", False) else text(value))


def _usage(message: str) -> int:
    print(f"kme add: {message}", file=sys.stderr)
    return 2


def _fact_line(fact: Any) -> str:
    return f"{fact.id}\t{fact.status}\t{fact.subject} | {fact.relation} | {fact.object}"


# -- commands -----------------------------------------------------------------------------------

def cmd_import(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    with _client(args) as client, tqdm(total=os.path.getsize(args.file), unit="B", unit_scale=True,
                                       desc="sending", disable=args.quiet or args.json) as bar:
        def progress(done: int, total: int | None) -> None:
            bar.update(done - bar.n)

        result = client.import_facts(args.file, format=args.format, batch_size=args.batch_size, strict=args.strict,
                                     progress=progress, timeout=args.import_timeout)
    _emit(args, result, lambda r: "\n".join(
        [f"batch {r.batch_id}: {r.imported} imported, {r.unchanged} unchanged, {r.skipped} skipped"]
        + [f"  {e}" for e in r.errors[:args.show_errors]]
        + ([f"  ... and {len(r.errors) - args.show_errors} more"] if len(r.errors) > args.show_errors else [])))
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    if args.prompt or args.target_new:
        if not (args.prompt and args.subject and args.target_new):
            return _usage("an edit request needs --prompt, --subject and --target-new")
        item: dict[str, Any] = {"prompt": args.prompt, "subject": args.subject, "target_new": args.target_new,
                                "ground_truth": args.ground_truth}
    else:
        if not (args.subject and args.relation and args.object):
            return _usage("a fact needs --subject, --relation and --object (or --prompt, --subject, --target-new)")
        item = {"subject": args.subject, "relation": args.relation, "object": args.object}
    if args.relation_id:
        item["relation_id"] = args.relation_id
    with _client(args) as client:
        result = client.add_facts([{k: v for k, v in item.items() if v is not None}])
    _emit(args, result, lambda r: f"added fact {', '.join(map(str, r.ids))} in batch {r.batch_id}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.stream and not args.json:
            for event in client.ask_stream(args.text, args.mode, max_new_tokens=args.max_new_tokens, stop=args.stop):
                if isinstance(event, str):
                    print(event, end="", flush=True)
                else:
                    print(f"\n[{event.mode.value}]")
            return 0
        result = client.ask(args.text, args.mode, max_new_tokens=args.max_new_tokens, stop=args.stop)

    def text(r: Any) -> str:
        lines = [r.answer.strip()]
        if args.verbose:
            lines.append(f"mode: {r.mode.value}")
            lines += [f"fact {f.id}: {f.text}" for f in r.facts]
            lines += [f"hop: {h.subject} | {h.relation} | {h.object} ({h.source})" for h in r.chain]
            lines.append("timings: " + ", ".join(f"{k} {v:.0f} ms" for k, v in r.timings.items()))
        return "\n".join(lines)

    _emit(args, result, text)
    return 0


def cmd_facts(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.facts_command == "get":
            _emit(args, client.get_fact(args.id), lambda f: "\n".join(
                f"{k}: {v}" for k, v in _jsonable(f).items() if v not in (None, "", [], 0.0)))
        elif args.facts_command == "delete":
            deleted = client.delete(args.ids)
            _emit(args, {"deleted": deleted}, lambda d: f"deleted {d['deleted']} fact(s)")
        else:
            facts = []
            for fact in client.list_facts(subject=args.subject, relation=args.relation, batch_id=args.batch,
                                          status=args.status, page_size=min(args.limit, 1000) or 100):
                facts.append(fact)
                if args.limit and len(facts) >= args.limit:
                    break
            _emit(args, facts, lambda fs: "\n".join(_fact_line(f) for f in fs) or "(no facts)")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    # Digits name a fact; anything else (or --batch) a batch.
    target: int | str = int(args.id) if args.id.isdigit() and not args.batch else args.id
    with _client(args) as client:
        count = client.rollback(target)
    _emit(args, {"rolled_back": count}, lambda d: f"rolled back {d['rolled_back']} fact(s)")
    return 0


def cmd_retrieve(args: argparse.Namespace) -> int:
    with _client(args) as client:
        hits = client.retrieve(args.query, k=args.k, threshold=args.threshold)
    _emit(args, hits, lambda hs: "\n".join(f"{h.score:.3f}\t{_fact_line(h.fact)}" for h in hs) or "(no facts)")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    with _client(args) as client:
        stats = client.stats()
    _emit(args, stats, lambda s: "\n".join(
        [f"{k}: {v:g}" for k, v in sorted(s.counts.items())] + [f"{k}: {v}" for k, v in sorted(s.info.items())]
        + [f"model: {s.model} ({'ready' if s.engine_ready else 'not ready'})",
           f"limits: batch {s.limits.max_batch}, message {s.limits.max_message_bytes // 2**20} MiB, "
           f"queue {s.limits.max_queue}"]))
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    with _client(args) as client:
        status = client.health(args.service)
    _emit(args, {"status": status}, lambda d: d["status"])
    return 0 if status == "SERVING" else 1


# -- parser -------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--target", default=os.environ.get("KME_TARGET", "127.0.0.1:50051"),
                        help="server HOST:PORT (env KME_TARGET; default %(default)s)")
    common.add_argument("--token", default=os.environ.get("KME_TOKEN"), help="bearer token (env KME_TOKEN)")
    common.add_argument("--timeout", type=float, default=60.0, help="seconds per call (default %(default)s)")
    common.add_argument("--tls", action="store_true", help="TLS with the system's root certificates")
    common.add_argument("--root-cert", help="TLS with this root certificate (PEM)")
    reading = argparse.ArgumentParser(add_help=False)
    reading.add_argument("--json", action="store_true", help="print JSON")

    parser = argparse.ArgumentParser(prog="kme", description="Knowledge editing for language models.", epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("serve", help="run the server (see `kme serve --help`)", add_help=False)
    sub.add_parser("eval", help="measure editing quality on a dataset (see `kme eval --help`)", add_help=False)

    p = sub.add_parser("import", parents=[common, reading], help="import a file of facts or edit requests")
    p.add_argument("file")
    p.add_argument("--format", help="jsonl, csv, tsv, mquake, counterfact, zsre (default: guessed)")
    p.add_argument("--batch-size", type=int, help="items per message (default: the server's limit)")
    p.add_argument("--strict", action="store_true", help="refuse the whole file on the first bad line")
    p.add_argument("--import-timeout", type=float, default=None, help="deadline of the import (default none)")
    p.add_argument("--show-errors", type=int, default=20, help="refused lines to print (default %(default)s)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("add", parents=[common, reading], help="add one fact or edit request")
    p.add_argument("--subject")
    p.add_argument("--relation")
    p.add_argument("--object")
    p.add_argument("--relation-id", help="Wikidata property id, e.g. P27")
    p.add_argument("--prompt", help="edit request: the prompt naming the subject")
    p.add_argument("--target-new", help="edit request: the new answer")
    p.add_argument("--ground-truth", help="edit request: the old answer")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("ask", parents=[common, reading], help="ask a question")
    p.add_argument("text")
    p.add_argument("--mode", default="auto", help="none, in_context, serac, multi_hop, weights, auto (default)")
    p.add_argument("--max-new-tokens", type=int)
    p.add_argument("--stop", action="append", help="stop string (repeatable)")
    p.add_argument("--stream", action="store_true", help="print tokens as they are decoded")
    p.add_argument("-v", "--verbose", action="store_true", help="show mode, facts, hops and timings")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("facts", help="list, show or delete stored facts")
    facts = p.add_subparsers(dest="facts_command", required=True, metavar="SUBCOMMAND")
    q = facts.add_parser("list", parents=[common, reading], help="list facts")
    q.add_argument("--subject")
    q.add_argument("--relation")
    q.add_argument("--batch", help="batch id")
    q.add_argument("--status", help="current (default), superseded, deleted, rolled_back")
    q.add_argument("--limit", type=int, default=100, help="most facts to print, 0 for all (default %(default)s)")
    q = facts.add_parser("get", parents=[common, reading], help="show one fact")
    q.add_argument("id", type=int)
    q = facts.add_parser("delete", parents=[common, reading], help="delete facts")
    q.add_argument("ids", type=int, nargs="+")
    p.set_defaults(func=cmd_facts)

    p = sub.add_parser("rollback", parents=[common, reading], help="undo a fact (numeric id) or a batch")
    p.add_argument("id")
    p.add_argument("--batch", action="store_true", help="ID is a batch id even if it is all digits")
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("retrieve", parents=[common, reading], help="the stored facts a query retrieves")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--threshold", type=float)
    p.set_defaults(func=cmd_retrieve)

    p = sub.add_parser("stats", parents=[common, reading], help="store statistics and server limits")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("health", parents=[common, reading], help="SERVING (exit 0) or not (exit 1)")
    p.add_argument("--service", default="", help="a service name; default: the whole server")
    p.set_defaults(func=cmd_health)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        # The server (and torch, via the engine) loads only for this command.
        from kme_server.__main__ import main as serve

        return serve(argv[1:])
    if argv[:1] == ["eval"]:
        # Runs in-process (the server's engine) or against a service; needs the server package.
        from kme_server.evaluation.cli import main as evaluate

        return evaluate(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KMEError as error:
        print(f"kme {args.command}: {error}", file=sys.stderr)
        return next((code for cls, code in EXIT_CODES if isinstance(error, cls)), 1)
    except OSError as error:  # a file to import that cannot be read
        print(f"kme {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
