"""The ``visgen`` console script: ``visgen sgt | simulate | report``.

Each sub-command parses its arguments here and calls one function in the module that owns the job,
so ``grep`` leads from the command to the code. User mistakes (``UserInputError``) print one line.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from visgen.errors import UserInputError
from visgen.images import sim_args


def _cmd_sgt(ns: argparse.Namespace) -> None:
    from visgen.genetics.embed import embed_fasta_file

    print(
        embed_fasta_file(
            ns.fasta,
            ns.out,
            stride=ns.stride,
            kappa=ns.kappa,
            length_sensitive=ns.length_sensitive,
            alphabet=ns.alphabet,
            iupac=ns.iupac,
        )
    )


def _cmd_simulate(ns: argparse.Namespace) -> None:
    from visgen.images.forams_sim import simulate

    out = simulate(ns.out, workers=ns.workers, **sim_args.from_namespace(ns))
    print(f"ForamSim (synthetic images) written to {out}")


def _cmd_report(ns: argparse.Namespace) -> None:
    from visgen.report.table import write_report

    for path in write_report(ns.multirun_dir, ns.out):
        print(path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="visgen", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sgt", help="embed rDNA FASTA records with the Sequence Graph Transform")
    p.add_argument("fasta", type=Path, help="FASTA file (plain or .gz)")
    p.add_argument("--out", type=Path, required=True, help="output .npz (ids, species, embeddings)")
    p.add_argument("--stride", type=int, choices=(1, 2), default=1, help="dinucleotide stride (paper: 1)")
    p.add_argument("--kappa", type=float, default=1.0, help="SGT tuning parameter kappa > 0 (paper: 1)")
    p.add_argument("--length-sensitive", action="store_true", help="length-sensitive SGT (paper: off)")
    p.add_argument(
        "--alphabet",
        choices=("dinucleotide", "base"),
        default="dinucleotide",
        help="16 dinucleotide symbols (paper) or the 4 plain bases",
    )
    p.add_argument(
        "--iupac",
        choices=("skip", "drop", "error"),
        default="skip",
        help="records with IUPAC ambiguity codes: skip the record, drop the codes, or refuse",
    )
    p.set_defaults(func=_cmd_sgt)

    p = sub.add_parser("simulate", help="generate ForamSim, the synthetic long-tailed foram image set")
    p.add_argument("--out", type=Path, required=True, help="output folder (Endless Forams layout)")
    sim_args.add_arguments(p)  # one flag per ForamSim setting (visgen/images/sim_args.py)
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("report", help="turn Hydra multirun folders into the paper table and plots")
    p.add_argument(
        "multirun_dir", type=Path, nargs="+", help="one or more sweep folders; the first names the report"
    )
    p.add_argument("--out", type=Path, default=Path("reports"))
    p.set_defaults(func=_cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if ns.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if not ns.verbose:  # faiss reports each instruction set it could not load as an INFO traceback line
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    try:
        ns.func(ns)
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
