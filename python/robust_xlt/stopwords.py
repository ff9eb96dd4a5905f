"""Stop words: the words perturbation leaves alone.

Two kinds of list:
- ``"function"`` (the default): short hand-written lists of function words, closed
  classes only (articles, pronouns, adpositions, conjunctions, auxiliaries and copulas,
  negation, a few particles), shipped in ``robust_xlt/function_words/{lang}.txt``.
  Content words (home, said, know, good, years) are not on them, so they can change.
- ``"full"``: the long `stopwordsiso` lists (58 languages). Its English list has about
  1,300 entries and protects many content words: on English XNLI sentences it left
  about one word in nine eligible for substitution.

``"none"`` treats no word as a stop word.
"""

from __future__ import annotations

import functools
import logging
from importlib import resources
from typing import Literal, get_args

from robust_xlt._core import WordSet, normalize_lang

log = logging.getLogger(__name__)

StopWords = Literal["function", "full", "none"]
STOPWORD_KINDS: tuple[str, ...] = get_args(StopWords)

_APOSTROPHES = ("'", "\u2019")  # ASCII and typographic: texts use both


def _check_kind(kind: str) -> str:
    if kind not in STOPWORD_KINDS:
        raise ValueError(f"unknown stop-word kind {kind!r}: expected one of {', '.join(map(repr, STOPWORD_KINDS))}")
    return kind


def function_word_languages() -> list[str]:
    """Canonical codes of the languages with a function-word list, sorted."""
    folder = resources.files("robust_xlt") / "function_words"
    return sorted(p.name.removesuffix(".txt") for p in folder.iterdir() if p.name.endswith(".txt"))


def stopword_list(lang: str, kind: StopWords = "function") -> list[str] | None:
    """The stop words of `lang` of the given kind, sorted; None for kind "none" or
    when there is no such list for `lang` (logged once per language and kind).

    Function-word lists name each contraction once: the spelling with the other
    apostrophe (ASCII ' or typographic ’) is added here.
    """
    if _check_kind(kind) == "none":
        return None
    return _stopword_list(normalize_lang(lang), kind)


@functools.lru_cache(maxsize=None)
def _stopword_list(code: str, kind: str) -> list[str] | None:
    # Cached per canonical code, so 'en' and 'eng' share a list and warn once together.
    words = _function_words(code) if kind == "function" else _stopwordsiso(code)
    if words is None:
        log.warning("no %s stop-word list for %r: no word of it is treated as a stop word", kind, code)
    return words


def _function_words(code: str) -> list[str] | None:
    path = resources.files("robust_xlt") / "function_words" / f"{code}.txt"
    if not path.is_file():
        return None
    words: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        word = line.split("#", 1)[0].strip()
        if not word:
            continue
        if any(c.isspace() for c in word):
            raise ValueError(f"{path}:{number}: one word per line, found {word!r}")
        words.add(word)
        for a, b in (_APOSTROPHES, _APOSTROPHES[::-1]):
            if a in word:
                words.add(word.replace(a, b))
    return sorted(words)


def _stopwordsiso(code: str) -> list[str] | None:
    import stopwordsiso  # only the "full" kind needs it

    if not stopwordsiso.has_lang(code):
        return None
    return sorted(stopwordsiso.stopwords(code))


@functools.lru_cache(maxsize=None)
def _stopword_set(code: str, kind: str) -> WordSet | None:
    words = _stopword_list(code, kind)
    return None if words is None else WordSet(words)


def stopword_set(lang: str, kind: StopWords = "function") -> WordSet | None:
    """The stop words of `lang` as a core `WordSet` (compared ignoring case), or None
    for kind "none" or when `lang` has no list of that kind (logged once).

    Cached: building the set costs a few hundred microseconds, a batch call should
    not pay it.
    """
    if _check_kind(kind) == "none":
        return None
    return _stopword_set(normalize_lang(lang), kind)
