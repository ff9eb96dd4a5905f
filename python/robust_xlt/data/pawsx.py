"""PAWS-X loader: the official release layout and the XTREME layout.

- official: ``id TAB sentence1 TAB sentence2 TAB label`` with that header
  (``x-final/<lang>/dev_2k.tsv``). Ids are the release's (digits, but not row
  numbers: 4, 6, 7, ... 7995 in dev), the same across languages.
- xtreme: ``sentence1 TAB sentence2 TAB label``, no header (``dev-<lang>.tsv``).
  Example ids are the 0-based row index, the same across languages.

Either way an id names one example in every language, and the split aligns
languages on ids; the two layouts' ids differ, so they cannot be mixed in one run.

Two facts about the real files shape this loader:

- Some rows of the translated sets hold the placeholder ``NS`` where a sentence
  was not translated (de 68, ko 35, zh 16 of 2000 dev rows, in both layouts). They
  are skipped and counted by default, leaving their ids absent from that language
  (training then scores every language on the ids all of them hold);
  ``keep_untranslated=True`` keeps them, as XTREME's own evaluation does, for
  numbers comparable with published ones.
- The XTREME files were written by a CSV writer: a field containing ``"`` is
  wrapped in quotes with inner quotes doubled (9 of the de rows, 388 fr). With
  ``unquote`` on (the default for that layout) such fields are restored, which
  makes every row identical to the official release; each one is counted.
"""

from __future__ import annotations

import logging
from os import PathLike
from pathlib import Path

from robust_xlt.data import _tsv
from robust_xlt.data.errors import DataError, require_lang
from robust_xlt.data.examples import PAWSX_LABELS, PairExample
from robust_xlt.data.report import (
    KEPT,
    READ,
    UNTRANSLATED_KEPT,
    UNTRANSLATED_SKIPPED,
    LoadReport,
)

logger = logging.getLogger(__name__)

LAYOUTS: tuple[str, ...] = ("official", "xtreme")
OFFICIAL_HEADER: tuple[str, ...] = ("id", "sentence1", "sentence2", "label")
UNTRANSLATED = "NS"


def load_pawsx(
    path: str | PathLike[str],
    lang: str,
    *,
    layout: str | None = None,
    keep_untranslated: bool = False,
    unquote: bool | None = None,
    report: LoadReport | None = None,
) -> list[PairExample]:
    """Read one PAWS-X file of language ``lang``.

    ``layout`` is "official", "xtreme" or None to detect it from the first line.
    ``unquote`` defaults to True for the XTREME layout and False for the official one.
    Raises FileNotFoundError, or DataError naming the file and line for an empty
    file, a wrong header, a wrong column count, an empty sentence, an unknown label
    or a repeated id; ValueError for an unknown language code.
    """
    p = Path(path)
    require_lang(lang)
    lines = _tsv.read_lines(p)
    chosen = layout if layout is not None else detect_layout(p, lines[0][1])
    if chosen not in LAYOUTS:
        raise ValueError(f"unknown PAWS-X layout {chosen!r}; expected one of {', '.join(LAYOUTS)}")
    rep = report if report is not None else LoadReport()
    rep.source, rep.lang = str(p), lang
    if chosen == "official":
        _check_header(p, lines[0])
        rows = lines[1:]
    else:
        rows = lines
    if not rows:
        raise DataError("header only, no data rows", path=p)
    do_unquote = (chosen == "xtreme") if unquote is None else unquote
    examples = []
    for index, line in enumerate(rows):
        example = _parse_row(p, line, index, chosen, lang, do_unquote, keep_untranslated, rep)
        if example is not None:
            examples.append(example)
    _check_unique_ids(p, rows, chosen)
    rep.add(KEPT, len(examples))
    rep.log(logger)
    return examples


def detect_layout(path: Path, first_line: str) -> str:
    """'official' when the first line is the official header, 'xtreme' for 3 columns."""
    fields = tuple(first_line.split("\t"))
    if fields == OFFICIAL_HEADER:
        return "official"
    if len(fields) == 3:
        return "xtreme"
    raise DataError(
        f"not a PAWS-X file: expected the official header {_tabbed(OFFICIAL_HEADER)} or "
        f"3 tab-separated columns (XTREME layout), found {len(fields)} columns: "
        f"{first_line[:80]!r}",
        path=path,
        where="line 1",
    )


def _check_header(path: Path, line: _tsv.Line) -> None:
    fields = tuple(line[1].split("\t"))
    if fields != OFFICIAL_HEADER:
        raise DataError(
            f"wrong header {_tabbed(fields)}; the official layout needs {_tabbed(OFFICIAL_HEADER)}",
            path=path,
            where=f"line {line[0]}",
        )


def _parse_row(
    path: Path,
    line: _tsv.Line,
    index: int,
    layout: str,
    lang: str,
    unquote: bool,
    keep_untranslated: bool,
    rep: LoadReport,
) -> PairExample | None:
    number = line[0]
    rep.add(READ)
    if layout == "official":
        ident, a, b, label = _tsv.split_row(path, line, 4, layout)
        ident = ident.strip()
        if not ident:
            raise DataError("empty id", path=path, where=f"line {number}")
    else:
        a, b, label = _tsv.split_row(path, line, 3, layout)
        ident = str(index)
    if unquote:
        a, b = _tsv.unquote_counted(a, rep, number), _tsv.unquote_counted(b, rep, number)
    a = _tsv.require_text(a, "sentence1", path, number)
    b = _tsv.require_text(b, "sentence2", path, number)
    label_index, _ = _tsv.parse_label(label, PAWSX_LABELS, path, number)
    untranslated = [
        name for name, text in (("sentence1", a), ("sentence2", b)) if text.strip() == UNTRANSLATED
    ]
    if untranslated:
        verb = "are" if len(untranslated) > 1 else "is"
        detail = f"line {number}: {' and '.join(untranslated)} {verb} {UNTRANSLATED!r}"
        if not keep_untranslated:
            rep.note(UNTRANSLATED_SKIPPED, detail)
            return None
        rep.note(UNTRANSLATED_KEPT, detail)
    return PairExample(id=ident, text_a=a, text_b=b, label=label_index, lang=lang)


def _check_unique_ids(path: Path, rows: list[_tsv.Line], layout: str) -> None:
    """Official ids align rows across languages, so a repeated id is a broken file."""
    if layout != "official":
        return
    seen: dict[str, int] = {}
    for number, text in rows:
        ident = text.split("\t", 1)[0].strip()
        if ident in seen:
            raise DataError(
                f"id {ident!r} repeats the id of line {seen[ident]}",
                path=path,
                where=f"line {number}",
            )
        seen[ident] = number


def _tabbed(fields: tuple[str, ...]) -> str:
    return repr("\t".join(fields))
