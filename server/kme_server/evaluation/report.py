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
    lines = [f"{report['dataset']} {report['file']}: {report['cases']} cases, edits stored {report['setting']}, "
             f"{report.get('model', '')} ({report['backend']})", head, "-" * len(head)]
    for name, s in systems.items():
        cells = "".join(f"{_pct(s['metrics'].get(key)):>8}" for key, _ in shown)
        lines.append(f"{name:<11}{cells}{s['seconds']:>8.0f}")
    lines.append("none: no edit applied; facts: retrieved facts pasted without demonstrations; "
                 "P: probability form (P(new) > P(old); locality: P(own answer) > P(new))")
    return "\n".join(lines)


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


__all__ = ["multi_hop_table", "single_hop_table"]
