"""The evaluation's terminal tables (the JSON report is the dict itself)."""
from __future__ import annotations

from typing import Any

_SINGLE = (("efficacy", "eff"), ("generalization", "gen"), ("locality", "loc"), ("subject_locality", "subj"),
           ("portability", "port"), ("efficacy_prob", "eff P"), ("generalization_prob", "gen P"),
           ("locality_prob", "loc P"))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}"


def single_hop_table(report: dict[str, Any]) -> str:
    """One row per system: generation-match metrics, then the probability forms (P(new) > P(old))."""
    systems: dict[str, Any] = report["systems"]
    shown = [(key, head) for key, head in _SINGLE if any(key in s["metrics"] for s in systems.values())]
    head = f"{'system':<11}" + "".join(f"{h:>8}" for _, h in shown) + f"{'s':>8}"
    scored = f"{report['cases']} cases"
    if report.get("fold"):
        scored += f" ({report['fold']}; {report.get('stored', '?')} edits stored)"
    lines = [f"{report['dataset']} {report['file']}: {scored}, edits stored {report['setting']}, "
             f"{report.get('model', '')} ({report['backend']})", head, "-" * len(head)]
    for name, s in systems.items():
        cells = "".join(f"{_pct(s['metrics'].get(key)):>8}" for key, _ in shown)
        lines.append(f"{name:<11}{cells}{s['seconds']:>8.0f}")
    lines.append("none: no edit applied; facts: retrieved facts pasted without demonstrations; "
                 "P: probability form (P(new) > P(old); locality: P(own answer) > P(new))")
    return "\n".join(lines)


def merge_folds(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The single-hop reports of folds 0..N-1 of one run (`kme eval --fold K/N`) as one report.

    The folds partition the set, so a metric over the whole set is each fold's mean weighted by the
    number of its cases that have the metric. Raises ValueError unless the reports are the N folds
    of one dataset with the same edits stored.
    """
    folds = sorted(r.get("fold") or "" for r in reports)
    n = len(reports)
    if folds != [f"{k}/{n}" for k in range(n)]:
        raise ValueError(f"need the reports of folds 0/{n} .. {n - 1}/{n}, got {folds}")
    if len({(r["dataset"], r["file"], r["stored"]) for r in reports}) != 1:
        raise ValueError("the reports are of different datasets, files or stored sets")
    names = [s for s in reports[0]["systems"] if all(s in r["systems"] for r in reports)]
    systems = {}
    for name in names:
        parts = [r["systems"][name] for r in reports]
        counts: dict[str, int] = {}
        sums: dict[str, float] = {}
        for part in parts:
            for metric, value in part["metrics"].items():
                counts[metric] = counts.get(metric, 0) + part["counts"][metric]
                sums[metric] = sums.get(metric, 0.0) + value * part["counts"][metric]
        systems[name] = {"metrics": {m: sums[m] / counts[m] for m in sums}, "counts": counts,
                         "seconds": sum(p["seconds"] for p in parts)}
    first = reports[0]
    return {**{k: first[k] for k in ("dataset", "file", "setting", "stored", "model", "backend") if k in first},
            "cases": sum(r["cases"] for r in reports), "fold": f"all {n} folds, cross-fitted",
            "scope_classifiers": [r.get("serac_dir", "") for r in sorted(reports, key=lambda r: r["fold"])],
            "systems": systems}


def multi_hop_table(report: dict[str, Any]) -> str:
    """One row per setting and system: case, question and hop-wise accuracy, by hops, latency."""
    head = (f"{'setting/system':<16}{'cases':>6}{'case%':>7}{'q%':>7}{'hop%':>7}{'p50 ms':>8}  "
            "by hops (case% / q%)")
    lines = [f"mquake {report['file']}: {report.get('model', '')} ({report['backend']})", head, "-" * len(head)]
    for name, r in report["settings"].items():
        hops = "  ".join(f"{h}: {_pct(v['case_accuracy'])}/{_pct(v['question_accuracy'])} (n={v['cases']})"
                         for h, v in r["by_hops"].items())
        p50 = "-" if r["p50_ms"] is None else f"{r['p50_ms']:.0f}"
        lines.append(f"{name:<16}{r['cases']:>6}{_pct(r['case_accuracy']):>7}{_pct(r['question_accuracy']):>7}"
                     f"{_pct(r['hop_accuracy']):>7}{p50:>8}  {hops}")
    return "\n".join(lines)


__all__ = ["merge_folds", "multi_hop_table", "single_hop_table"]
