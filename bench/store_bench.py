"""Store benchmark: import rate, retrievability, retrieval latency, memory and cold open, by size.

    .venv/bin/python bench/store_bench.py --sizes 10000 100000 1000000

For each size it generates realistic triples (bench/gen_triples.py, seeded), imports them into a
fresh store, checks that sampled facts are retrievable the moment the import returns, times
retrieval (query embedding included), then reopens the store in a fresh process to time the cold
open and read its resident memory. Prints a table; --json writes the rows too.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import gen_triples  # noqa: E402

log = logging.getLogger("store_bench")


def question(fact: dict, rng: random.Random) -> str:
    """A question or cloze prompt about the fact, as users would ask it."""
    if fact.get("template") and rng.random() < 0.5:
        return fact["template"].format(fact["subject"])
    return f"What is the {fact['relation']} of {fact['subject']}?"


UNRELATED = ["How tall is Mount Everest?", "What time is it in Tokyo?", "Tell me a joke about cats.",
             "How do I bake sourdough bread?", "What is the square root of 144?", "Why is the sky blue?",
             "Recommend a good book for the summer.", "How many legs does a spider have?"]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def sample_facts(path: Path, n: int, seed: int) -> list[dict]:
    """A seeded reservoir sample of the file's facts, read in one streaming pass."""
    rng = random.Random(seed)
    out: list[dict] = []
    with open(path) as f:
        for i, line in enumerate(f):
            if len(out) < n:
                out.append(json.loads(line))
            elif (j := rng.randrange(i + 1)) < n:
                out[j] = json.loads(line)
    return out


def import_and_query(data: Path, store_dir: Path, queries: int, seed: int) -> dict:
    from kme_store.store import KnowledgeStore

    store = KnowledgeStore(store_dir)
    store.retrieve("warm up the embedding model")
    lines = sum(1 for _ in open(data))
    t0 = time.perf_counter()
    summary = store.import_file(data)
    import_s = time.perf_counter() - t0
    rng = random.Random(seed)
    facts = sample_facts(data, queries, seed)
    # Retrievable at once: every sampled fact is in the graph and among the top-5 hits of a
    # question about it.
    found_lookup = sum(any(f.object == fact["object"] for f in store.lookup(fact["subject"], fact["relation_id"]))
                       for fact in facts)
    latencies, in_top5 = [], 0
    for fact in facts:
        q = question(fact, rng)
        t = time.perf_counter()
        hits = store.retrieve(q, k=5)
        latencies.append((time.perf_counter() - t) * 1000)
        in_top5 += any(h.fact.subject == fact["subject"] and h.fact.object == fact["object"] for h in hits)
    empty = 0
    for q in UNRELATED * max(1, queries // (4 * len(UNRELATED))):
        t = time.perf_counter()
        empty += not store.retrieve(q)
        latencies.append((time.perf_counter() - t) * 1000)
    n_unrelated = len(UNRELATED) * max(1, queries // (4 * len(UNRELATED)))
    t = time.perf_counter()
    store.close()
    close_s = time.perf_counter() - t
    return {"facts": lines, "imported": summary.imported, "skipped": summary.skipped, "import_s": import_s,
            "facts_per_s": lines / import_s, "lookup_found": found_lookup / len(facts),
            "recall_at_5": in_top5 / len(facts), "unrelated_empty": empty / n_unrelated,
            "p50_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 99), "close_s": close_s}


def cold_open(store_dir: Path, data: Path, seed: int) -> dict:
    """Open the store in this (fresh) process: open time, RSS after open and after queries."""
    from kme_store.store import KnowledgeStore

    t = time.perf_counter()
    store = KnowledgeStore(store_dir)
    open_s = time.perf_counter() - t
    rss_open = rss_mb()
    rng = random.Random(seed + 1)
    for fact in sample_facts(data, 50, seed + 1):
        store.retrieve(question(fact, rng))
    problems = store.check()
    out = {"open_s": open_s, "rss_open_mb": rss_open, "rss_query_mb": rss_mb(), "consistent": not problems,
           "index_kind": store.stats().index_kind}
    store.close()
    return out


def run_size(n: int, workdir: Path, queries: int, seed: int) -> dict:
    data = workdir / f"triples-{n}.jsonl"
    if not data.exists():
        tmp = data.with_suffix(".tmp")
        with open(tmp, "w") as f:
            for fact in gen_triples.generate(n, seed):
                f.write(json.dumps(fact, ensure_ascii=False) + "\n")
        tmp.rename(data)
    store_dir = workdir / f"store-{n}"
    if store_dir.exists():
        subprocess.run(["rm", "-rf", str(store_dir)], check=True)
    row = {"size": n, **import_and_query(data, store_dir, queries, seed)}
    child = subprocess.run([sys.executable, __file__, "--cold-open", str(store_dir), "--data", str(data)],
                           capture_output=True, text=True, check=True)
    row.update(json.loads(child.stdout.strip().splitlines()[-1]))
    return row


def print_table(rows: list[dict]) -> None:
    cols = [("size", "facts", "{:>9,}"), ("facts_per_s", "import/s", "{:>9,.0f}"),
            ("lookup_found", "in graph", "{:>8.1%}"), ("recall_at_5", "top-5", "{:>7.1%}"),
            ("unrelated_empty", "unrel.∅", "{:>7.1%}"), ("p50_ms", "p50 ms", "{:>7.1f}"), ("p99_ms", "p99 ms", "{:>7.1f}"),
            ("open_s", "open s", "{:>7.2f}"), ("rss_query_mb", "RSS MB", "{:>7.0f}"), ("index_kind", "index", "{:>6}"),
            ("consistent", "ok", "{!s:>5}")]
    print(" | ".join(f"{title:>{len(fmt.format(rows[0][key]))}}" for key, title, fmt in cols))
    for row in rows:
        print(" | ".join(fmt.format(row[key]) for key, _, fmt in cols))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--workdir", type=Path, default=Path(".bench/store"))
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the rows here")
    ap.add_argument("--cold-open", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.cold_open:
        print(json.dumps(cold_open(args.cold_open, args.data, args.seed)))
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.sizes:
        rows.append(run_size(n, args.workdir, args.queries, args.seed))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
