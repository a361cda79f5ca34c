"""Build time, queries/s and recall@5 against exact flat search of each KNN index (``callbacks.knn_eval.index``).

Two workloads: random standard-normal 256-D float32 vectors (gallery sizes from ``--sizes``, 10,000 queries;
the hardest case for every approximate index, since no cluster structure helps), and a real run's test
embeddings read through ``visgen.results`` (the training-split gallery and the test queries a run's KNN
callback wrote). Every index runs with the shipped ``IndexSettings`` defaults; recall@5 is the fraction of
flat's 5 neighbours each index returns, averaged over queries. Timings are wall-clock through
``visgen.eval.knn_index`` itself (build = conversion + training + batched add; search = FAISS search + the
exact re-scoring of candidates + tie ordering), as the KNN callback pays them.

    python benchmarks/bench_faiss_index.py                                    # -> reports/bench/faiss_index.md
    python benchmarks/bench_faiss_index.py --sizes 200000 --flat-only-sizes 1000000 --run-dir RUN
    python benchmarks/bench_faiss_index.py --sizes 200000 --settings nprobe=128 ef_search=512 --append
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without install

from visgen.eval.knn import majority_vote  # noqa: E402
from visgen.eval.knn_index import build_index, search_index  # noqa: E402
from visgen.eval.knn_settings import INDEX_KINDS, IndexSettings  # noqa: E402
from visgen.results import read_embeddings  # noqa: E402

K, DIM, QUERIES = 5, 256, 10_000


def timed_search(
    gallery: np.ndarray, queries: np.ndarray, kind: str, metric: str, settings: IndexSettings
) -> tuple[float, float, np.ndarray, str]:
    """(build s, search s, ids [M, K], kind built) through the project's index code."""
    start = time.perf_counter()
    index, built = build_index(gallery, metric, kind, settings)  # type: ignore[arg-type]
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    dist, idx = search_index(index, built, gallery, queries, K, metric, settings)
    order = np.lexsort((idx, dist), axis=1)[:, :K]  # as knn_search orders them
    idx = np.take_along_axis(idx, order, axis=1)
    search_s = time.perf_counter() - start
    return build_s, search_s, idx, built


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, truth, strict=True)]))


def random_rows(n: int, kinds: tuple[str, ...], settings: IndexSettings) -> list[str]:
    rng = np.random.default_rng(0)
    gallery = rng.standard_normal((n, DIM), dtype=np.float32)
    queries = rng.standard_normal((QUERIES, DIM), dtype=np.float32)
    rows, truth = [], None
    for kind in kinds:
        print(f"random n={n}: {kind} ...", flush=True)
        build_s, search_s, idx, built = timed_search(gallery, queries, kind, "euclidean", settings)
        truth = idx if kind == "flat" else truth
        rec = recall(idx, truth) if truth is not None else float("nan")
        rows.append(f"| random | {n:,} | {kind}{'' if built == kind else f' (built {built})'} | euclidean | "
                    f"{build_s:.1f} | {QUERIES / search_s:,.0f} | {rec:.3f} | |")  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def real_rows(run_dir: Path, settings: IndexSettings) -> tuple[list[str], str]:
    stage = next(
        (run_dir / s for s in ("align", "pretrain") if (run_dir / s / "embeddings.npz").is_file()), None
    )
    z = read_embeddings(stage) if stage is not None else None
    if z is None:
        raise SystemExit(
            f"{run_dir}: no align/ or pretrain/ embeddings.npz; pass --run-dir of a finished run"
        )
    g, gl = z["gallery_embeddings"].astype(np.float32), z["gallery_labels"]
    q, ql = z["query_embeddings"].astype(np.float32), z["query_labels"]
    rows = []
    for metric in ("euclidean", "cosine"):
        truth = None
        for kind in INDEX_KINDS:
            build_s, search_s, idx, built = timed_search(g, q, kind, metric, settings)
            truth = idx if kind == "flat" else truth
            acc = float((majority_vote(gl[idx]) == ql).mean())
            name = kind if built == kind else f"{kind} (built {built})"
            rows.append(f"| {stage.parent.name}/{stage.name} | {len(g):,} | {name} | {metric} | {build_s:.2f} | "
                        f"{len(q) / search_s:,.0f} | {recall(idx, truth):.3f} | {acc:.4f} |")  # fmt: skip
            print(rows[-1], flush=True)
    return rows, f"{stage} ({len(g)} gallery x {g.shape[1]}-D, {len(q)} queries)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="*", default=[200_000, 1_000_000], help="random galleries, every index"
    )
    parser.add_argument(
        "--flat-only-sizes", type=int, nargs="*", default=[], help="random galleries, flat only"
    )
    parser.add_argument(
        "--settings",
        nargs="*",
        default=[],
        metavar="KEY=INT",
        help="IndexSettings overrides, e.g. nprobe=128",
    )
    parser.add_argument(
        "--append", action="store_true", help="add a section to --out instead of replacing it"
    )
    parser.add_argument(
        "--run-dir", type=Path, default=None, help="a finished run folder (its embeddings.npz)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "faiss_index.md")
    args = parser.parse_args(argv)
    settings = IndexSettings(**{k: int(v) for k, v in (kv.split("=", 1) for kv in args.settings)})
    load, started = os.getloadavg(), datetime.now(timezone.utc)
    rows = []
    for n in args.sizes:
        rows += random_rows(n, INDEX_KINDS, settings)
    for n in args.flat_only_sizes:
        rows += random_rows(n, ("flat",), settings)
    real = ["", "No run folder given (--run-dir): no real-embedding rows."]
    if args.run_dir is not None:
        real_table, what = real_rows(args.run_dir, settings)
        rows += real_table
        real = ["", f"Real embeddings: {what}; the last column is 5-NN accuracy on those queries."]
    title = "## Other settings" if args.append else "# FAISS index choice for the KNN evaluation"
    lines = [
        title,
        "",
        f"- command: `python {' '.join(['benchmarks/bench_faiss_index.py', *sys.argv[1:]])}`",
        f"- date: {started:%Y-%m-%d %H:%M}-{datetime.now(timezone.utc):%H:%M} UTC (start-end)",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}, faiss {faiss.__version__}, torch {torch.__version__}, "
        f"cpu capability {torch.backends.cpu.get_cpu_capability()}, {faiss.omp_get_max_threads()} FAISS threads",
        f"- load average before the run (1/5/15 min): {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
        "(the cores are shared; a load above the core count means lower rates)",
        f"- settings: {'the shipped defaults' if settings == IndexSettings() else 'overridden'} {asdict(settings)} "
        f"(nlist None = 4*sqrt(N) capped at training rows / 39); k = {K}; random queries: {QUERIES:,}",
        "",
        "| data | gallery | index | metric | build s | queries/s | recall@5 vs flat | 5-NN acc |",
        "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: |",
        *rows,
        *real,
    ]
    if not args.append:
        lines += [
            "",
            "Random Gaussian vectors are the worst case for the approximate indexes (no cluster for IVF's cells "
            "or PQ's codebooks to follow; neighbours barely nearer than the rest); the real rows and "
            "tests/eval/test_knn_index.py show class-structured embeddings.",
        ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    before = args.out.read_text() + "\n" if args.append and args.out.is_file() else ""
    args.out.write_text(before + "\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
