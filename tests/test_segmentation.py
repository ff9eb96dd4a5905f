"""Word segmentation on hand-written fixtures in 11 languages."""

from __future__ import annotations

import unicodedata

import pytest

from robust_xlt import load_lexicon, normalize_lang, segment_words
from robust_xlt.stopwords import stopword_list

FIXTURES = {
    "en": ("Don't stop: it's 3.5 km, Mr. Smith!", ["Don't", "stop", "it's", "3.5", "km", "Mr", "Smith"]),
    "de": ("Das große Haus steht am Fluss.", ["Das", "große", "Haus", "steht", "am", "Fluss"]),
    "hi": ("यह घर बहुत बड़ा है।", ["यह", "घर", "बहुत", "बड़ा", "है"]),
    "bn": ("এই বাড়িটি খুব বড়।", ["এই", "বাড়িটি", "খুব", "বড়"]),
    "te": ("ఈ ఇల్లు చాలా పెద్దది.", ["ఈ", "ఇల్లు", "చాలా", "పెద్దది"]),
    "ar": ("هذا البيت كبير جدًا.", ["هذا", "البيت", "كبير", "جدًا"]),
    "ko": ("이 집은 아주 큽니다.", ["이", "집은", "아주", "큽니다"]),
    "sw": ("Nyumba hii ni kubwa sana.", ["Nyumba", "hii", "ni", "kubwa", "sana"]),
}


def words(text: str, lang: str, lexicon=None) -> list[str]:
    (spans,) = segment_words([text], lang, lexicon)
    return [text[s:e] for s, e in spans]


@pytest.mark.parametrize("lang", sorted(FIXTURES))
def test_spaced_scripts_split_into_whole_words(lang: str) -> None:
    text, expected = FIXTURES[lang]
    assert words(text, lang) == expected


def assert_marks_stay_inside(text: str, spans: list[tuple[int, int]]) -> None:
    for start, end in spans:
        assert not unicodedata.category(text[start]).startswith("M"), (text, text[start:end])
        if end < len(text):
            assert not unicodedata.category(text[end]).startswith("M"), (text, text[start:end])


@pytest.mark.parametrize("lang", sorted(FIXTURES))
def test_combining_marks_are_never_cut_off(lang: str) -> None:
    text, _ = FIXTURES[lang]
    (spans,) = segment_words([text], lang)
    assert_marks_stay_inside(text, spans)


def test_thai_uses_the_lexicon_then_keeps_unmatched_runs_whole(fixture_lexicon) -> None:
    text = "บ้านหลังนี้ใหญ่มาก"
    found = words(text, "th", fixture_lexicon)
    assert "บ้าน" in found and "ใหญ่" in found
    assert "".join(found) == text  # no character lost, none duplicated
    (spans,) = segment_words([text], "th", fixture_lexicon)
    assert_marks_stay_inside(text, spans)


def test_chinese_uses_the_lexicon_then_single_characters(fixture_lexicon) -> None:
    found = words("我家的房子很大。", "zh", fixture_lexicon)
    assert "房子" in found
    assert "".join(found) == "我家的房子很大"
    assert all(len(w) == 1 for w in found if w != "房子")


def test_japanese_uses_the_lexicon_and_script_runs(fixture_lexicon) -> None:
    found = words("東京の家はとても大きい。コンピューター", "ja", fixture_lexicon)
    for expected in ("東京", "家", "大きい", "コンピューター"):
        assert expected in found
    assert "".join(found) == "東京の家はとても大きいコンピューター"


def test_batches_keep_order_and_offsets_are_code_points() -> None:
    texts = ["😀 emoji first", "", "  ", "plain"]
    spans = segment_words(texts, "en")
    assert spans[0] == [(2, 7), (8, 13)]
    assert spans[1] == [] and spans[2] == []
    assert spans[3] == [(0, 5)]


@pytest.mark.parametrize("pair", [("en", "eng"), ("zh", "cmn"), ("zh", "zho"), ("ar", "arb"), ("ar", "ara"), ("sw", "swa"), ("id", "ind")])
def test_iso_639_1_and_639_3_codes_agree(pair: tuple[str, str]) -> None:
    one, three = pair
    assert normalize_lang(three) == one
    assert segment_words(["a b"], three) == segment_words(["a b"], one)


def test_unknown_language_code_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="'?\"?qq\"?'?"):
        segment_words(["text"], "qq")


def test_function_words_split_unspaced_scripts_without_a_lexicon() -> None:
    # 我们 (we) and 的 are on the Chinese function-word list; with no list, every Han
    # character stands alone.
    assert words("我们的房子", "zh") == ["我们", "的", "房", "子"]
    (spans,) = segment_words(["我们的房子"], "zh", stopwords="none")
    assert len(spans) == 5
    # The Japanese particles の and は cut the kana run they sit in.
    assert words("東京のすしはおいしい", "ja") == ["東", "京", "の", "すし", "は", "おいしい"]


def words_full(text: str, lang: str) -> list[str]:
    (spans,) = segment_words([text], lang, stopwords="full")
    return [text[s:e] for s, e in spans]


def test_punctuation_stop_words_never_become_words_in_unspaced_runs() -> None:
    # Issue 10's sweep: stopwordsiso's Korean list holds "_", which UAX #29 keeps
    # inside a katakana run, so "_" came out as a word between テスト and データ.
    full_list = stopword_list("ko", "full")
    assert full_list is not None and "_" in full_list
    assert words_full("テスト_データ", "ko") == ["テスト", "データ"]
    (spans,) = segment_words(["テスト_データ 한국어"], "ko", stopwords="full")
    assert spans == segment_words(["テスト_データ 한국어"], "ko", stopwords="none")[0]


@pytest.mark.parametrize(
    "text",
    ["ก\u200e\u0e31", "ก\u061c\u064bก", "漢\u2060\u0301字", "カ\u00ad\u3099"],
    ids=["thai-lrm", "thai-alm-fathatan", "han-word-joiner", "kana-soft-hyphen"],
)
def test_a_format_character_never_cuts_a_mark_off_in_unspaced_runs(text: str) -> None:
    # Found by tests/test_fuzz.py: grapheme rules break around a format character
    # (bidi mark, word joiner, soft hyphen), and the mark after one came out as a
    # word of its own; UAX #29 keeps both with the character before them.
    (spans,) = segment_words([text], "th")
    assert_marks_stay_inside(text, spans)
    assert spans[0][1] >= 3


def test_a_myanmar_vowel_sign_is_never_left_behind_by_a_dictionary_word(tmp_path) -> None:
    # Found by scripts/fuzz_long.py: UAX #29 starts a grapheme at ာ (U+102C) but
    # keeps it in the word, so the lexicon word က matched alone and left the sign
    # of ကာ as a word of its own.
    path = tmp_path / "my.tsv"
    path.write_text("my\tက\tmy\tကြ\nmy\tကား\tmy\tမော်တော်ကား\n", encoding="utf-8")
    lexicon = load_lexicon([path])
    for text in ("ကာ", "ကားကာ", "京\u1083"):
        (spans,) = segment_words([text], "my", lexicon)
        assert_marks_stay_inside(text, spans)
        assert "".join(text[s:e] for s, e in spans) == text
