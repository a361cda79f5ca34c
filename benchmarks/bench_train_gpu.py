"""Training throughput at paper scale: end-to-end images/s against the raw ResNet50 train-step ceiling.

Both numbers come from ONE process on one GPU, so they share the card, clocks and library versions:

1. ceiling: ``EmbeddingNet(resnet50)`` in bf16 autocast, channels-last, batch 256, 224 px, one SGD step
   per batch on synthetic tensors already on the GPU (no data path at all);
2. end-to-end: ``MetricPretrainModule`` through Lightning on ForamSim at 224 px with the real data path
   (data module, M-per-class sampler, on-device augmentation), built by the same pipeline functions as
   ``run.py``; images/s over epochs 2.. (the first epoch's warm-up — cuDNN autotuning, allocator growth,
   worker start — is excluded).

Between the two, the same process times where the gap goes (plain loops, no Lightning, no data path):

1b. the pretraining module's own step (``loss_terms``: CE plus the metric loss with its batch-hard miner, and
    the module's optimiser) on one fixed, already-augmented batch;
1c. 1b plus the on-device augmentation of a uint8 batch at every step.

(1) -> (1b) is the losses' and optimiser's own compute, (1b) -> (1c) the augmentation, (1c) -> (2) the
Lightning loop and the data path.

Writes a markdown report (command, GPU, torch version, every number, the ratio (2)/(1); goal >= 0.9).

    python benchmarks/bench_train_gpu.py                       # on a CUDA machine -> reports/bench/train_gpu.md
    python benchmarks/bench_train_gpu.py --smoke --out /tmp/x.md   # CPU logic check, tiny sizes
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without `pip install -e .` (the GPU image has none)

from visgen.models.backbone import EmbeddingNet  # noqa: E402
from visgen.run.pipeline import build_datamodule  # noqa: E402
from visgen.run.pretrain import build_pretrain_module  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(step: Callable[[], None], device: torch.device, *, steps: int, warmup: int) -> float:
    """Seconds for ``steps`` calls of ``step`` after ``warmup`` untimed ones, the device drained at both ends."""
    for _ in range(warmup):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return time.perf_counter() - start


def ceiling(
    device: torch.device, *, batch: int, size: int, trunk: str, steps: int, warmup: int, num_classes: int
) -> float:
    """Images/s of bare train steps (forward, CE, backward, SGD) on synthetic on-device tensors."""
    net = EmbeddingNet(num_classes, trunk=trunk, channels_last=True).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-3)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, num_classes, (batch,), device=device)
    dtype = torch.bfloat16

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype):
            loss = torch.nn.functional.cross_entropy(net(x)["logits"].float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return batch * steps / _timed(step, device, steps=steps, warmup=warmup)


def module_step(
    module: L.LightningModule,
    augmenter: torch.nn.Module,
    device: torch.device,
    *,
    batch: int,
    size: int,
    m_per_class: int,
    steps: int,
    warmup: int,
    augment: bool,
) -> float:
    """Images/s of the pretraining module's own train step in a plain loop (bf16 autocast, as Lightning).

    The batch is synthetic uint8 images with M-per-class labels (``batch / m_per_class`` classes, so the miner
    finds positives as in training); content does not change the cost of any kernel timed here.
    """
    module.to(device).train()
    augmenter.to(device)
    optim = module.configure_optimizers()
    opt = optim["optimizer"] if isinstance(optim, dict) else optim
    labels = torch.arange(batch // m_per_class, device=device).repeat_interleave(m_per_class)
    grey = torch.randint(0, 256, (labels.numel(), 1, size, size), dtype=torch.uint8, device=device)
    fixed = augmenter(grey, train=True)

    def step() -> None:
        x = augmenter(grey, train=True) if augment else fixed
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = module.loss_terms(module.net(x), labels)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return labels.numel() * steps / _timed(step, device, steps=steps, warmup=warmup)


class Throughput(L.Callback):
    """Counts training images and wall time from the second epoch on (the first is warm-up)."""

    def __init__(self) -> None:
        self.images = 0
        self.seconds = 0.0
        self._t0 = 0.0
        self._n0 = 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        _sync(pl_module.device)
        self._t0, self._n0 = time.perf_counter(), self.images

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        if trainer.current_epoch >= 1:
            self.images += int(batch["label"].shape[0])

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        _sync(pl_module.device)
        if trainer.current_epoch >= 1:
            self.seconds += time.perf_counter() - self._t0


def compose_run(overrides: list[str]) -> tuple[DictConfig, L.LightningDataModule]:
    """The config and set-up data module of ``run.py +experiment=ltr_align <overrides>``'s pretraining."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["+experiment=ltr_align", *overrides])
    L.seed_everything(int(cfg.seed), workers=True)
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    return cfg, dm


