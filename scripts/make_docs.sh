#!/usr/bin/env bash
# Regenerate every figure and table in docs/ from scratch, on the embedded data, then check the
# claims the docs make against the numbers just produced.
#   scripts/make_docs.sh      # WORKERS=2 processes, RUNS=runs/docs
# The experiments run the default split (2-2-2-2-2) at STEPS=100 steps per task (the default is 250;
# with fewer than ~100 the new classes of a task are barely learnt: 60 steps gave new-class IoU 0.08
# after task 1), seed 0, one thread per run; one replay run at the default budget shows what the
# memory learns by heart. The README's benchmark (3 seeds at 250 steps) is not run (BENCH, below).
# Every experiment reuses the finished runs of the others (--reuse): a configuration is trained once.
# The methods table runs first (it holds every shared configuration); then the settings matrix and
# the memory experiments run side by side, so neither leaves a core idle at its end.
# Completed runs are reused: a second call only redraws. Runs whose configuration the code no longer makes
# (a default changed since) are replaced (--overwrite), so no page shows a run of an older default.
# docs/papers.md comes last: the papers' suite at its own budget (125 steps per class), see below.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-100}
TASKS=${TASKS:-2-2-2-2-2}
WORKERS=${WORKERS:-2}
RUNS=${RUNS:-runs/docs}
FIG=docs/figures
mkdir -p "$FIG" "$RUNS"
start=$(date +%s)
common=(--tasks "$TASKS" --seeds 1 --steps "$STEPS" --workers "$WORKERS" --set train.threads=1  # one thread per run:
        --reuse "$RUNS" --no-run-reports --overwrite)  # the same numbers whatever WORKERS; scripts/docs_tables.py reports the runs it shows

# memory.md: replay at the default budget, alongside the rest (one process, one thread)
csslab benchmark --methods replay --tasks "$TASKS" --seeds 1 --set train.threads=1 --no-report --overwrite \
    --out "$RUNS/replay-default" > "$RUNS/replay-default.log" 2>&1 &
replay_default=$!

# background-shift.md: one scene through every task, sample training scenes, label statistics
csslab scenario --setting overlap --train-scenes 2000 --save "$FIG/scenes-overlap.png" --samples 6 \
    --save-shift "$FIG/shift-scene.png" > "$RUNS/scenario-overlap.md"
for setting in disjoint sequential clean; do
    csslab scenario --setting "$setting" --train-scenes 2000 > "$RUNS/scenario-$setting.md"
done
# methods.md first: every method on the default scenario at the same budget. Its runs include every
# configuration the other experiments share (finetune/lwf/mib/plop under overlap, replay with its
# defaults), so the experiments after it share nothing left to train and can run side by side.
csslab benchmark --methods all "${common[@]}" --out "$RUNS/methods"
# memory.md (one process, one run at a time): memory size, refreshed vs stored masks, augmentation,
# memory + distillation; beside the settings matrix, so no core idles while a benchmark runs its last run
(
  csslab benchmark --methods replay --grid params.memory_size=0,100,400 "${common[@]}" --workers 1 \
      --out "$RUNS/memory-size"
  csslab benchmark --methods replay --grid params.refresh=none,pseudo --grid params.augment=false,true \
      "${common[@]}" --workers 1 --out "$RUNS/memory-refresh"
  csslab benchmark --methods mib --grid params.memory_size=0,100 "${common[@]}" --workers 1 --out "$RUNS/memory-mib"
) > "$RUNS/memory.log" 2>&1 &
memory=$!
# background-shift.md, the settings matrix: every combination of the switches x the methods that model
# background shift
csslab benchmark --methods finetune,lwf,mib,plop --settings all "${common[@]}" --out "$RUNS/settings"
wait "$memory" || { cat "$RUNS/memory.log"; exit 1; }
cat "$RUNS/memory.log"
wait "$replay_default" || { cat "$RUNS/replay-default.log"; exit 1; }

# the README's benchmark table is refilled from BENCH (the README's command, 3 seeds at the default budget;
# not run here) when it holds that benchmark
BENCH=${BENCH:-runs/bench5}
readme=(); [ -f "$BENCH/benchmark.json" ] && readme=(--readme-bench "$BENCH")
python scripts/docs_tables.py "$RUNS" docs --steps "$STEPS" --tasks "$TASKS" ${readme[@]+"${readme[@]}"}

