"""Would a lower bar for abstaining let SERAC's counterfactual model refuse the same-subject probes?

    .venv/bin/python bench/abstain_threshold.py ../shared/data/counterfact/counterfact-val.json \
        .bench/s13/cf-auto.jsonl [--model .cache/serac/counterfactual] [--sample 600]

The served model abstains when greedy decoding writes prompt.ABSTAIN, that is when the first
token of " (unchanged)" is the likeliest. A threshold on that token's probability would abstain
more often. This reads which questions AUTO sent to SERAC in a `kme eval counterfact --cases` run,
scores each against its own record's edit in the served prompt (editing/serac/prompt.py), and
counts, per threshold, the failed same-subject probes that would abstain (the base model then
answers: fixed) and, among a seeded sample of the edit prompts and rephrasings SERAC answered
right, those that would abstain too (lost). Locality prompts are left out: many are governed by
another record's edit (bench/cf_conflicts.py), which this does not know.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import _checkout  # noqa: F401  (sets sys.path before the project imports)

from cf_failures import asked  # noqa: E402
from kme_store.facts import EditRequest  # noqa: E402

from kme_server.editing.serac.prompt import ABSTAIN, edit_prompt  # noqa: E402

THRESHOLDS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


def served(records: Path, cases: Path) -> list[tuple[str, bool, str]]:
    """(measure, right, counterfactual prompt) of each question AUTO routed to SERAC."""
    by_id = {str(r["case_id"]): r for r in json.loads(records.read_text())}
    out = []
    for line in cases.read_text().splitlines():
        row = json.loads(line)
        r = by_id[str(row["case_id"])]
        sentence = EditRequest(prompt=r["prompt"], subject=r["subject"], target_new=r["target_new"]).to_fact().sentence()
        for measure, route, right, text in asked(row, r):
            if route == "serac" and measure != "locality" and text:
                out.append((measure, right, edit_prompt(text, sentence)))
    return out


def abstain_probabilities(model_dir: Path, prompts: list[str], batch: int = 16) -> list[float]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, local_files_only=True).eval()
    first = tokenizer(" " + ABSTAIN, add_special_tokens=False)["input_ids"][0]
    out: list[float] = []
    with torch.inference_mode():
        for i in range(0, len(prompts), batch):
            enc = tokenizer(prompts[i:i + batch], return_tensors="pt", padding=True)
            # Left padding: positions must count real tokens only, as generate() makes them.
            positions = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
            logits = model(**enc, position_ids=positions).logits[:, -1].float()
            out += torch.softmax(logits, -1)[:, first].tolist()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", type=Path, help="counterfact-val.json")
    ap.add_argument("cases", type=Path, help="per-case JSONL of `kme eval counterfact --cases`")
    ap.add_argument("--model", type=Path, default=Path(".cache/serac/counterfactual"))
    ap.add_argument("--sample", type=int, default=600, help="right answers of edit prompts and rephrasings scored")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    items = served(args.records, args.cases)
    right_pos = [x for x in items if x[0] in ("efficacy", "generalization") and x[1]]
    failed_probes = [x for x in items if x[0] == "subject_locality" and not x[1]]
    sample = random.Random(args.seed).sample(right_pos, min(args.sample, len(right_pos)))
    probs = abstain_probabilities(args.model, [x[2] for x in sample + failed_probes])
    pos_p, probe_p = probs[:len(sample)], probs[len(sample):]
    print(f"SERAC-routed in {args.cases}: {len(right_pos)} edit prompts and rephrasings answered right "
          f"({len(sample)} sampled), {len(failed_probes)} same-subject probes failed")
    print("| P(abstain) at least | failed probes that would abstain | sampled right answers that would abstain |"
          " the same, scaled to all right answers |")
    print("|---:|---:|---:|---:|")
    for t in THRESHOLDS:
        fixed = sum(p >= t for p in probe_p)
        lost = sum(p >= t for p in pos_p)
        print(f"| {t:.2f} | {fixed} / {len(probe_p)} | {lost} / {len(pos_p)} | "
              f"{lost * len(right_pos) / max(len(pos_p), 1):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
