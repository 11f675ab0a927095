"""Quick in-process check of AUTO with and without SERAC on a seeded CounterFact sample.

All edits of the sample are stored at once in a temporary store; each record is scored exactly as
`../shared/tools/kme_score.py` scores a running service (its `contains` and `subject_probe`, the
same sample for the same --limit and --seed): efficacy, generalization, locality (the answer equals
the answer in mode NONE before anything was stored) and same-subject locality.

    python bench/serac_quick.py --serac-dir .cache/serac --limit 40 --seed 0
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import random
import tempfile
import time
from pathlib import Path
from types import ModuleType

from kme_store.facts import EditRequest
from kme_store.store import KnowledgeStore

from kme_server.answers import Mode
from kme_server.editing.serac.route import install_serac
from kme_server.editing.serac.scope import ScopeClassifier
from kme_server.engine import build_engine
from kme_server.settings import Settings

log = logging.getLogger("serac_quick")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def load_scorer(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("kme_score", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED / "data/counterfact/counterfact-val.json")
    ap.add_argument("--scorer", type=Path, default=SHARED / "tools/kme_score.py")
    ap.add_argument("--serac-dir", type=Path, default=ROOT / ".cache/serac")
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="write the report and the failed cases here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    scorer = load_scorer(args.scorer)
    rows = json.loads(args.data.read_text())
    asked = random.Random(args.seed).sample(rows, args.limit) if args.limit else rows
    probes = [scorer.subject_probe(r["prompt"], r["subject"], i) for i, r in enumerate(asked)]

    settings = Settings()
    report: dict[str, dict] = {}
    fails: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as tmp, KnowledgeStore(Path(tmp) / "store", settings.store) as store:
        answerer = build_engine(settings, store)  # as the server builds it, SERAC off
        plain_auto = answerer.route(Mode.AUTO)
        install_serac(answerer, ScopeClassifier.load(args.serac_dir))
        serac_auto = answerer.route(Mode.AUTO)
        assert plain_auto is not None and serac_auto is not None

        before = {q: answerer.ask(q, Mode.NONE).answer for q in [r["locality_prompt"] for r in asked] + probes}
        store.add([EditRequest(prompt=r["prompt"], subject=r["subject"], target_new=r["target_new"],
                               ground_truth=r["ground_truth"]) for r in asked])

        for name, route in (("auto", plain_auto), ("auto+serac", serac_auto)):
            answerer.register_route(Mode.AUTO, route)
            began = time.perf_counter()
            tally = {"efficacy": 0, "generalization": 0, "locality": 0, "subject_locality": 0}
            modes: dict[str, int] = {}
            fails[name] = []
            for r, probe in zip(asked, probes):
                results = [answerer.ask(q, Mode.AUTO)
                           for q in (r["prompt"], r["rephrase_prompt"], r["locality_prompt"], probe)]
                for res in results:
                    modes[res.mode.value] = modes.get(res.mode.value, 0) + 1
                a1, a2, a3, a4 = (res.answer for res in results)
                ok = (scorer.contains(a1, [r["target_new"]]), scorer.contains(a2, [r["target_new"]]),
                      a3 == before[r["locality_prompt"]], a4 == before[probe])
                for key, good in zip(tally, ok):
                    tally[key] += good
                if not all(ok):
                    fails[name].append({"prompt": r["prompt"], "answer": a1, "rephrase_answer": a2,
                                        "target": r["target_new"], "locality": r["locality_prompt"],
                                        "before": before[r["locality_prompt"]], "after": a3, "probe": probe,
                                        "probe_before": before[probe], "probe_after": a4,
                                        "modes": [res.mode.value for res in results]})
            n = len(asked)
            report[name] = {**{k: v / n for k, v in tally.items()}, "cases": n, "modes": modes,
                            "seconds": round(time.perf_counter() - began, 1)}

    print(f"\n{len(asked)} CounterFact validation records (seed {args.seed}), all edits stored at once")
    print(f"{'route':<12} {'efficacy':>9} {'general.':>9} {'locality':>9} {'subj.loc':>9} {'s':>7}  modes")
    for name, m in report.items():
        print(f"{name:<12} {m['efficacy']:>9.3f} {m['generalization']:>9.3f} {m['locality']:>9.3f} "
              f"{m['subject_locality']:>9.3f} {m['seconds']:>7.1f}  {m['modes']}")
    if args.json:
        args.json.write_text(json.dumps({"report": report, "fails": fails}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
