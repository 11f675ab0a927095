"""Two scope classifiers on MQuAKE's single-hop clozes, each against its fact written from labels.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/scope_hops.py --a .cache/serac-v3 --b .cache/serac-v4 --every 3

The new chains' single hops (`new_single_hops`, aligned with `orig.new_triples_labeled`) are the
questions; their facts are built as world facts are stored, from Wikidata labels without a
template ("The religion or worldview of X is Y."). Every cloze should be in scope. Prints how many
each classifier accepts at its own threshold, and the relations of the clozes that `--a` accepts
and `--b` rejects, with examples.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from _checkout import ROOT  # sets sys.path before the project imports

from kme_store.facts import Fact  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", type=Path, required=True, help="a trained classifier directory")
    ap.add_argument("--b", type=Path, required=True, help="another one")
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--every", type=int, default=1, help="take every n-th cloze (1: all)")
    args = ap.parse_args()
    from kme_server.editing.serac.scope import ScopeClassifier

    cases = json.loads((args.data_dir / "mquake" / "mquake-cf-dev.json").read_text())
    pairs = [(hop["cloze"], Fact(subject=s, relation=r, object=o, relation_id=rid), rid)
             for c in cases
             for (_, rid, _), (s, r, o), hop in zip(c["orig"]["new_triples"], c["orig"]["new_triples_labeled"],
                                                     c["new_single_hops"])][:: args.every]
    accepted = {}
    for name in (args.a, args.b):
        clf = ScopeClassifier.load(name)
        probs = clf.pair_scores([q for q, _, _ in pairs], [f.sentence() for _, f, _ in pairs])
        accepted[name] = [p >= clf.settings.threshold for p in probs]
    lost = [(q, f.sentence(), rid) for (q, f, rid), a, b in zip(pairs, accepted[args.a], accepted[args.b]) if a and not b]
    print(f"{len(pairs)} single-hop clozes against label-form facts")
    print("| classifier | in scope |")
    print("|---|---:|")
    for name in (args.a, args.b):
        print(f"| {name} | {sum(accepted[name])} / {len(pairs)} |")
    print(f"\naccepted by {args.a}, rejected by {args.b}, by relation: {Counter(r for _, _, r in lost).most_common()}")
    for q, fact, _ in lost[:10]:
        print(f"  {q!r} against {fact!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
