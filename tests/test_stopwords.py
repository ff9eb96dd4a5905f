"""Stop-word lists: the shipped function-word lists, the stopwordsiso lists, and none."""

from __future__ import annotations

import logging
import unicodedata
from importlib import resources

import pytest
import stopwordsiso

from robust_xlt import WordSet, function_word_languages, stopword_set
from robust_xlt.stopwords import stopword_list

PROMISED = "en de es fr ru bg el tr vi ar ur hi bn sw te th zh ja ko fi id".split()


def test_every_promised_language_has_a_function_word_list() -> None:
    assert set(PROMISED) <= set(function_word_languages())


@pytest.mark.parametrize("lang", PROMISED)
def test_function_word_files_are_short_clean_lists(lang: str) -> None:
    path = resources.files("robust_xlt") / "function_words" / f"{lang}.txt"
    words = [w for line in path.read_text(encoding="utf-8").splitlines() if (w := line.split("#", 1)[0].strip())]
    assert 40 <= len(words) <= 200, len(words)
    assert len(set(words)) == len(words), sorted(w for w in set(words) if words.count(w) > 1)
    for word in words:
        # Written as the core's lookup key (NFC, lower case), so a reader sees what matches.
        assert unicodedata.normalize("NFC", word).lower() == word, word
        assert not any(c.isspace() for c in word), word
    loaded = stopword_list(lang)
    assert loaded is not None and set(words) <= set(loaded)
    loaded_set = stopword_set(lang)
    assert loaded_set is not None and len(loaded_set) == len(loaded)


def test_english_function_words_leave_content_words_out() -> None:
    words = stopword_set("en")
    assert words is not None
    for function_word in ("the", "a", "of", "and", "is", "was", "not", "they", "which", "The", "DON'T"):
        assert function_word in words, function_word
    for content_word in ("home", "said", "know", "think", "good", "went", "years", "place", "people", "time"):
        assert content_word not in words, content_word
    full = stopword_set("en", "full")
    assert full is not None and {"home", "said", "know", "good", "years"} <= {w for w in stopwordsiso.stopwords("en")}
    assert len(words) < 250 < len(full)


def test_contractions_take_either_apostrophe() -> None:
    words = stopword_set("en")
    assert words is not None and "don't" in words and "don\u2019t" in words
    french = stopword_list("fr")
    assert french is not None and "c'est" in french and "c\u2019est" in french


def test_full_is_stopwordsiso_and_none_is_none() -> None:
    assert stopword_list("de", "full") == sorted(stopwordsiso.stopwords("de"))
    assert stopword_set("de", "none") is None
    assert stopword_list("de", "none") is None


def test_codes_are_normalised_and_sets_are_cached() -> None:
    assert stopword_set("eng") is stopword_set("en")
    assert stopword_list("zho") == stopword_list("zh")
    assert isinstance(stopword_set("en"), WordSet)


def test_a_language_without_a_list_warns_once_and_has_none(caplog: pytest.LogCaptureFixture) -> None:
    lang = next(code for code in ("ig", "mg", "jv") if code not in function_word_languages())
    with caplog.at_level(logging.WARNING, logger="robust_xlt.stopwords"):
        assert stopword_set(lang) is None
        assert stopword_set(lang) is None
        assert stopword_list(lang) is None
    warnings = [r for r in caplog.records if "no function stop-word list" in r.getMessage()]
    assert len(warnings) == 1 and repr(lang) in warnings[0].getMessage()


def test_unknown_kinds_and_languages_are_value_errors() -> None:
    with pytest.raises(ValueError, match="unknown stop-word kind 'short'"):
        stopword_set("en", "short")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="qq"):
        stopword_set("qq")