# papers.md: the papers' suite at its own budget (125 steps per class), its 3 seeds (PAPERS_SEEDS=1: a third of the
# runs, and the page then shows no spread), on the splits, settings and methods the page's findings read (the whole
# suite: docs/cli.md, "Several splits, and the papers' suite"), under each regime of PAPERS_REGIMES: from scratch
# (none: RUNS/papers*) and on the backbone pretrained on digits no scene holds (digits: RUNS/papers-digits*,
# model.pretrain=digits, cached once per machine); scripts/papers_doc.py reads a run's regime from its config
# one process of two threads (not WORKERS of one): the page's runs were trained so, and the thread count is part of a
# run's configuration, so this reuses them and gives their numbers
papers=(--seeds "${PAPERS_SEEDS:-3}" --workers 1 --set train.threads=2 --no-run-reports --reuse "$RUNS" --overwrite)
ablate() {  # ablate OUT METHOD ARGS...: one ablation behind the page's explanations, on 6-1 in overlap
  local out=$1 method=$2; shift 2
  csslab benchmark --suite papers --methods "$method" --tasks 6-1 --settings overlap "$@" "${papers[@]}" --out "$out"
}
for regime in ${PAPERS_REGIMES:-none digits}; do
  if [ "$regime" = none ]; then at=(); out="$RUNS/papers"; else at=(--set "model.pretrain=$regime"); out="$RUNS/papers-$regime"; fi
  csslab benchmark --suite papers --methods finetune,lwf,mib,plop,ssul --tasks 6-1,6-4,2-1 --settings overlap \
      "${papers[@]}" ${at[@]+"${at[@]}"} --out "$out"
  csslab benchmark --suite papers --methods joint --tasks 6-1 --settings overlap "${papers[@]}" ${at[@]+"${at[@]}"} \
      --out "$out-joint"
  csslab benchmark --suite papers --methods mib --tasks 6-1 --settings disjoint "${papers[@]}" ${at[@]+"${at[@]}"} \
      --out "$out-disjoint"
  # the newer methods (issue 16) on the two big-base splits
  csslab benchmark --suite papers --methods sdr,dkd,ewf,microseg,eir --tasks 6-1,6-4 --settings overlap \
      "${papers[@]}" ${at[@]+"${at[@]}"} --out "$out-new"
  if [ "$regime" != none ]; then  # the ablations behind the pretrained regime's explanations
    ablate "$out-plop-nopod" plop --grid params.pod_factor=0 --grid params.pod_logits_factor=0 "${at[@]}"
    ablate "$out-plop-median" plop --grid params.threshold_rule=median "${at[@]}"
    ablate "$out-ewf-nofuse" ewf --grid params.fuse=false "${at[@]}"
    ablate "$out-dkd-ac0" dkd --grid params.ac=0 "${at[@]}"
    ablate "$out-dkd-bnfrozen" dkd --grid params.freeze_bn_affine=true "${at[@]}"
    ablate "$out-microseg-pixel" microseg --grid params.region_level=false "${at[@]}"
  fi
done
# the findings on the README's benchmark split (2-2-2-2-2, the default budget): DKD against MiB, the newer methods
# against MiB and PLOP, under both regimes in one grid (its rows' variant names the regime)
csslab benchmark --methods mib,plop,ssul,dkd,microseg,ewf --seeds "${PAPERS_SEEDS:-3}" --workers 1 \
    --set train.threads=2 --grid "model.pretrain=$(echo ${PAPERS_REGIMES:-none digits} | tr ' ' ,)" \
    --no-run-reports --reuse "$RUNS" --overwrite --out "$RUNS/papers-default"
# the ablations behind the page's explanations: PLOP without POD, PLOP with the paper's median threshold rule,
# SSUL on a pretrained backbone (6-1)
ablate "$RUNS/papers-plop-nopod" plop --grid params.pod_factor=0 --grid params.pod_logits_factor=0
ablate "$RUNS/papers-plop-median" plop --grid params.threshold_rule=median
ablate "$RUNS/papers-ssul-pretrain" ssul --grid model.pretrain=shapes
python scripts/papers_doc.py "$RUNS"/papers "$RUNS"/papers-* --page docs/papers.md
echo "docs regenerated in $(( ($(date +%s) - start) / 60 )) min ($RUNS -> docs/)"
