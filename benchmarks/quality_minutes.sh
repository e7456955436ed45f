#!/usr/bin/env bash
# BLEU at equal minutes of training: ours against OpenNMT-py 3.5.1 (../shared/peers), one job at a time.
#   bash benchmarks/quality_minutes.sh [MINUTES...]      default: 15 30
#   RESUME=1 bash benchmarks/quality_minutes.sh 30       continue an earlier call's run to 30 minutes
# Needs the peers' venvs (bash ../shared/peers/setup_envs.sh; prep_data.py) and nothing else running.
# Ours counts from process start as the peer's budget does; the longer budgets resume the same run
# folder (the elapsed time is kept in the checkpoint, so each resume also pays its own start-up).
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${PEERS:-../shared/peers}
PEER_PY=${PEER_PY:-/tmp/peers/venv-onmt/bin/python}
RUN=${RUN:-runs/quality_minutes}
OUT=${OUT:-runs/quality_minutes.log}
MINUTES=("$@")
[ $# -eq 0 ] && MINUTES=(15 30)
mkdir -p "$(dirname "$OUT")" models
echo "# $(date -u +%FT%TZ) $(lscpu | sed -n 's/^Model name: *//p')" | tee -a "$OUT"
fresh=--fresh
[ "${RESUME:-0}" = 1 ] && fresh=  # RESUME=1: continue the run folder of an earlier call (e.g. 15, then 30)
for m in "${MINUTES[@]}"; do
  start=$(date +%s)
  .venv/bin/seq2seq train --config configs/multi30k.yaml --data data/multi30k --run-dir "$RUN" $fresh \
    --max-minutes "$m" --export "models/quality_${m}min.pt" 2>&1 | tee "$RUN.$m.log" | grep -E "BLEU|chrF|reached|step" | tail -5
  fresh=
  echo "ours ${m} min: wall $(( $(date +%s) - start )) s; $(grep -E 'BLEU\|' "$RUN.$m.log" | tail -1)" | tee -a "$OUT"
  (cd "$PEERS" && "$PEER_PY" peers.py budget onmt --budget $(( m * 60 ))) 2>&1 | tail -3 | tee -a "$OUT"
done
(cd "$PEERS" && "$PEER_PY" peers.py table) | tee -a "$OUT"
