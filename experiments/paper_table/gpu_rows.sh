#!/usr/bin/env bash
# Paper profile (ResNet50, 224 px, all 27,729 ForamSim images, 20 + 5 epochs) on one GPU, seed 0, λ = 1, then
# `visgen report` -> reports/paper_table_gpu.md. Rows, most important first (BUDGET_S cuts from the end; rows
# that did not finish show as missing):
#   ltr (row 5), ltr_align (row 7)                   one pretraining, one alignment
#   ltr_authors, ltr_align_authors                    the same rows under protocol=authors (2-layer head, instance
#                                                     alignment batches, checkpoints chosen on TEST: marked rows)
#   rtl_softmax (row 4, the baseline)                 a third pretraining (direction 1)
#   ltr_align_shuffled, ltr_align_equiangular         anchor controls: alignments on ltr's cached pretraining
#   ltr_crt, ltr_ncm, ltr_tau_norm, ltr_logit_adjust,  rebalancing baselines on ltr's frozen trunk (one feature
#   ltr_plain                                          pass each; cRT trains the heads on cached features)
#   ltr_align_random, ltr_align_centred               the remaining anchor controls
# Measured on an H200 (run.json wall_s, 2026-11-30): pretraining 134 s (rtl_softmax) and 147 s (ltr_authors),
# alignment 25-32 s; the sweep's start and the carried wheels' install add ~25 s.
#
#   bash experiments/paper_table/gpu_rows.sh            # on the GPU machine, repo root, with .whl/ carried
#   SMOKE=1 bash experiments/paper_table/gpu_rows.sh    # the same logic on this CPU at toy size (venv python)
#   ROWS=ltr,ltr_align BUDGET_S=400 bash experiments/paper_table/gpu_rows.sh   # fewer rows / a hard time limit
#
# Rows that share a pretraining (ltr -> ltr_align and the controls; ltr_authors -> ltr_align_authors) train it
# once, by the first row. Everything small (run.json, metrics, per-species tables, configs, the report and its
# plots) comes back as $OUT/results.tgz; checkpoints and embeddings stay on the machine.
set -uo pipefail
OUT=${OUT:-$PWD/gpu_rows_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 WANDB_MODE=offline HYDRA_FULL_ERROR=1
export VISGEN_CACHE=${VISGEN_CACHE:-/tmp/visgen_cache}
DEFAULT_ROWS=ltr,ltr_align,ltr_authors,ltr_align_authors,rtl_softmax,ltr_align_shuffled,ltr_align_equiangular,ltr_crt,ltr_ncm,ltr_tau_norm,ltr_logit_adjust,ltr_plain,ltr_align_random,ltr_align_centred
ROWS=${ROWS:-$DEFAULT_ROWS}
WORK=${WORK:-/tmp/visgen_gpu_rows}
MR=$WORK/multirun/paper_table_gpu
T0=$(date +%s)
stamp() { echo "[gpu_rows +$(($(date +%s) - T0))s] $*"; }

if [ "${SMOKE:-0}" = 1 ]; then
  PY=${PYTHON:-.venv/bin/python}
  export PYTHONPATH=$PWD
  SIZE=(profile=quick trainer.accelerator=cpu data.scale=0.02 data.image_size=32 data.num_workers=0
        trainer.max_epochs=1 trainer.check_val_every_n_epoch=1 align.epochs=1)
else
  PY=${PYTHON:-python3}
  stamp "installing the carried wheels"
  $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 3
  # Optional groups (.whl_h6/<group>/, carried too) only where the image lacks the module: never shadow its own.
  $PY -c "import yaml" 2>/dev/null || $PY -m pip install -q --no-index --no-deps --target /tmp/site .whl_h6/yaml/*.whl
  export PYTHONPATH=/tmp/site:$PWD
  $PY -c "import matplotlib, sklearn" 2>/dev/null \
    || $PY -m pip install -q --no-index --no-deps --target /tmp/site_plots .whl_h6/plots/*.whl
  [ -d /tmp/site_plots ] && export PYTHONPATH=$PYTHONPATH:/tmp/site_plots
  # No Rich progress bar: not every image has `rich`, and the log is read by a person afterwards.
  SIZE=(profile=paper callbacks.progress_bar=null)
fi
$PY -c "import torch, torchvision, lightning, hydra, faiss, scipy, PIL, pytorch_metric_learning, visgen.run.pipeline" || exit 4
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
stamp "device: ${GPU:-no GPU}; rows: $ROWS"

rm -rf "$MR"
# The command-line +experiment/seed/λ replace the sweep's own lists (Hydra: the command line wins).
# BUDGET_S stops the sweep in time to still report and pack what finished (unfinished rows show as missing).
timeout --signal=INT "${BUDGET_S:-100000}" $PY run.py -m +sweep=paper_table "+experiment=$ROWS" seed=0 data.phylo_signal=1.0 "${SIZE[@]}" \
  hydra.sweep.dir="$MR" 2>&1 | grep -vE "it/s|━|^\s*$" | tee "$OUT/sweep.log" | grep -E "visgen:|stage|after|error|Error" | tail -40
stamp "sweep finished"

# Where it ran (GPU, CPU, torch) is in every run.json's `machine`; the report header shows it.
if $PY -c "import matplotlib, sklearn, yaml" 2>/dev/null; then
  $PY -m visgen.cli report "$MR" --out "$WORK/reports" | tail -30
else
  echo "matplotlib/sklearn/yaml missing here: run visgen report on the results instead" | tee -a "$OUT/sweep.log"
fi
# The CSV training logs come back too (a few KB): protocol_probe.py reads the test-selected runs' val_split/* from them.
$PY experiments/paper_table/protocol_probe.py "$MR" 2>&1 | tee "$OUT/protocol_probe.md" | tail -25
tar czf "$OUT/results.tgz" -C "$WORK" --exclude="*.ckpt" --exclude="*.npz" multirun \
  $([ -d "$WORK/reports" ] && echo reports)
stamp "done: $(ls "$OUT" | tr '\n' ' ')"
