"""Line-exact TSV reading shared by the PAWS-X and XNLI loaders.

Files are split on ``\\n`` only (a trailing ``\\r`` is removed, since the XTREME
files use CRLF). ``str.splitlines`` is avoided on purpose: it also breaks on
U+2028, U+0085 and other characters that occur inside real sentences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

from robust_xlt.data.errors import DataError, read_bytes
from robust_xlt.data.report import CSV_UNQUOTED, LoadReport

Line = tuple[int, str]  # (1-based line number, text without the line ending)

# A field written by a CSV writer: wrapped in quotes, inner quotes doubled.
# A field that merely starts and ends with a quote but has an undoubled quote
# inside does not match, so ordinary quoted text is left alone.
_CSV_QUOTED = re.compile(r'"((?:[^"]|"")*)"', re.DOTALL)


def read_lines(path: str | PathLike[str]) -> list[Line]:
    """Numbered lines of a UTF-8 text file, trailing blank lines dropped.

    Raises FileNotFoundError for a missing file and DataError for a folder, an
    empty file or a line that is not valid UTF-8.
    """
    p = Path(path)
    raw = read_bytes(p)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    pieces = raw.split(b"\n")
    while pieces and not pieces[-1].strip():
        pieces.pop()
    if not pieces:
        raise DataError("empty file", path=p)
    lines: list[Line] = []
    for number, piece in enumerate(pieces, start=1):
        if piece.endswith(b"\r"):
            piece = piece[:-1]
        try:
            lines.append((number, piece.decode("utf-8")))
        except UnicodeDecodeError as err:
            raise DataError(
                f"not valid UTF-8 at byte {err.start} of the line", path=p, where=f"line {number}"
            ) from None
    return lines


def split_row(path: Path, line: Line, n_columns: int, layout: str) -> list[str]:
    """The tab-separated fields of ``line``, which must number ``n_columns``."""
    number, text = line
    if not text.strip():
        raise DataError(
            f"blank line inside the data ({layout} layout)", path=path, where=f"line {number}"
        )
    fields = text.split("\t")
    if len(fields) != n_columns:
        raise DataError(
            f"expected {n_columns} tab-separated columns ({layout} layout), found {len(fields)}: "
            f"{_preview(text)}",
            path=path,
            where=f"line {number}",
        )
    return fields


def csv_unquote(field: str) -> str | None:
    """The text of a CSV-quoted field, or None when the field is not CSV-quoted."""
    match = _CSV_QUOTED.fullmatch(field)
    return None if match is None else match.group(1).replace('""', '"')


def unquote_counted(field: str, rep: LoadReport, number: int) -> str:
    """``field`` with CSV quoting undone, each undone field counted in ``rep``."""
    text = csv_unquote(field)
    if text is None:
        return field
    rep.note(CSV_UNQUOTED, f"line {number}: {field[:60]!r}")
    return text


def parse_label(
    value: str,
    labels: Sequence[str],
    path: Path,
    number: int,
    aliases: dict[str, str] | None = None,
) -> tuple[int, bool]:
    """(label index, whether an alias was used); DataError names the value and the allowed ones."""
    name = value.strip()
    canonical = (aliases or {}).get(name, name)
    aliased = canonical != name
    name = canonical
    if name not in labels:
        allowed = ", ".join(repr(x) for x in labels)
        raise DataError(
            f"unknown label {value!r}; allowed labels: {allowed}", path=path, where=f"line {number}"
        )
    return labels.index(name), aliased


def require_text(value: str, column: str, path: Path, number: int) -> str:
    """Empty sentences mean a broken row, not an example."""
    if not value.strip():
        raise DataError(f"empty {column}", path=path, where=f"line {number}")
    return value


def _preview(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
