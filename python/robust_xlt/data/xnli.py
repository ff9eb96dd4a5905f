"""XNLI loader: the official ``xnli.{dev,test}.tsv`` and the XTREME layout.

- official: one file for all languages, with a header naming at least
  ``language``, ``gold_label``, ``sentence1``, ``sentence2`` (the release has more
  columns, which are ignored). Rows of other languages are counted and skipped.
  Ids are the ``pairID`` column when present (shared by a pair's translations),
  else the 0-based row index within the language.
- xtreme: ``premise TAB hypothesis TAB label`` per language, no header
  (``dev-<lang>.tsv``); ids are the 0-based row index, the same across languages.
  Each premise's three hypotheses are consecutive rows (checked on the shared dev
  files): ``splits.check_premise_groups`` checks it wherever such files are split,
  since a cut or reordered file would no longer align with the other languages by id.

Translations share an id in both layouts (``pairID`` or the row index): the
train/dev/evaluation split aligns languages on ids, never on row positions.

XTREME's translated MultiNLI training files (not in the shared data) are reported
to spell the third class ``contradictory`` and to start with a ``premise hypo
label`` header (unverified); both are accepted here, the alias counted.
"""

from __future__ import annotations

import logging
from os import PathLike
from pathlib import Path

from robust_xlt.data import _tsv
from robust_xlt.data.errors import DataError, require_lang
from robust_xlt.data.examples import XNLI_LABELS, PairExample
from robust_xlt.data.report import KEPT, LABEL_ALIAS, OTHER_LANGUAGE, READ, LoadReport

logger = logging.getLogger(__name__)

LAYOUTS: tuple[str, ...] = ("official", "xtreme")
OFFICIAL_COLUMNS: tuple[str, ...] = ("language", "gold_label", "sentence1", "sentence2")
LABEL_ALIASES: dict[str, str] = {"contradictory": "contradiction"}
_XTREME_HEADERS = {("premise", "hypo", "label"), ("premise", "hypothesis", "label")}


def load_xnli(
    path: str | PathLike[str],
    lang: str,
    *,
    layout: str | None = None,
    unquote: bool = False,
    report: LoadReport | None = None,
) -> list[PairExample]:
    """Read the ``lang`` examples of an XNLI file.

    ``layout`` is "official", "xtreme" or None to detect it from the first line.
    ``unquote`` restores CSV-quoted fields (off: no shared XNLI file is quoted).
    Raises FileNotFoundError, or DataError naming the file and line for an empty
    file, missing header columns, a wrong column count, an empty sentence, an
    unknown label, an empty or repeated pairID within ``lang``, or an official file
    with no rows of ``lang``; ValueError for an unknown language code.
    """
    p = Path(path)
    require_lang(lang)
    lines = _tsv.read_lines(p)
    chosen = layout if layout is not None else detect_layout(p, lines[0][1])
    if chosen not in LAYOUTS:
        raise ValueError(f"unknown XNLI layout {chosen!r}; expected one of {', '.join(LAYOUTS)}")
    rep = report if report is not None else LoadReport()
    rep.source, rep.lang = str(p), lang
    if chosen == "official":
        examples = _read_official(p, lines, lang, unquote, rep)
    else:
        examples = _read_xtreme(p, lines, lang, unquote, rep)
    rep.add(KEPT, len(examples))
    rep.log(logger)
    return examples


def file_layout(path: str | PathLike[str]) -> str:
    """The layout of an XNLI file, from its first line only (the official file holds
    every language, so reading all of it to learn the layout would be wasted)."""
    p = Path(path)
    with p.open("rb") as f:
        first = f.readline()
    text = first.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n").decode("utf-8", errors="replace")
    return detect_layout(p, text)


def detect_layout(path: Path, first_line: str) -> str:
    """'official' for a header with language and gold_label columns, 'xtreme' for 3 columns."""
    fields = first_line.split("\t")
    if "gold_label" in fields or "language" in fields:
        return "official"
    if len(fields) == 3:
        return "xtreme"
    raise DataError(
        f"not an XNLI file: expected a header with columns {', '.join(OFFICIAL_COLUMNS)} (official "
        f"layout) or 3 tab-separated columns (XTREME layout), found {len(fields)} columns: "
        f"{first_line[:80]!r}",
        path=path,
        where="line 1",
    )


def _read_official(
    path: Path, lines: list[_tsv.Line], lang: str, unquote: bool, rep: LoadReport
) -> list[PairExample]:
    header = lines[0][1].split("\t")
    missing = [c for c in OFFICIAL_COLUMNS if c not in header]
    if missing:
        raise DataError(
            f"header lacks column(s) {', '.join(missing)}; found {', '.join(header)}",
            path=path,
            where="line 1",
        )
    if len(lines) < 2:
        raise DataError("header only, no data rows", path=path)
    col = {name: header.index(name) for name in (*OFFICIAL_COLUMNS, "pairID") if name in header}
    languages: set[str] = set()
    examples: list[PairExample] = []
    # pairID aligns a pair's translations, so within one language it names one row.
    id_lines: dict[str, int] = {}
    for line in lines[1:]:
        fields = _tsv.split_row(path, line, len(header), "official")
        rep.add(READ)
        row_lang = fields[col["language"]].strip()
        languages.add(row_lang)
        if row_lang != lang:
            rep.add(OTHER_LANGUAGE)
            continue
        ident = fields[col["pairID"]].strip() if "pairID" in col else str(len(examples))
        if not ident:
            raise DataError("empty pairID", path=path, where=f"line {line[0]}")
        if ident in id_lines:
            raise DataError(
                f"pairID {ident!r} repeats the pairID of line {id_lines[ident]} (language {lang!r})",
                path=path,
                where=f"line {line[0]}",
            )
        id_lines[ident] = line[0]
        examples.append(
            _example(
                path,
                line[0],
                ident,
                fields[col["sentence1"]],
                fields[col["sentence2"]],
                fields[col["gold_label"]],
                lang,
                unquote,
                rep,
            )
        )
    if not examples:
        raise DataError(
            f"no rows for language {lang!r}; the file has {', '.join(sorted(languages))}", path=path
        )
    return examples


def _read_xtreme(
    path: Path, lines: list[_tsv.Line], lang: str, unquote: bool, rep: LoadReport
) -> list[PairExample]:
    if tuple(lines[0][1].split("\t")) in _XTREME_HEADERS:
        lines = lines[1:]
    if not lines:
        raise DataError("header only, no data rows", path=path)
    examples = []
    for index, line in enumerate(lines):
        premise, hypothesis, label = _tsv.split_row(path, line, 3, "xtreme")
        rep.add(READ)
        examples.append(
            _example(path, line[0], str(index), premise, hypothesis, label, lang, unquote, rep)
        )
    return examples


def _example(
    path: Path,
    number: int,
    ident: str,
    premise: str,
    hypothesis: str,
    label: str,
    lang: str,
    unquote: bool,
    rep: LoadReport,
) -> PairExample:
    if unquote:
        premise, hypothesis = (_tsv.unquote_counted(t, rep, number) for t in (premise, hypothesis))
    label_index, aliased = _tsv.parse_label(label, XNLI_LABELS, path, number, LABEL_ALIASES)
    if aliased:
        rep.note(LABEL_ALIAS, f"line {number}: {label.strip()!r}")
    return PairExample(
        id=ident,
        text_a=_tsv.require_text(premise, "premise", path, number),
        text_b=_tsv.require_text(hypothesis, "hypothesis", path, number),
        label=label_index,
        lang=lang,
    )
