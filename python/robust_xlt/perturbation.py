"""Typed entry points to the Rust perturbation core.

Every function takes a whole batch: one call crosses into Rust, which releases
the GIL and spreads the texts over the cores. Offsets are code points, as
Python string indices are.

Which words may change: segmentation finds the words of a text; a word is
*eligible* when it is not a stop word (of the list `stopwords` names, see
`robust_xlt.stopwords`), lies outside every protected span, and has at least one
candidate replacement. A candidate is a lexicon synonym or translation that, in
the word's casing, differs from the word ignoring case, so every edit changes
the text. `perturb` changes each eligible word with probability `rate`,
independently: without `max_edits`, the expected share of eligible words changed
is `rate`.

Each `Perturbation` of `perturb` counts the words of its original text, each in
the first class it falls in: `stopword_count` (stop words, protected or not),
`protected_count` (other words overlapping a protected span),
`no_candidate_count` (other words without a candidate) and `eligible_count`;
these add up to `word_count`, and `len(edits)` eligible words changed, so
`len(edits) / eligible_count` is the effective edit rate.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Literal

from robust_xlt import _core
from robust_xlt._core import FormatError, Lexicon, Perturbation, normalize_lang
from robust_xlt.stopwords import StopWords, stopword_set

__all__ = [
    "Mode",
    "Span",
    "StopWords",
    "WordCandidates",
    "apply_edits",
    "candidates",
    "load_lexicon",
    "perturb",
    "segment_words",
]

log = logging.getLogger(__name__)

Mode = Literal["synonym", "codeswitch", "mixed"]
Span = tuple[int, int]
# (start, end, word, [(lang, [replacement, ...]), ...])
WordCandidates = tuple[int, int, str, list[tuple[str, list[str]]]]


def load_lexicon(paths: Sequence[str | PathLike[str]], format: str | None = None) -> Lexicon:
    """Loads a lexicon and logs the lines it left out, with their count.

    Refused, naming the file: a folder, a MUSE name whose languages are not codes
    (ValueError), a file without one entry line, and files that hold no word at all
    (FormatError); the core refuses malformed lines, naming the file and line.
    """
    files = [Path(p) for p in paths]
    if format is not None and format.lower() not in _FORMATS:
        raise ValueError(
            f"{', '.join(map(str, files))}: unknown lexicon format {format!r}: expected one of {', '.join(_FORMATS)}"
        )
    for file in files:
        _check_lexicon_file(file, format)
    lexicon = Lexicon.from_files([str(p) for p in files], format)
    if len(lexicon) == 0:
        # Only definitions, examples or multi-word lemmas: nothing to look a word up in.
        raise FormatError(f"{', '.join(map(str, files))}: no words to look up (no lemma or word pair in any line)")
    skipped = lexicon.skipped_lines
    if skipped:
        path, line, reason = skipped[0]
        log.warning("lexicon: skipped %d line(s), first %s:%d (%s)", len(skipped), path, line, reason)
    return lexicon


_FORMATS = ("omw", "muse", "tsv")
# MUSE dictionaries are named SRC-TGT.txt; the core tells them by their two codes.
_MUSE_NAME = re.compile(r"([^-.]+)-([^-.]+)\.txt")
_SCAN_CHUNK = 1 << 16


def _check_lexicon_file(path: Path, format: str | None) -> None:
    """What the core would report without the file or the real cause: a folder, a
    MUSE name with an unknown language, and a file with nothing but blank lines and
    comments (which it would take as an empty lexicon)."""
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a lexicon file")
    muse = _MUSE_NAME.fullmatch(path.name)
    if muse and (format is None or format.lower() == "muse"):
        for code in muse.groups():
            try:
                normalize_lang(code)
            except ValueError:
                raise ValueError(
                    f"{path}: a MUSE dictionary is named SRC-TGT.txt by its languages, and {code!r} is not a "
                    "known language code (e.g. en-de.txt)"
                ) from None
    if path.is_file() and not _has_entry_line(path):
        raise FormatError(f"{path}: no lexicon entries: the file is empty or holds only blank lines and comments")


def _has_entry_line(path: Path) -> bool:
    """Whether some line is neither blank nor a '#' comment; reads only as far as the
    first such line (the first chunk, for every real lexicon)."""
    with path.open("rb") as f:
        tail = b""
        while chunk := f.read(_SCAN_CHUNK):
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()
            if any(line.strip() and not line.lstrip().startswith(b"#") for line in lines):
                return True
        return bool(tail.strip()) and not tail.lstrip().startswith(b"#")


def segment_words(
    texts: Sequence[str], lang: str, lexicon: Lexicon | None = None, *, stopwords: StopWords = "function"
) -> list[list[Span]]:
    """Code-point spans of the words of each text, as `perturb` with the same
    `lexicon` and `stopwords` finds them.

    Unicode word boundaries (UAX #29) keep combining marks inside words.
    Han, kana, Thai, Lao, Khmer and Myanmar runs are split by longest match
    against the lexicon's words of `lang` and its stop words; where neither
    knows a word, a Han character stands alone and other unmatched runs of one
    script stay together.
    """
    return _core.segment_words(list(texts), lang, lexicon, stopword_set(lang, stopwords))


def perturb(
    texts: Sequence[str],
    lang: str,
    lexicon: Lexicon,
    *,
    mode: Mode,
    rate: float,
    seed: int,
    target_langs: Sequence[str] | None = None,
    protect: Sequence[Sequence[Span]] | None = None,
    max_edits: int | None = None,
    stopwords: StopWords = "function",
) -> list[Perturbation]:
    """Replaces words with synonyms (`synonym`), translations into one of
    `target_langs` (`codeswitch`), or either (`mixed`).

    Each eligible word (not a stop word of the `stopwords` list: "function"
    words, the "full" stopwordsiso list, or "none"; outside `protect`; with a
    candidate) is replaced with probability `rate`; past `max_edits` edits in a
    text, a uniform subset of the chosen words is kept. Text `i` draws only
    from the generator of (`seed`, i): the result does not depend on threads.
    Each result carries the word counts described in the module docstring.
    """
    return _core.perturb(
        list(texts),
        lang,
        lexicon,
        mode=mode,
        rate=rate,
        seed=seed,
        target_langs=_optional_list(target_langs),
        protect=_optional_spans(protect),
        max_edits=max_edits,
        stopwords=stopword_set(lang, stopwords),
    )


def candidates(
    texts: Sequence[str],
    lang: str,
    lexicon: Lexicon,
    *,
    mode: Mode,
    target_langs: Sequence[str] | None = None,
    protect: Sequence[Sequence[Span]] | None = None,
    stopwords: StopWords = "function",
) -> list[list[WordCandidates]]:
    """Per text, each eligible word and its replacements grouped by language,
    already in the word's casing: the search space of an adversary. The
    options mean what they mean for `perturb`."""
    return _core.candidates(
        list(texts),
        lang,
        lexicon,
        mode=mode,
        target_langs=_optional_list(target_langs),
        protect=_optional_spans(protect),
        stopwords=stopword_set(lang, stopwords),
    )


def apply_edits(
    texts: Sequence[str], edits: Sequence[Sequence[tuple[int, int, str, str]]]
) -> list[Perturbation]:
    """Applies chosen edits, per text (start, end, replacement, lang), with
    span maps. Edits of one text must not overlap.

    With no lexicon to tell eligible words, each result sets only `word_count`
    (the words segmentation finds without a dictionary: those of `perturb` on
    scripts written with spaces); its other four counts are 0."""
    return _core.apply_edits(list(texts), [list(e) for e in edits])


def _optional_list(values: Sequence[str] | None) -> list[str] | None:
    return None if values is None else list(values)


def _optional_spans(spans: Sequence[Sequence[Span]] | None) -> list[list[Span]] | None:
    return None if spans is None else [list(s) for s in spans]
