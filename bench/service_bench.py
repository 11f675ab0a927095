"""Service benchmark: Ask latency against the bare model, concurrency, and import over gRPC.

    .venv/bin/python bench/service_bench.py [--asks 40] [--import-facts 20000]

1. Starts `kme serve` on a fresh store (a real process on localhost), stores a few hundred
   generated facts, and times Ask through the real client in mode NONE (no facts) and mode AUTO
   on questions about stored facts (in-context prompts), ≤ 16 new tokens.
2. Runs 1, 4 and 16 concurrent clients: p50/p99 latency and throughput.
3. Imports a generated file over gRPC (ImportFacts, client streaming), then the same file with the
   store's own import_file on a fresh directory: the ratio of rates.
4. Stops the server and, in this process, loads the same model with transformers and times
   greedy `model.generate` on exactly the prompts the service built, with the service's length
   and stop rule (≤ 16 new tokens, stop at a newline).
Prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import gen_triples  # noqa: E402

UNRELATED = ["The capital of Japan is", "The largest planet in the solar system is", "Water boils at a temperature of",
             "The author of Hamlet is", "The chemical symbol of gold is", "The longest river in Africa is",
             "The inventor of the telephone is", "The currency of the United Kingdom is"]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_facts(path: Path, n: int, seed: int) -> list[dict]:
    facts = list(gen_triples.generate(n, seed))
    with open(path, "w") as f:
        for fact in facts:
            f.write(json.dumps(fact, ensure_ascii=False) + "\n")
    return facts


def edited_questions(facts: list[dict], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    with_template = [f for f in facts if f.get("template")]
    return [f["template"].format(f["subject"]) for f in rng.sample(with_template, n)]


def time_asks(client, questions: list[str], mode: str) -> tuple[list[float], list]:
    latencies, results = [], []
    for q in questions:
        t = time.perf_counter()
        results.append(client.ask(q, mode=mode, max_new_tokens=16))
        latencies.append((time.perf_counter() - t) * 1000)
    return latencies, results


def concurrent(target: str, questions: list[str], clients: int, per_client: int) -> dict:
    from kme_client import KMEClient

    latencies: list[float] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        rng = random.Random(i)
        with KMEClient(target, timeout=600) as client:
            for _ in range(per_client):
                q = rng.choice(questions)
                t = time.perf_counter()
                client.ask(q, mode="auto", max_new_tokens=16)
                with lock:
                    latencies.append((time.perf_counter() - t) * 1000)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - start
    return {"clients": clients, "requests": len(latencies), "p50_ms": statistics.median(latencies),
            "p99_ms": pct(latencies, 99), "throughput_rps": len(latencies) / wall}


def direct_generate(prompts: list[str], cache_dir: Path) -> list[float]:
    """transformers' own greedy generate on the same prompts, ≤ 16 new tokens, stopping at a newline.

    The stop rule is the service's, checked by decoding the new tokens after each step: the
    stop_strings option of transformers would double the time of a step with Gemma's 262k-token
    vocabulary, which would flatter the service.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, StoppingCriteria, StoppingCriteriaList

    path = cache_dir / "gemma3-270m"
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, local_files_only=True).eval()

    class Newline(StoppingCriteria):
        def __init__(self, start: int) -> None:
            self.start = start

        def __call__(self, input_ids, scores, **kwargs):  # type: ignore[no-untyped-def]
            return "\n" in tok.decode(input_ids[0, self.start:], skip_special_tokens=True)

    latencies = []
    with torch.inference_mode():
        for prompt in [prompts[0]] + prompts:  # the first call warms up and is not counted
            t = time.perf_counter()
            ids = tok(prompt, return_tensors="pt")
            stop = StoppingCriteriaList([Newline(ids["input_ids"].shape[1])])
            model.generate(**ids, max_new_tokens=16, do_sample=False, stopping_criteria=stop)
            latencies.append((time.perf_counter() - t) * 1000)
    return latencies[1:]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--asks", type=int, default=40, help="questions per mode")
    ap.add_argument("--facts", type=int, default=400, help="facts stored before asking")
    ap.add_argument("--import-facts", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--per-client", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from kme_client import KMEClient
    from kme_server.models.settings import ModelSettings

    work = Path(tempfile.mkdtemp(prefix="kme-bench-"))
    facts_file = work / "facts.jsonl"
    facts = write_facts(facts_file, args.facts, args.seed)
    import_file = work / "import.jsonl"
    write_facts(import_file, args.import_facts, args.seed + 1)
    questions = edited_questions(facts, args.asks, args.seed)
    unrelated = (UNRELATED * (args.asks // len(UNRELATED) + 1))[:args.asks]

    port = free_port()
    target = f"127.0.0.1:{port}"
    env = {**os.environ, "KME_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "kme_client.cli", "serve", "--data", str(work / "store"),
                             "--port", str(port)], cwd=ROOT, env=env)
    rows: dict[str, object] = {}
    try:
        with KMEClient(target, timeout=600) as client:
            deadline = time.monotonic() + 900
            while True:
                try:
                    if client.health() == "SERVING":
                        break
                except Exception:  # noqa: BLE001 - not up yet
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("server did not become SERVING")
                time.sleep(1)
            client.import_facts(facts_file)
            none_ms, _ = time_asks(client, unrelated, "none")
            auto_ms, auto_results = time_asks(client, questions, "auto")
            rows["in_context_share"] = sum(r.mode.value == "in_context" for r in auto_results) / len(auto_results)
            conc = [concurrent(target, questions + unrelated, c, args.per_client) for c in args.concurrency]
            t = time.perf_counter()
            summary = client.import_facts(import_file)
            grpc_s = time.perf_counter() - t
            rows["grpc_import_per_s"] = args.import_facts / grpc_s
            rows["grpc_imported"] = summary.imported
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)

    from kme_server.answering import Answerer
    from kme_server.models.loading import load_model
    from kme_store.store import KnowledgeStore

    # The prompts the service built: the same store, the same Answerer, asked for its plan.
    settings = ModelSettings()
    with KnowledgeStore(work / "store") as store:
        answerer = Answerer(store, load_model(settings))
        auto_prompts = [answerer.plan(q, "auto").prompt for q in questions]
        none_prompts = [answerer.plan(q, "none").prompt for q in unrelated]
    direct_none = direct_generate(none_prompts, ROOT / settings.cache_dir)
    direct_auto = direct_generate(auto_prompts, ROOT / settings.cache_dir)

    with KnowledgeStore(work / "store-direct") as store:
        store.retrieve("warm up")
        t = time.perf_counter()
        store.import_file(import_file)
        rows["store_import_per_s"] = args.import_facts / (time.perf_counter() - t)

    print(f"{'Ask (≤16 new tokens)':<28} | {'service p50 ms':>14} | {'direct p50 ms':>13} | {'ratio':>5}")
    for name, svc, direct in [("mode none (no facts)", none_ms, direct_none), ("mode auto (in-context)", auto_ms, direct_auto)]:
        s, d = statistics.median(svc), statistics.median(direct)
        print(f"{name:<28} | {s:>14.0f} | {d:>13.0f} | {s / d:>5.2f}")
    print(f"auto questions answered in context: {rows['in_context_share']:.0%}\n")
    print(f"{'clients':>7} | {'requests':>8} | {'p50 ms':>7} | {'p99 ms':>7} | {'req/s':>6}")
    for c in conc:
        print(f"{c['clients']:>7} | {c['requests']:>8} | {c['p50_ms']:>7.0f} | {c['p99_ms']:>7.0f} | {c['throughput_rps']:>6.2f}")
    ratio = rows["store_import_per_s"] / rows["grpc_import_per_s"]  # type: ignore[operator]
    print(f"\nimport {args.import_facts:,} facts: gRPC {rows['grpc_import_per_s']:,.0f}/s, "
          f"store {rows['store_import_per_s']:,.0f}/s, store/gRPC = {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
