"""Throughput of ``visgen predict`` (decode + embed + KNN + novelty + CSV), at 64 px and 224 px.

The run folder is built here rather than trained: a checkpoint of a randomly initialised ``EmbeddingNet``
(ResNet18, the quick profile's trunk, and ResNet50, the paper's), the real composed config at that image size,
and a gallery of 2,000 random 256-D embeddings over 35 species — the values of weights and embeddings do not
change the work done per image, so the timing is the one a trained run of that shape gets. Images are
greyscale PNGs of 480x384 px (decoded, padded and resized like training's), timed through ``predict()``
itself, model loading included, as a user of ``visgen predict`` sees it.

    python benchmarks/bench_predict.py                                      # CPU -> reports/bench/predict.md
    python benchmarks/bench_predict.py --device cuda --out reports/bench/predict_gpu.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without install

from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from visgen.models.backbone import EmbeddingNet  # noqa: E402
from visgen.results import RunRecord, write_config, write_embeddings, write_metrics  # noqa: E402
from visgen.run.machine import describe_machine  # noqa: E402
from visgen.run.predict import load_run, predict  # noqa: E402

N_CLASSES, GALLERY = 35, 2000


def make_run(folder: Path, trunk: str, image_size: int) -> Path:
    """A run folder of the shape ``run.py`` writes: config.yaml, run.json, align/{checkpoint, embeddings, metrics}."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["data=endless_forams", "data.root=/none", f"data.image_size={image_size}",
                                          f"model.net.trunk={trunk}"])  # fmt: skip
    stage = folder / "align"
    (stage / "checkpoints").mkdir(parents=True)
    write_config(folder, OmegaConf.to_container(cfg, resolve=True))
    net = EmbeddingNet(N_CLASSES, trunk=trunk)
    ckpt = stage / "checkpoints" / "best.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}, ckpt)
    rng = np.random.default_rng(0)
    write_embeddings(stage, gallery_embeddings=rng.normal(size=(GALLERY, 256)).astype(np.float32),
                     gallery_labels=rng.integers(0, N_CLASSES, GALLERY),
                     species=np.array([f"Genus_s{c}" for c in range(N_CLASSES)]))  # fmt: skip
    write_metrics(stage, {"k": int(cfg.callbacks.knn_eval.k), "metric": str(cfg.callbacks.knn_eval.metric)})
    RunRecord(folder, "bench_predict", "bench", 0, status="ok", stages={"align": {"best": str(ckpt)}}).write()
    return folder


def write_images(folder: Path, n: int) -> Path:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (384, 480), dtype=np.uint8)
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.roll(base, 7 * i, axis=1)).save(folder / f"{i:05d}.png", compress_level=1)
    return folder


def main(argv: list[str] | None = None) -> int:
    """``make bench`` calls this without arguments: the CPU, and the GPU too when one is present."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="cpu, cuda, or auto (cpu, then cuda when present)")
    parser.add_argument(
        "--images", type=int, default=None, help="images per measurement (default 64 CPU, 4096 GPU)"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--out", type=Path, default=None, help="report (default reports/bench/predict[_gpu].md)"
    )
    args = parser.parse_args(argv)
    if args.device != "auto":
        return bench(args.device, args.images, args.batch_size, args.out)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    return max(
        bench(d, args.images, args.batch_size, args.out if len(devices) == 1 else None) for d in devices
    )


def bench(device_name: str, images_n: int | None, batch_size: int, out: Path | None) -> int:
    """Measure on one device and write its report."""
    args = argparse.Namespace(device=device_name, images=images_n, batch_size=batch_size)
    default = "predict_gpu.md" if device_name.startswith("cuda") else "predict.md"
    args.out = out or ROOT / "reports" / "bench" / default
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench_predict: --device cuda but no CUDA device here; nothing written")
        return 0
    n = args.images or (4096 if args.device.startswith("cuda") else 64)
    load = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        images = write_images(Path(tmp) / "images", n)
        warm = write_images(Path(tmp) / "warm", 8)
        for trunk in ("resnet18", "resnet50"):
            for size in (64, 224):
                run = make_run(Path(tmp) / f"run_{trunk}_{size}", trunk, size)
                # Warm-up: allocator, cuDNN autotuning, page cache of the checkpoint.
                predict(run, [warm], out=Path(tmp) / "w.csv", device=args.device, progress=False)
                start = time.perf_counter()
                load_run(run, args.device)
                load_s = time.perf_counter() - start
                start = time.perf_counter()
                _, done, _ = predict(run, [images], out=Path(tmp) / "p.csv", batch_size=args.batch_size,
                                     device=args.device, progress=False)  # fmt: skip
                wall = time.perf_counter() - start
                rows.append((trunk, size, done, wall, load_s, done / wall, done / max(wall - load_s, 1e-9)))
                print(f"{trunk} {size}px: {done} images in {wall:.1f} s (load {load_s:.1f} s)", flush=True)
    device = (
        torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"CPU, {os.cpu_count()} cores"
    )
    lines = [
        "# `visgen predict` throughput",
        "",
        f"- command: `python benchmarks/bench_predict.py --device {args.device}"
        + (f" --images {args.images}" if args.images else "")
        + "`",
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {device}, {describe_machine()}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}",
        f"- load average before the run (1/5/15 min): {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
        "(a load above the core count means shared cores and a lower rate)",
        f"- workload: {n} greyscale PNGs of 480x384 px, batch {args.batch_size}, gallery {GALLERY} x 256-D over "
        f"{N_CLASSES} species, k = 5, top-5 + novelty; timed: the whole `predict()` call (model load, decode, "
        "embed, KNN, CSV) after a warm-up call on 8 images; model load timed separately by `load_run`",
        "",
        "| trunk | image px | images | wall s | of which model load s | images/s | images/s after loading |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[f"| {t} | {s} | {d} | {w:.1f} | {ld:.1f} | {r:.1f} | {r2:.1f} |" for t, s, d, w, ld, r, r2 in rows],
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
