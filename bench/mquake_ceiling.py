"""What the stored facts alone allow on MQuAKE: gold chains walked over edits (+ world facts).

    python bench/mquake_ceiling.py [../shared/data/mquake/mquake-cf-dev.json]

For every case, the gold relation chain (measurement only; never given to the service) is walked
from the start entity over the facts the evaluation stores: every case's edits, and in the second
setting the original chains (`orig.triples`) of every case beneath them, edits superseding. A
case counts when each hop has a stored fact and the walk ends at `new_answer` or an alias. The
rest need the base model for at least one hop, so a perfect extractor and walker still depend on
what the model knows there. Prints a table by setting and hop count.
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "mquake" / "mquake-cf-dev.json"


def stored(cases: list[dict], world: bool) -> dict[tuple[str, str], str]:
    facts: dict[tuple[str, str], str] = {}
    if world:
        for c in cases:
            for (_, rid, _), (subject, _, obj) in zip(c["orig"]["triples"], c["orig"]["triples_labeled"]):
                facts[(subject.lower(), rid)] = obj
    for c in cases:
        for r in c["requested_rewrite"]:
            facts[(r["subject"].lower(), r["relation_id"])] = r["target_new"]["str"]
    return facts


def reachable(case: dict, facts: dict[tuple[str, str], str]) -> tuple[bool, int]:
    """Whether the gold chain ends at the new answer over `facts`, and how many hops the store had."""
    entity = case["orig"]["triples_labeled"][0][0]
    for n, (_, rid, _) in enumerate(case["orig"]["triples"]):
        nxt = facts.get((entity.lower(), rid))
        if nxt is None:
            return False, n
        entity = nxt
    gold = {a.lower() for a in [case["new_answer"], *case["new_answer_alias"]]}
    return entity.lower() in gold, len(case["orig"]["triples"])


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    cases = json.loads(path.read_text())
    print(f"{path.name}: {len(cases)} cases; a case counts when every hop of its gold chain is stored "
          "and the walk ends at the new answer")
    print("| setting | cases reachable from stored facts | 2-hop | 3-hop | 4-hop |")
    print("|---|---:|---:|---:|---:|")
    for world in (False, True):
        facts = stored(cases, world)
        ok, total = Counter(), Counter()
        for c in cases:
            hops = len(c["orig"]["triples"])
            total[hops] += 1
            ok[hops] += reachable(c, facts)[0]
        cells = [f"{ok[h]} / {total[h]}" for h in sorted(total)]
        name = "edits + world facts" if world else "edits only"
        print(f"| {name} | {sum(ok.values())} / {len(cases)} ({sum(ok.values()) / len(cases):.1%}) | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