def end_to_end(
    cfg: DictConfig, dm: L.LightningDataModule, *, epochs: int, profiler: Any = None
) -> tuple[float, int, str]:
    """Images/s of Lightning training through the real data path, epochs 2..``epochs``.

    ``profiler``: a Lightning profiler (``--hooks``: per-hook wall time, where the (1c) -> (2) gap sits).

    Returns:
        (images/s, training images per epoch, precision string used).
    """
    module = build_pretrain_module(cfg, dm.num_classes)
    if cfg.model.compile:
        module.net.compile()
    meter = Throughput()
    # Validation and checkpointing are off: this measures the training loop the GPU has to be kept busy in.
    trainer = instantiate(
        cfg.trainer,
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        limit_val_batches=0,
        callbacks=[meter],
        profiler=profiler,
    )
    trainer.fit(module, datamodule=dm)
    per_epoch = int(sum(dm.train_counts))
    return meter.images / max(meter.seconds, 1e-9), per_epoch, str(cfg.trainer.precision)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "train_gpu.md")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="ForamSim scale (1.0: the data `profile=paper` reuses)"
    )
    parser.add_argument("--epochs", type=int, default=3, help="end-to-end epochs (the first is warm-up)")
    parser.add_argument("--steps", type=int, default=30, help="timed ceiling steps")
    parser.add_argument("--compile", action="store_true", help="torch.compile the net in both measurements")
    parser.add_argument("--smoke", action="store_true", help="CPU logic check: resnet18, 32 px, tiny data")
    parser.add_argument(
        "--hooks",
        action="store_true",
        help="also write Lightning's per-hook wall times next to --out (_hooks.txt)",
    )
    args = parser.parse_args(argv)

    if not (args.smoke or torch.cuda.is_available()):
        # `make bench` on a CPU machine: a CPU number here would read as a GPU result, so write nothing.
        print("bench_train_gpu: no CUDA device, skipped (--smoke runs the CPU logic check)")
        return 0
    smoke = args.smoke
    device = torch.device("cpu" if smoke else "cuda")
    if smoke:
        batch, size, trunk, steps, warmup = 16, 32, "resnet18", 2, 1
        overrides = [
            "profile=quick",
            "trainer.accelerator=cpu",
            "data.image_size=32",
            "data.batch_size=16",
            "data.scale=0.02",
            "data.num_workers=0",
            "model.net.trunk=resnet18",
        ]
    else:
        batch, size, trunk, steps, warmup = 256, 224, "resnet50", args.steps, 10
        torch.backends.cudnn.benchmark = True
        overrides = ["profile=paper", f"data.scale={args.scale}", f"data.batch_size={batch}"]
    if args.compile:
        overrides.append("model.compile=true")

    t0 = time.perf_counter()
    raw = ceiling(device, batch=batch, size=size, trunk=trunk, steps=steps, warmup=warmup, num_classes=32)
    print(
        f"ceiling: {raw:.0f} img/s ({trunk}, batch {batch}, {size} px, bf16 autocast, channels-last)",
        flush=True,
    )
    cfg, dm = compose_run(overrides)
    steps_of = {}
    for name, augment in (("1b", False), ("1c", True)):
        steps_of[name] = module_step(
            build_pretrain_module(cfg, dm.num_classes),
            dm.augmenter,
            device,
            batch=batch,
            size=size,
            m_per_class=int(cfg.data.m_per_class),
            steps=steps,
            warmup=warmup,
            augment=augment,
        )
        print(
            f"module step ({name}, augmentation {'on' if augment else 'off'}): {steps_of[name]:.0f} img/s",
            flush=True,
        )
    hooks = None
    if args.hooks:
        from lightning.pytorch.profilers import SimpleProfiler

        hooks = SimpleProfiler()
    e2e, per_epoch, precision = end_to_end(cfg, dm, epochs=max(args.epochs, 2), profiler=hooks)
    hooks_file = args.out.with_name(args.out.stem + "_hooks.txt")
    ratio = e2e / raw
    print(
        f"end-to-end: {e2e:.0f} img/s ({per_epoch} train images/epoch, {precision}); ratio {ratio:.2f}",
        flush=True,
    )

    gpu = (
        torch.cuda.get_device_name(0)
        if device.type == "cuda"
        else f"CPU ({platform.processor() or platform.machine()})"
    )
    command = "python benchmarks/bench_train_gpu.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        "# Training throughput: end-to-end vs. raw ResNet50 train-step ceiling",
        "",
        f"- command: `{command.strip()}`" + (" (SMOKE: CPU logic check, not a measurement)" if smoke else ""),
        f"- device: {gpu}; torch {torch.__version__}; lightning {L.__version__}; date {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- data: ForamSim (synthetic) scale {args.scale if not smoke else 0.02}, {size} px, {per_epoch} training images/epoch;"
        f" batch {batch}; end-to-end epochs 2..{max(args.epochs, 2)} timed (epoch 1 = warm-up)",
        f"- torch.compile: {'on' if args.compile else 'off'}; total benchmark wall time {time.perf_counter() - t0:.0f} s",
        "",
        "| measurement | images/s |",
        "| --- | ---: |",
        f"| (1) raw {trunk} train step, synthetic on-device batch, bf16 autocast, channels-last | {raw:.0f} |",
        f"| (1b) the pretraining module's step (CE + metric loss + its optimiser), fixed augmented batch, plain loop | {steps_of['1b']:.0f} |",
        f"| (1c) (1b) plus on-device augmentation every step | {steps_of['1c']:.0f} |",
        f"| (2) MetricPretrainModule via Lightning, real data path ({precision}) | {e2e:.0f} |",
        f"| ratio (2)/(1) (goal >= 0.9) | {ratio:.2f} |",
        "",
    ]
    if hooks is not None:
        lines += [
            f"Lightning's wall time per hook over all epochs (warm-up included): `{hooks_file.name}`.",
            "",
        ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    if hooks is not None:
        hooks_file.write_text(hooks.summary())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
