"""Throughput of the image data path (no model): decode cache build, loader, device augmentation.

The target is an H100 fed at ~4,000 img/s at 224 px. Measures, in one process:
  1. decode: PNG files -> uint8 cache with the process pool (img/s);
  2. loader: M-per-class batches from the memory-mapped cache through DataLoader workers, copied to
     the device and augmented there (img/s, the data path a training step sees);
  3. augment: BatchAugment alone on device-resident uint8 batches (img/s);
  4. resident: device_resident gather + augment, the path with no host loader at all (img/s).

    python benchmarks/bench_image_data.py --out reports/bench/image_data.md          # GPU machine
    python benchmarks/bench_image_data.py --smoke                                  # CPU logic check
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

from visgen.data.datasets import UInt8ImageDataset, keep_batch
from visgen.data.image_cache import decode_to_cache
from visgen.data.layouts.folder import scan_image_folder
from visgen.data.samplers import MPerClassBatchSampler
from visgen.data.transforms import BatchAugment

SPECIES = ["Globigerinoides_ruber", "Globigerina_bulloides", "Orbulina_universa", "Globorotalia_menardii"]


def bench_decode(tmp: Path, n: int, src: int, size: int, workers: int) -> float:
    """Write n greyscale PNGs of src x (0.8 src) px, then time the pooled decode to size px."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (int(src * 0.8), src), dtype=np.uint8)
    for i in range(n):
        folder = tmp / "png" / SPECIES[i % len(SPECIES)]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.roll(base, i, axis=1)).save(folder / f"{i:06d}.png", compress_level=1)
    t = time.perf_counter()
    decode_to_cache(scan_image_folder(tmp / "png"), size, tmp / "cache", workers=workers)
    return n / (time.perf_counter() - t)  # includes the scan and the pool start, as a user sees it


def synthetic_cache(tmp: Path, n: int, size: int, classes: int) -> tuple[Path, np.ndarray]:
    path = tmp / "images.npy"
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, size, size))
    row = np.random.default_rng(0).integers(0, 255, (size, size), dtype=np.uint8)
    for start in range(0, n, 1024):
        arr[start : start + 1024] = row
    arr.flush()
    # A long tail of class sizes, like the real data.
    labels = np.minimum((np.random.default_rng(1).pareto(1.2, n) * 3).astype(np.int64), classes - 1)
    labels[:classes] = np.arange(classes)
    return path, labels


def bench_loader(
    path: Path, labels: np.ndarray, batch: int, m: int, workers: int, device: str, epochs: int
) -> float:
    ds = UInt8ImageDataset(path, np.arange(len(labels)), labels)
    sampler = MPerClassBatchSampler(labels, m, batch, seed=0)
    loader = torch.utils.data.DataLoader(
        ds,
        batch_sampler=sampler,
        num_workers=workers,
        collate_fn=keep_batch,
        pin_memory=device == "cuda",
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers else None,
    )
    aug = BatchAugment(seed=0, channels_last=True)
    n_img, t = 0, 0.0
    for epoch in range(epochs + 1):  # epoch 0 warms up workers, page cache and kernels
        sampler.set_epoch(epoch)
        if epoch == 1:
            _sync(device)
            t = time.perf_counter()
        for b in loader:
            x = aug(b["image"].to(device, non_blocking=True), train=True)
            if epoch >= 1:
                n_img += x.shape[0]
    _sync(device)
    return n_img / (time.perf_counter() - t)


def bench_augment(batch: int, size: int, device: str, steps: int, resident: int = 0) -> float:
    aug = BatchAugment(seed=0, channels_last=True)
    g = torch.Generator(device=device).manual_seed(0)
    pool = torch.randint(
        0, 256, (max(resident, batch), size, size), dtype=torch.uint8, device=device, generator=g
    )
    for step in range(steps + 3):
        if step == 3:
            _sync(device)
            t = time.perf_counter()
        if resident:
            rows = torch.randint(0, resident, (batch,), device=device, generator=g)
            x = aug(pool[rows].unsqueeze(1), train=True)
        else:
            x = aug(pool[:batch].unsqueeze(1), train=True)
    _sync(device)
    del x
    return batch * steps / (time.perf_counter() - t)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--smoke", action="store_true", help="tiny sizes on CPU: checks the script, not the speed"
    )
    ap.add_argument("--out", type=Path, default=None, help="write a Markdown report here")
    ap.add_argument("--loader-workers", type=int, default=min(8, os.cpu_count() or 1))
    a = ap.parse_args()
    if not (a.smoke or torch.cuda.is_available()):
        # `make bench` on a CPU machine: the targets are GPU-feeding rates, so a CPU run measures nothing useful.
        print("bench_image_data: no CUDA device, skipped (--smoke runs the CPU logic check)")
        return
    device = "cuda" if torch.cuda.is_available() and not a.smoke else "cpu"
    if a.smoke:
        cfg = {"n_png": 64, "src": 96, "n": 2048, "size": 32, "batch": 64, "m": 8, "epochs": 1, "steps": 3}
    else:
        cfg = {
            "n_png": 6000,
            "src": 480,
            "n": 27729,
            "size": 224,
            "batch": 256,
            "m": 8,
            "epochs": 2,
            "steps": 50,
        }
    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        rate = bench_decode(tmp, cfg["n_png"], cfg["src"], cfg["size"], workers=os.cpu_count() or 1)
        rows.append(
            ("decode PNG -> uint8 cache", f"{cfg['n_png']} PNGs {cfg['src']}px, {os.cpu_count()} procs", rate)
        )
        print(f"decode: {rate:,.0f} img/s", flush=True)
        path, labels = synthetic_cache(tmp, cfg["n"], cfg["size"], classes=32)
        rate = bench_loader(path, labels, cfg["batch"], cfg["m"], a.loader_workers, device, cfg["epochs"])
        rows.append(
            (
                "loader + H2D + augment",
                f"{cfg['n']} imgs, batch {cfg['batch']}, {a.loader_workers} workers",
                rate,
            )
        )
        print(f"loader+augment: {rate:,.0f} img/s", flush=True)
    rate = bench_augment(cfg["batch"], cfg["size"], device, cfg["steps"])
    rows.append(("BatchAugment alone", f"batch {cfg['batch']}", rate))
    print(f"augment: {rate:,.0f} img/s", flush=True)
    rate = bench_augment(cfg["batch"], cfg["size"], device, cfg["steps"], resident=cfg["n"])
    rows.append(("device_resident gather + augment", f"{cfg['n']} imgs resident", rate))
    print(f"resident: {rate:,.0f} img/s", flush=True)
    name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu"
    lines = [
        "# Image data path throughput",
        "",
        f"Command: `python benchmarks/bench_image_data.py{' --smoke' if a.smoke else ''}`; device: {name}; "
        f"torch {torch.__version__}; {os.cpu_count()} CPU cores; {cfg['size']} px; goal >= 4,000 img/s.",
        "",
        "| stage | setup | img/s |",
        "| --- | --- | ---: |",
        *[f"| {s} | {d} | {r:,.0f} |" for s, d, r in rows],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text)


if __name__ == "__main__":
    main()
