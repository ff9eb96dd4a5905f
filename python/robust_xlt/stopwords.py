"""Stop words from the maintained `stopwordsiso` lists (58 languages)."""

from __future__ import annotations

import functools
import logging

import stopwordsiso

from robust_xlt._core import WordSet, normalize_lang

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=None)
def stopword_set(lang: str) -> WordSet | None:
    """The stop words of `lang` as a core `WordSet`, or None when
    `stopwordsiso` has no list for it (logged once per language).

    Cached: building the set costs a few hundred microseconds, a batch call
    should not pay it.
    """
    code = normalize_lang(lang)
    if not stopwordsiso.has_lang(code):
        log.warning("no stop-word list for %r in stopwordsiso: no word of it is treated as a stop word", code)
        return None
    return WordSet(sorted(stopwordsiso.stopwords(code)))
