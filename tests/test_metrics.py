"""Accuracy and SQuAD F1/EM: the official v1.1 normaliser and the language-aware one,
with the cases where they differ."""

from __future__ import annotations

import logging
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robust_xlt.metrics import (
    accuracy,
    lang_exact,
    lang_f1,
    lang_tokens,
    normalize_lang,
    normalize_squad,
    squad_exact,
    squad_f1,
    squad_scores,
)


def test_accuracy_is_a_percentage() -> None:
    assert accuracy([1, 0, 2, 2], [1, 0, 1, 2]) == 75.0
    with pytest.raises(ValueError, match="3 predictions but 2 labels"):
        accuracy([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="no examples"):
        accuracy([], [])


# ------------------------------------------------------------ official SQuAD v1.1


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("The  Eiffel Tower!", "eiffel tower"),
        ("an apple, a pear", "apple pear"),
        ("U.S.-based", "usbased"),
        ("theater", "theater"),  # articles only as whole words
        ("«Paris»", "«paris»"),  # not ASCII punctuation: kept
        ("東京。", "東京。"),
    ],
)
def test_official_normaliser(text: str, normalised: str) -> None:
    assert normalize_squad(text) == normalised


def test_official_f1_and_exact_match() -> None:
    assert squad_exact("the Eiffel Tower", "Eiffel tower.") == 1.0
    assert squad_f1("Eiffel Tower in Paris", "the Eiffel Tower") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert squad_f1("Paris", "London") == 0.0
    # v1.1 scores an answer that normalises to nothing as F1 0, even against itself.
    assert squad_f1("the", "the") == 0.0 and squad_exact("the", "the") == 1.0


def test_squad_scores_max_over_golds_and_percentages() -> None:
    scores = squad_scores(
        {"q1": "Eiffel Tower", "q2": "in Paris France"},
        {"q1": ["the Eiffel Tower", "Tower"], "q2": ["London", "Paris"]},
    )
    assert scores["exact_match"] == 50.0
    assert scores["f1"] == pytest.approx(100 * (1.0 + 0.5) / 2)
    assert scores["count"] == 2 and scores["missing"] == 0


def test_squad_scores_missing_predictions_score_zero_and_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="robust_xlt.metrics"):
        scores = squad_scores({"a": "x"}, {"a": ["x"], "b": ["y"]}, lang="sw")
    assert scores["exact_match"] == 50.0 and scores["missing"] == 1
    assert "sw: 1 of 2 questions have no prediction" in caplog.text


def test_squad_scores_rejects_mismatched_ids_and_bad_references() -> None:
    with pytest.raises(ValueError, match=r"1 prediction id\(s\) have no reference, e.g. \['zz'\]"):
        squad_scores({"zz": "x"}, {"a": ["x"]})
    with pytest.raises(ValueError, match="no gold answer"):
        squad_scores({"a": "x"}, {"a": []})
    with pytest.raises(ValueError, match="must be a list of answers"):
        squad_scores({"a": "x"}, {"a": "x"})
    with pytest.raises(ValueError, match="no references"):
        squad_scores({}, {})


# ------------------------------------------------------------ where the variants differ


def test_chinese_without_spaces_gets_partial_credit_only_char_wise() -> None:
    # Official: each side is one token, so any difference is F1 0.
    assert squad_f1("北京大学", "北京") == 0.0
    assert lang_tokens("北京大学") == ["北", "京", "大", "学"]
    assert lang_f1("北京大学", "北京") == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    scores = squad_scores({"q": "北京大学"}, {"q": ["北京"]}, lang="zh")
    assert scores["f1"] == 0.0 and scores["lang_f1"] == pytest.approx(66.6667, abs=1e-3)


def test_spaces_between_han_characters_do_not_matter_language_aware() -> None:
    assert squad_exact("北京 大学", "北京大学") == 0.0
    assert lang_exact("北京 大学", "北京大学") == 1.0


def test_unicode_punctuation_is_removed_only_language_aware() -> None:
    for prediction, gold in [
        ("「東京」", "東京"),
        ("« Paris »", "Paris"),
        ("“Nairobi”", "Nairobi"),
        ("Jua.", "jua"),
    ]:
        assert lang_exact(prediction, gold) == 1.0
    assert squad_exact("「東京」", "東京") == 0.0
    assert squad_exact("«Paris»", "Paris") == 0.0
    assert squad_exact("Jua.", "jua") == 1.0  # ASCII: both remove it


def test_english_articles_count_only_language_aware() -> None:
    assert squad_exact("the Nile", "Nile") == 1.0
    assert lang_exact("the Nile", "Nile") == 0.0
    assert lang_f1("the Nile", "Nile") == pytest.approx(2 / 3)
    # ...so a Swahili or German word that looks like an article is not dropped either.
    assert lang_tokens("a the an") == ["a", "the", "an"]


def test_thai_characters_keep_their_combining_marks() -> None:
    # ภาษาไทย: the Thai script has no spaces; the vowel sign U+0E32 is a letter,
    # and in "ที่" the marks U+0E35 and U+0E48 stay with their base ท.
    assert lang_tokens("ที่นี่") == ["ที่", "นี่"]
    assert squad_f1("ภาษาไทย", "ภาษา") == 0.0
    assert 0.0 < lang_f1("ภาษาไทย", "ภาษา") < 1.0


def test_mixed_scripts_split_only_the_no_space_runs() -> None:
    assert lang_tokens("iPhone手机 2023年") == ["iphone", "手", "机", "2023", "年"]
    assert lang_tokens("カタカナとひらがな") == list("カタカナとひらがな")
    assert lang_tokens("Hangul 한국어 keeps spaces") == ["hangul", "한국어", "keeps", "spaces"]


def test_language_aware_casefold_and_nfc() -> None:
    assert normalize_lang("STRASSE") == normalize_lang("straße")
    decomposed, composed = "Cafe\u0301", "Café"
    assert lang_exact(decomposed, composed) == 1.0
    assert squad_exact(decomposed, composed) == 0.0


def test_language_aware_removes_the_ascii_symbols_official_removes() -> None:
    # string.punctuation holds symbols ($, +, <, ^, `, |, ~) that Unicode does not call punctuation.
    for ch in string.punctuation:
        assert normalize_lang(f"a{ch}b") == "ab"


def test_both_empty_scores_one_language_aware() -> None:
    assert lang_f1("!!", "?") == 1.0 and lang_exact("!!", "?") == 1.0
    assert lang_f1("", "x") == 0.0


@given(st.text(max_size=40), st.text(max_size=40))
def test_scores_are_bounded_and_symmetric_in_f1(a: str, b: str) -> None:
    for f1 in (squad_f1, lang_f1):
        assert 0.0 <= f1(a, b) <= 1.0
        assert f1(a, b) == pytest.approx(f1(b, a))
    assert lang_exact(a, a) == 1.0 and squad_exact(a, a) == 1.0


@given(st.text(max_size=40))
def test_language_aware_tokens_are_never_blank_or_punctuation(text: str) -> None:
    for token in lang_tokens(text):
        assert token and not any(ch.isspace() for ch in token)
