#!/usr/bin/env bash
# Every study printout that docs/results.md quotes, printed again from the committed (relabelled) records with
# the like-with-like rule (issue #29). A table that compares across data, precision or world model is refused by
# `study_synthetic.py table`; where docs/results.md keeps such a comparison, the command below allows it
# explicitly and the printout names the difference. Run from the repository root: bash benchmarks/study_printouts.sh
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
R=results/study-synthetic X=results/study-xeon S=results/study-scarce B=results/parity-precision/bfloat16
t() { out=$1; shift; echo "== $out"; python study_synthetic.py table "$@" > "$out"; }
# like with like as recorded
t $R/six-methods.md --out $R --variants combined+ratio-0.25 dwm
t $R/default-three-datasets.md --out $R --variants combined+ratio-0.25
t $X/same-machine.md --out $X --variants combined+ratio-0.25+oracle combined+ratio-0.25+ensemble-labels \
  combined+ratio-0.25+return-starts combined+ratio-0.25+horizon-3 --versus combined+ratio-0.25
t $X/hopper-medium-replay.md --out $X --variants combined+ratio-0.25+oracle --versus combined+ratio-0.25 \
  --datasets hopper-medium-replay
t $S/scarce-10pct.md --out $S --variants combined+ratio-0.25 --datasets hopper-medium-replay-10pct
t $S/scarce-2pct.md --out $S --variants combined+ratio-0.25 --datasets hopper-medium-replay-2pct \
  hopper-medium-2pct walker2d-medium-replay-2pct
t $S/hopper-medium-0.3pct.md --out $S --variants combined+ratio-0.25 --datasets hopper-medium-0.3pct
# bfloat16 variants on the first machine's data against the bfloat16 plain agents of the precision-parity grid
t $R/oracle-today.md --out $R --variants combined+ratio-0.25+oracle --baseline $B --datasets hopper-medium \
  walker2d-medium-replay
t $R/ensemble-labels.md --out $R --variants combined+ratio-0.25+ensemble-labels --baseline $B --datasets hopper-medium
# (each variant is a world model of its own: side by side they differ in it by design, so the table allows it)
t $R/world-model-knobs.md --out $R --variants combined+ratio-0.25+karras combined+ratio-0.25+mlp-denoiser \
  --baseline $B --datasets hopper-medium-replay --allow-mismatch world-model
# labelled: kept side by side although they differ (the printout names the difference)
t $R/table.md --out $R --variants published combined combined+consistency-0.9 oracle --allow-mismatch world-model
t $R/oracle-today-versus-default.md --out $R --variants combined+ratio-0.25+oracle --versus combined+ratio-0.25 \
  --datasets hopper-medium walker2d-medium-replay --allow-mismatch precision world-model
t $R/world-model-knobs-versus-default.md --out $R --variants combined+ratio-0.25+karras \
  combined+ratio-0.25+mlp-denoiser --versus combined+ratio-0.25 --datasets hopper-medium-replay \
  --allow-mismatch precision world-model
t $R/ensemble-labels-versus-default.md --out $R --variants combined+ratio-0.25+ensemble-labels \
  --versus combined+ratio-0.25 --datasets hopper-medium --allow-mismatch precision world-model
# the cross-machine comparisons of 2026-12-05 as first printed (the like-for-like ones are in same-machine.md)
t $R/choice-of-pairs.md --out $R --variants combined+ratio-0.25+return-starts combined+ratio-0.25+horizon-3 \
  --versus combined+ratio-0.25 --datasets hopper-medium-replay --allow-mismatch data precision world-model
t $R/ensemble-labels-three-datasets.md --out $R --variants combined+ratio-0.25+ensemble-labels \
  --versus combined+ratio-0.25 --allow-mismatch data precision world-model
python pooled_view.py > results/pooled-view.md
python bootstrap_digits.py --seeds 10 > results/bootstrap-digits.md
