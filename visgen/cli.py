"""The ``visgen`` console script: ``visgen sgt | embed-dna | simulate | report | data check | predict | embed``.

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
from visgen.sim import settings as sim_settings


def _cmd_sgt(ns: argparse.Namespace) -> None:
    from visgen.genetics.embed import embed_fasta_file
    from visgen.genetics.encoders.sgt import SgtEncoder

    if ns.kappa <= 0:
        raise UserInputError(f"--kappa {ns.kappa}: must be > 0 (the paper uses 1)")
    encoder = SgtEncoder(
        alphabet=ns.alphabet, stride=ns.stride, kappa=ns.kappa, length_sensitive=ns.length_sensitive
    )
    print(
        embed_fasta_file(ns.fasta, ns.out, encoder=encoder, iupac=ns.iupac, chunk=ns.chunk, memmap=ns.memmap)
    )


def _cmd_embed_dna(ns: argparse.Namespace) -> None:
    from visgen.genetics.embed import embed_fasta_file
    from visgen.run.anchors import encoder_from_conf

    encoder = encoder_from_conf(ns.encoder, ns.set)
    print(
        embed_fasta_file(ns.fasta, ns.out, encoder=encoder, iupac=ns.iupac, chunk=ns.chunk, memmap=ns.memmap)
    )


def _streaming_options(p: argparse.ArgumentParser) -> None:
    """``--chunk`` and ``--memmap`` of ``visgen sgt`` / ``embed-dna`` (without them the output is as before)."""
    p.add_argument("--chunk", type=int, default=None, metavar="N", help="read and encode N records at a time")
    p.add_argument(
        "--memmap",
        type=Path,
        default=None,
        metavar="OUT.npy",
        help="stream float32 rows [N, D] to OUT.npy (ids in OUT.ids.tsv); --out then holds the species mean anchors",
    )


def _cmd_simulate(ns: argparse.Namespace) -> None:
    from visgen.sim.forams_sim import simulate

    out = simulate(ns.out, workers=ns.workers, **sim_settings.from_namespace(ns))
    print(f"ForamSim (synthetic images) written to {out}")


def _cmd_report(ns: argparse.Namespace) -> None:
    from visgen.report.table import write_report

    for path in write_report(ns.multirun_dir, ns.out):
        print(path)


def _genetics_defaults() -> dict:
    """``conf/genetics/sgt.yaml`` (header rule, synonyms, exclusions): the CLI reads DNA as a run does."""
    from omegaconf import OmegaConf

    conf = Path(__file__).resolve().parents[1] / "conf" / "genetics" / "sgt.yaml"
    return OmegaConf.to_container(OmegaConf.load(conf)) if conf.is_file() else {}  # type: ignore[return-value]


def _cmd_data_check(ns: argparse.Namespace) -> int:
    import json

    from visgen.data.layouts import LAYOUTS
    from visgen.genetics.dataset import fasta_species
    from visgen.report.data_check import AuditReport, audit, format_report
    from visgen.resources import data_path

    genetics = _genetics_defaults()
    for key in ("fasta", "defaults"):  # the reader options only; the encoder is not needed to list species
        genetics.pop(key, None)
    if ns.header_rule:
        genetics["header_rule"] = ns.header_rule
    fasta = ns.fasta or data_path("foram_18S_rDNA.fasta")
    layout = LAYOUTS.get(ns.source)
    settings = {"root": str(ns.root)}
    for key, value in (("manifest", ns.manifest), ("group_regex", ns.group_regex)):
        if value is not None and key not in layout.config_keys:
            raise UserInputError(
                f"--{key.replace('_', '-')}: the {layout.name} layout has no {key}; drop the flag"
            )
        settings[key] = value
    if ns.dna_table:  # the data set's own barcodes (genetics.source=table with genetics.table.path unset)
        table = layout.barcode_table_of(settings)
        if table is None:
            raise UserInputError(
                f"--dna-table: the {layout.name} layout carries no barcode table; use --fasta"
            )
        genetics.update(source="table", table=table)
        fasta = Path(table["path"])
    try:
        data = layout.from_config(settings, cache_dir=Path(".cache") / "data")
    except UserInputError as err:  # nothing to look at: the report says so (exit 2), as for an empty folder
        report = AuditReport(str(ns.root), fatal=str(err))
    else:
        report = audit(
            data, dna_species=fasta_species(fasta, **genetics), synonyms=genetics.get("synonyms") or {}
        )
    print(f"DNA: {fasta}")
    print(format_report(report))
    if ns.json is not None:
        ns.json.parent.mkdir(parents=True, exist_ok=True)
        ns.json.write_text(json.dumps(report.as_dict(), indent=1, default=str) + "\n")
    return report.exit_code()


def _cmd_predict(ns: argparse.Namespace) -> None:
    from visgen.run.predict import predict

    out, n, bad = predict(
        ns.run, ns.images, out=ns.out, top_k=ns.top_k, batch_size=ns.batch_size, device=ns.device
    )
    skipped = ", ".join(f"{c} {why}" for why, c in sorted(bad.items()))
    print(f"{out}: {n} images predicted" + (f"; skipped {skipped}" if bad else ""))


def _cmd_embed(ns: argparse.Namespace) -> None:
    from visgen.run.predict import embed

    out, index, n, bad = embed(ns.run, ns.images, out=ns.out, batch_size=ns.batch_size, device=ns.device)
    skipped = ", ".join(f"{c} {why}" for why, c in sorted(bad.items()))
    print(f"{out}: {n} embeddings; gallery index {index}" + (f"; skipped {skipped}" if bad else ""))


def _add_use_commands(sub: argparse._SubParsersAction) -> None:
    """``data check``, ``predict`` and ``embed``: the verbs for a user's own data and a trained run."""
    p = sub.add_parser("data", help="inspect an image data set")
    verbs = p.add_subparsers(dest="data_command", required=True)
    c = verbs.add_parser("check", help="one report of everything about an image folder, before training")
    c.add_argument(
        "root", type=Path, help="the data set's folder (for --source folder: one sub-folder per species)"
    )
    c.add_argument(
        "--source", default="folder", help="data layout (data.source): folder, or another registered one"
    )
    c.add_argument(
        "--fasta", type=Path, default=None, help="FASTA for the DNA join (default: the shipped 18S)"
    )
    c.add_argument(
        "--dna-table",
        action="store_true",
        help="DNA from the data set's own barcode table (BIOSCAN-5M's metadata CSV) instead of a FASTA",
    )
    c.add_argument(
        "--header-rule", default=None, help="FASTA header rule: genbank or a regex (genetics.header_rule)"
    )
    c.add_argument("--manifest", type=Path, default=None, help="manifest CSV (path + split and/or group)")
    c.add_argument("--group-regex", default=None, help="specimen id from file names (data.group_regex)")
    c.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    c.set_defaults(func=_cmd_data_check)
    for name, helptext in (("predict", "top-k species and novelty for new images"),
                           ("embed", "embeddings of images (npz) and the gallery's FAISS index")):  # fmt: skip
        p = sub.add_parser(name, help=helptext)
        p.add_argument("run", type=Path, help="a run folder or a checkpoint (.ckpt)")
        p.add_argument("images", nargs="+", help="image files and/or folders (searched recursively)")
        p.add_argument("--batch-size", type=int, default=256)
        p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
        if name == "predict":
            p.add_argument("--top-k", type=int, default=5, help="species per image")
            p.add_argument("--out", type=Path, default=Path("preds.csv"))
            p.set_defaults(func=_cmd_predict)
        else:
            p.add_argument("--out", type=Path, required=True, help="output .npz")
            p.set_defaults(func=_cmd_embed)


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
    _streaming_options(p)
    p.set_defaults(func=_cmd_sgt)

    from visgen.genetics.encoders import ENCODERS

    p = sub.add_parser(
        "embed-dna", help="embed FASTA records with any DNA encoder (conf/genetics/encoder/<name>.yaml)"
    )
    p.add_argument("fasta", type=Path, help="FASTA file (plain or .gz)")
    p.add_argument("--out", type=Path, required=True, help="output .npz (ids, species, embeddings)")
    p.add_argument("--encoder", choices=ENCODERS.names(), default="sgt", help="the DNA encoder")
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="encoder options over its yaml, e.g. k=6 clr=true",
    )
    p.add_argument(
        "--iupac", choices=("skip", "drop", "error"), default="skip", help="records with IUPAC codes"
    )
    _streaming_options(p)
    p.set_defaults(func=_cmd_embed_dna)

    p = sub.add_parser("simulate", help="generate ForamSim, the synthetic long-tailed foram image set")
    p.add_argument("--out", type=Path, required=True, help="output folder (Endless Forams layout)")
    sim_settings.add_arguments(p)  # one flag per ForamSim setting (visgen/sim/settings.py)
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("report", help="turn Hydra multirun folders into the paper table and plots")
    p.add_argument(
        "multirun_dir", type=Path, nargs="+", help="one or more sweep folders; the first names the report"
    )
    p.add_argument("--out", type=Path, default=Path("reports"))
    p.set_defaults(func=_cmd_report)
    _add_use_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if ns.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if not ns.verbose:  # faiss reports each instruction set it could not load as an INFO traceback line
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    try:
        code = ns.func(ns)
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
