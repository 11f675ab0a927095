"""First run: start the service on a fresh store, import example facts, ask before and after.

    .venv/bin/python scripts/demo.py [--facts examples/facts.jsonl] [--port 50077]

Starts `kme serve` as a real server process on localhost, waits until it is SERVING, asks the
questions below with no edits stored, imports the example facts over gRPC, asks again, and
prints the answers side by side. The server is stopped at the end (SIGTERM).
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kme_client import KMEClient, KMEError

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "The CEO of Apple is",
    "Who is the chief executive of Apple?",
    "The Eiffel Tower is located in the city of",
    "The mother tongue of Danielle Darrieux is",
    "Hey Jude was performed by",
    "The capital of France is",
    "The capital of Japan is",
]


def wait_serving(client: KMEClient, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}")
        try:
            if client.health() == "SERVING":
                return
        except KMEError:
            pass
        time.sleep(1)
    raise SystemExit(f"the server was not SERVING after {timeout_s:.0f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--facts", type=Path, default=ROOT / "examples" / "facts.jsonl")
    ap.add_argument("--port", type=int, default=50077)
    ap.add_argument("--data", type=Path, help="store directory (default: a fresh temporary one)")
    args = ap.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="kme-demo-"))
    target = f"127.0.0.1:{args.port}"
    proc = subprocess.Popen([sys.executable, "-m", "kme_client.cli", "serve", "--data", str(data),
                             "--port", str(args.port)], cwd=ROOT)
    try:
        with KMEClient(target, timeout=120) as client:
            print(f"waiting for the service on {target} (the first start converts the model) ...", flush=True)
            wait_serving(client, proc, timeout_s=900)
            before = {q: client.ask(q, mode="none").answer for q in QUESTIONS}
            summary = client.import_facts(args.facts)
            print(f"imported {summary.imported} facts from {args.facts.name} "
                  f"({summary.skipped} skipped)\n", flush=True)
            after = {q: client.ask(q, mode="auto") for q in QUESTIONS}
        width = max(len(q) for q in QUESTIONS)
        print(f"{'question':<{width}} | {'before (no edits)':<24} | after (mode auto)")
        print("-" * (width + 60))
        for q in QUESTIONS:
            a = after[q]
            print(f"{q:<{width}} | {before[q][:24]:<24} | {a.answer}  [{a.mode.value}, {len(a.facts)} facts]")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
