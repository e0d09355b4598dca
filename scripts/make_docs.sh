#!/usr/bin/env bash
# Regenerate every figure and table in docs/ from scratch, on the embedded data, then check the
# claims the docs make against the numbers just produced.
#   scripts/make_docs.sh                 # STEPS=80 steps per task, WORKERS=2 processes, RUNS=runs/docs
#   STEPS=250 scripts/make_docs.sh       # the default budget of `csslab run` (about 3x longer)
# Completed runs are reused: a second call only redraws (delete $RUNS to start from scratch).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-80}
WORKERS=${WORKERS:-2}
RUNS=${RUNS:-runs/docs}
FIG=docs/figures
mkdir -p "$FIG" "$RUNS"
start=$(date +%s)
common=(--seeds 1 --steps "$STEPS" --workers "$WORKERS")

# background-shift.md: one scene through every task, sample training scenes, label statistics
csslab scenario --setting overlap --train-scenes 2000 --save "$FIG/scenes-overlap.png" --samples 6 \
    --save-shift "$FIG/shift-scene.png" > "$RUNS/scenario-overlap.md"
for setting in disjoint sequential clean; do
    csslab scenario --setting "$setting" --train-scenes 2000 > "$RUNS/scenario-$setting.md"
done
# the settings matrix: every combination of the switches x the methods that model background shift
csslab benchmark --methods finetune,lwf,mib,plop --settings all "${common[@]}" --out "$RUNS/settings"
# memory.md: memory size, refreshed vs stored masks, augmentation, memory + distillation
csslab benchmark --methods replay --grid params.memory_size=0,25,100,400 "${common[@]}" --out "$RUNS/memory-size"
csslab benchmark --methods replay --grid params.refresh=none,pseudo --grid params.augment=false,true \
    "${common[@]}" --out "$RUNS/memory-refresh"
csslab benchmark --methods mib --grid params.memory_size=0,100 "${common[@]}" --out "$RUNS/memory-mib"
# methods.md: every method on the default scenario
csslab benchmark --methods all "${common[@]}" --out "$RUNS/methods"

python scripts/docs_tables.py "$RUNS" docs --steps "$STEPS"
echo "docs regenerated in $(( ($(date +%s) - start) / 60 )) min ($RUNS -> docs/)"
