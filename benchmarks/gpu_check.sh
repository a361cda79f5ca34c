#!/usr/bin/env bash
# The one GPU check (H100, hard ~8 min budget): GPU-marked tests, the throughput benchmark, and the
# paper profile's ltr_align at full scale. Prints timings as it goes; results land in $OUT.
#
#   bash benchmarks/gpu_check.sh                     # on the GPU machine, from the repo root; carry .whl/
#   VISGEN_GPU_CHECK=short bash benchmarks/gpu_check.sh     # GPU, 10% data, 2+1 epochs (~2 min): try first
#   VISGEN_GPU_CHECK=smoke bash benchmarks/gpu_check.sh     # CPU logic check (tiny sizes, venv python)
#
# The GPU image has python 3.12, torch, torchvision and lightning but not hydra-core, omegaconf, antlr4,
# faiss-cpu or pytorch-metric-learning. Their wheels travel in the git-ignored .whl/, fetched once with
#   P="--no-deps --only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
#      --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl"
#   for w in hydra-core==1.3.2 omegaconf==2.3.0 faiss-cpu==1.15.1 pytorch-metric-learning==2.9.0; do
#     python3 -m pip download $P $w; done
#   python3 -m pip wheel --no-deps -w .whl antlr4-python3-runtime==4.9.3   # sdist only on PyPI; pure Python
# and installed into /tmp/site; visgen itself runs from this checkout through PYTHONPATH (no install).
set -uo pipefail
MODE=${VISGEN_GPU_CHECK:-full}
OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 WANDB_MODE=offline HYDRA_FULL_ERROR=1
export VISGEN_CACHE=${VISGEN_CACHE:-/tmp/visgen_cache}
T0=$(date +%s)
stamp() { echo "[gpu_check +$(( $(date +%s) - T0 ))s] $*"; }
status=0

if [ "$MODE" = smoke ]; then
  PY=${PYTHON:-.venv/bin/python}
  export PYTHONPATH=$PWD
  BENCH_ARGS=(--smoke --out "$OUT/train_gpu.md")
  RUN_ARGS=(profile=quick trainer.accelerator=cpu data.scale=0.02 data.image_size=32 data.batch_size=32
            data.num_workers=0 model.net.trunk=resnet18 trainer.max_epochs=1 align.epochs=1)
else
  PY=${PYTHON:-python3}
  stamp "installing carried wheels"
  $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || { echo "wheel install failed"; exit 3; }
  export PYTHONPATH=/tmp/site:$PWD
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  if [ "$MODE" = short ]; then
    BENCH_ARGS=(--scale 0.1 --epochs 2 --steps 10 --out "$OUT/train_gpu_short.md")
    RUN_ARGS=(profile=paper data.scale=0.1 trainer.max_epochs=2 trainer.check_val_every_n_epoch=1 align.epochs=1)
  else
    BENCH_ARGS=(--out "$OUT/train_gpu.md")
    RUN_ARGS=(profile=paper)
  fi
fi
$PY -c "import torch, lightning, hydra, faiss, pytorch_metric_learning; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'lightning', lightning.__version__)"

stamp "GPU-marked tests"
$PY -m pytest -q -m gpu -p no:cacheprovider --continue-on-collection-errors tests 2>&1 | tee "$OUT/pytest_gpu.log" | tail -15 || status=1

stamp "throughput benchmark"
$PY benchmarks/bench_train_gpu.py "${BENCH_ARGS[@]}" 2>&1 | tail -20 || status=1

stamp "python run.py +experiment=ltr_align ${RUN_ARGS[*]}"
RUN_DIR=/tmp/visgen_gpu_check/ltr_align
rm -rf "$RUN_DIR"
$PY run.py +experiment=ltr_align "${RUN_ARGS[@]}" hydra.run.dir="$RUN_DIR" 2>&1 | grep -v "^\s*$" \
  | grep -vE "it/s|━" | tee "$OUT/run_ltr_align.log" | tail -40 || status=1
for f in run.json pretrain/metrics.json align/metrics.json; do
  [ -f "$RUN_DIR/$f" ] && cp "$RUN_DIR/$f" "$OUT/${f//\//_}"
done
stamp "done (status $status); results in $OUT: $(ls "$OUT" | tr '\n' ' ')"
exit $status
