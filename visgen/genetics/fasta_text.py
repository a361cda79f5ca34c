"""A FASTA file's text: whole (``read_text``) or a line at a time (``lazy_lines``), with the same refusals.

Plain or gzipped (detected by content), UTF-8 with a latin-1 fallback for legacy exports; empty, binary, HTML
and corrupt gzip files are refused in one line. Split from ``visgen.genetics.fasta`` so that module stays about
records. Pure Python, torch-free.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path

from visgen.errors import UserInputError

_PEEK = 65536  # bytes the lazy reader checks before the first record


def read_text(path: Path) -> str:
    """Decode a (possibly gzipped) text file; refuse missing, empty, binary and HTML files."""
    if not path.is_file():
        raise UserInputError(f"{path}: no such FASTA file; check the path")
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise UserInputError(
                f"{path}: corrupt gzip file ({err}); re-download or re-compress it"
            ) from None
    if not data.strip():
        raise UserInputError(
            f"{path}: file is empty; pass a FASTA file with '>ACCESSION Genus species' records"
        )
    if b"\x00" in data:
        raise UserInputError(f"{path}: binary file, not FASTA; pass a text FASTA file (plain or .gz)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Legacy exports write NBSP as the single byte 0xA0; latin-1 decodes any byte string.
        text = data.decode("latin-1")
    if any(ord(c) < 32 and c not in "\t\n\r\f\v" for c in text[:4096]):
        raise UserInputError(f"{path}: binary file, not FASTA; pass a text FASTA file (plain or .gz)")
    if text.lstrip().startswith("<"):  # <!DOCTYPE html>, <html>, <?xml ...>: never FASTA
        raise UserInputError(
            f"{path}: looks like HTML/XML (a failed download?), not FASTA; fetch the FASTA itself"
        )
    return text


def lazy_lines(path: Path) -> Iterator[str]:
    """The file's lines one at a time, with ``read_text``'s checks on what the file starts with.

    Universal line ends (``\\n``, ``\\r\\n``, ``\\r``) as ``str.splitlines`` splits them; a NUL byte anywhere
    refuses the file as binary, as ``read_text`` does, only when the reader reaches it.
    """
    if not path.is_file():
        raise UserInputError(f"{path}: no such FASTA file; check the path")
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rb") as fh:
            head = fh.read(_PEEK)
            _check_start(path, head, fh)
            fh.seek(0)
            first = True
            for raw in fh:
                if b"\x00" in raw:
                    raise UserInputError(
                        f"{path}: binary file, not FASTA; pass a text FASTA file (plain or .gz)"
                    )
                if first:
                    raw, first = raw.removeprefix(b"\xef\xbb\xbf"), False
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text = raw.decode("latin-1")  # legacy exports write NBSP as the single byte 0xA0
                yield from text.splitlines()
    except (OSError, EOFError, zlib.error) as err:
        raise UserInputError(f"{path}: corrupt gzip file ({err}); re-download or re-compress it") from None


def _check_start(path: Path, head: bytes, fh: object) -> None:
    """``read_text``'s refusals (empty, binary, HTML) decided from the first bytes of the file."""
    # Whitespace only so far: empty unless something follows (a FASTA never starts with 64 KiB of blanks).
    if not head.strip() and not any(chunk.strip() for chunk in iter(lambda: fh.read(_PEEK), b"")):  # type: ignore[attr-defined]
        raise UserInputError(
            f"{path}: file is empty; pass a FASTA file with '>ACCESSION Genus species' records"
        )
    text = head.removeprefix(b"\xef\xbb\xbf").decode("latin-1")
    if "\x00" in text or any(ord(c) < 32 and c not in "\t\n\r\f\v" for c in text[:4096]):
        raise UserInputError(f"{path}: binary file, not FASTA; pass a text FASTA file (plain or .gz)")
    if text.lstrip().startswith("<"):  # <!DOCTYPE html>, <html>, <?xml ...>: never FASTA
        raise UserInputError(
            f"{path}: looks like HTML/XML (a failed download?), not FASTA; fetch the FASTA itself"
        )
