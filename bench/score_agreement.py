"""Do `kme eval` and the outside scorer (../shared/tools/kme_score.py) agree on the same data?

Three runs on the same seeded sample, each on a fresh store: kme_score.py against a freshly
started service; `kme eval --target` against another fresh service (the client path); `kme eval`
in-process (batched). The service's settings come from the environment (KME_...), as the server
reads them; the in-process run reads the same.

    .venv/bin/python bench/score_agreement.py counterfact ../shared/data/counterfact/counterfact-val.json --limit 40
    .venv/bin/python bench/score_agreement.py mquake ../shared/data/mquake/mquake-cf-dev.json --limit 20 --world
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
SCORER = ROOT.parent / "shared" / "tools" / "kme_score.py"
KEYS = {"counterfact": ("efficacy", "generalization", "locality", "subject_locality"),
        "zsre": ("efficacy", "generalization", "locality", "subject_locality"),
        "mquake": ("case_accuracy", "question_accuracy")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def service(work: Path) -> Iterator[str]:
    """A `kme serve` process on an empty data directory; its address once it is SERVING."""
    from kme_client import KMEClient

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "KME_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "kme_client.cli", "serve", "--data", str(work),
                             "--port", str(port)], cwd=ROOT, env=env)
    target = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                with KMEClient(target, timeout=5) as client:
                    if client.health() == "SERVING":
                        break
            except Exception:  # not listening yet
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the service did not become SERVING")
            time.sleep(2)
        yield target
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)


def run_json(cmd: list[str]) -> dict:
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("form", choices=list(KEYS))
    ap.add_argument("file", type=Path)
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--world", action="store_true", help="MQuAKE: edits and world facts")
    ap.add_argument("--skip-client", action="store_true", help="skip the `kme eval --target` run")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    file = str(args.file.resolve())
    common = ["--limit", str(args.limit), "--seed", str(args.seed)]
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        with service(Path(tmp) / "a") as target:
            cmd = [sys.executable, str(SCORER), args.form, file, "--target", target, *common]
            results["kme_score.py"] = run_json(cmd + (["--world"] if args.world else []))
        evals = []
        if not args.skip_client:
            evals.append(("kme eval --target", True))
        evals.append(("kme eval in-process", False))
        for name, remote in evals:
            report = Path(tmp) / f"{len(results)}.json"
            cmd = [sys.executable, "-m", "kme_server.evaluation.cli", args.form, file, *common,
                   "--json", str(report)]
            if args.form == "mquake":
                cmd += ["--settings", "world" if args.world else "edits", "--no-hop-wise"]
            else:
                cmd += ["--systems", "auto", "--no-scores"]
            if remote:
                with service(Path(tmp) / "b") as target:
                    subprocess.run(cmd + ["--target", target], cwd=ROOT, check=True, capture_output=True)
            else:
                subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
            data = json.loads(report.read_text())
            if args.form == "mquake":
                row = next(iter(data["settings"].values()))
            else:
                row = data["systems"]["auto"]["metrics"]
            results[name] = row
    keys = KEYS[args.form]
    head = f"{'scorer':<22}" + "".join(f"{k[:14]:>16}" for k in keys)
    lines = [f"{args.form} {args.file.name}, {args.limit} records, seed {args.seed}"
             + (", world facts" if args.world else ""), head, "-" * len(head)]
    for name, row in results.items():
        lines.append(f"{name:<22}" + "".join(f"{row[k] * 100:>16.1f}" for k in keys))
    sys.stdout.write("\n".join(lines) + "\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
