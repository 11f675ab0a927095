#!/usr/bin/env bash
# The editing-quality and multi-hop runs of docs/BENCHMARKS.md, one after another (they share the
# CPU, so never in parallel). Reports and per-case results land in .bench/ (git-ignored).
#   bash bench/run_quality.sh [STEP...]
#   steps: cf-full serac-prompts mquake zsre zsre-crossfit cf-systems zsre-ike mquake-edits agreement
#   (zsre and zsre-ike only when named)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export KME_MULTIHOP__RELATION_LABELS=${KME_MULTIHOP__RELATION_LABELS:-../shared/data/wikidata/relation-labels.json}
DATA=${DATA:-../shared/data}
OUT=.bench/quality
mkdir -p "$OUT"
KME=".venv/bin/kme"
run() {  # name, command...
  local name=$1; shift
  echo "== $name: $*" | tee -a "$OUT/commands.log"
  local start=$(date +%s)
  "$@" > "$OUT/$name.txt" 2> "$OUT/$name.log"
  echo "   $name took $(( $(date +%s) - start )) s" | tee -a "$OUT/commands.log"
  cat "$OUT/$name.txt"
}
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(cf-full serac-prompts mquake zsre-crossfit cf-systems mquake-edits agreement)
for step in "${steps[@]}"; do
  case $step in
    cf-full) run cf-full $KME eval counterfact $DATA/counterfact/counterfact-val.json --systems none,auto \
               --no-scores --json $OUT/cf-full.json --cases $OUT/cf-full.jsonl ;;
    mquake) run mquake $KME eval mquake $DATA/mquake/mquake-cf-dev.json --settings edits,world --mello ${MELLO_CASES:-60} \
               --json $OUT/mquake.json --cases $OUT/mquake.jsonl ;;
    zsre)  # the service's own classifier trained on these records: zsre-crossfit is the benchmark
      run zsre $KME eval zsre $DATA/zsre/zsre-dev.json --limit ${ZSRE_LIMIT:-0} --systems none,auto \
               --json $OUT/zsre.json --cases $OUT/zsre.jsonl ;;
    zsre-crossfit)  # zsre-dev also trains the service's scope classifier: each of two folds is scored by
                    # a classifier trained without it (editing/serac/folds.py), every edit stored, and by
                    # a counterfactual model trained without it as well (COUNTERFACTUAL_ZSRE=none: the
                    # service's own, for a service built with `make serac COUNTERFACTUAL_ZSRE=none`)
      for k in 0 1; do
        dir=.cache/serac-zsre-fold$k
        [ -f $dir/scope.json ] || .venv/bin/python -m kme_server.editing.serac.train --data-dir $DATA --out $dir \
               --seed 0 --zsre $k/2 2> $OUT/train-zsre-fold$k.log
        if [ "${COUNTERFACTUAL_ZSRE:-all}" = none ]; then
          # A counterfactual model built with COUNTERFACTUAL_ZSRE=none never reads zsRE.
          ln -sfn ../serac/counterfactual $dir/counterfactual
        else
          # The service's counterfactual model (make serac) read zsRE too: cross-fitted the same
          # way, one per fold, kept beside the fold's classifier (one folder per share of zsRE hard
          # negatives, COUNTERFACTUAL_ZSRE_NEGATIVE_SHARE as in the Makefile).
          neg=${COUNTERFACTUAL_ZSRE_NEGATIVE_SHARE:-0}
          cf=counterfactual-zsre-neg$neg
          ln -sfn $cf $dir/counterfactual
          [ -f $dir/$cf/kme-counterfactual.json ] || .venv/bin/python -m kme_server.editing.serac.counterfactual \
               --data-dir $DATA --out $dir/$cf --base gemma3-270m --cache-dir .cache/models --seed 0 \
               --zsre $k/2 --zsre-negative-share $neg 2> $OUT/train-$cf-fold$k.log
        fi
        KME_ANSWERING__SERAC_DIR=$dir run zsre-fold$k $KME eval zsre $DATA/zsre/zsre-dev.json --fold $k/2 \
               --systems none,auto --json $OUT/zsre-fold$k.json --cases $OUT/zsre-fold$k.jsonl
      done
      run zsre-crossfit .venv/bin/python bench/merge_folds.py $OUT/zsre-fold0.json $OUT/zsre-fold1.json \
               --json $OUT/zsre-crossfit.json ;;
    cf-systems) run cf-systems $KME eval counterfact $DATA/counterfact/counterfact-val.json --limit ${CF_SYSTEMS_LIMIT:-300} \
               --json $OUT/cf-systems.json --cases $OUT/cf-systems.jsonl ;;
    zsre-ike)  # IN_CONTEXT on zsRE's questions; it uses nothing trained, so every record is scored
      run zsre-ike $KME eval zsre $DATA/zsre/zsre-dev.json --systems in_context \
               --json $OUT/zsre-ike.json --cases $OUT/zsre-ike.jsonl ;;
    mquake-edits) run mquake-edits $KME eval mquake-edits $DATA/mquake/mquake-cf-dev.json --limit 150 --systems none,auto \
               --json $OUT/mquake-edits.json --cases $OUT/mquake-edits.jsonl ;;
    serac-prompts)  # SERAC's counterfactual prompt: IKE's, in-scope demonstrations only, the edit alone
      for prompt in ike in_scope fact; do
        KME_ANSWERING__SERAC_PROMPT=$prompt run serac-prompt-$prompt $KME eval counterfact \
               $DATA/counterfact/counterfact-val.json --limit 40 --systems auto --no-scores \
               --json $OUT/serac-prompt-$prompt.json --cases $OUT/serac-prompt-$prompt.jsonl
      done ;;
    agreement)
      run agree-cf .venv/bin/python bench/score_agreement.py counterfact $DATA/counterfact/counterfact-val.json \
               --limit 30 --json $OUT/agree-cf.json
      KME_MULTIHOP__TEMPLATES_DIR=$DATA/mquake run agree-mquake .venv/bin/python bench/score_agreement.py mquake $DATA/mquake/mquake-cf-dev.json \
               --limit 15 --world --skip-client --json $OUT/agree-mquake.json ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
  esac
done
