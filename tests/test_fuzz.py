"""Fuzzing the Rust core through the public API (issue 10).

Hypothesis draws hostile Unicode: combining marks, ZWJ/ZWNJ, bidi controls and
other format characters, noncharacters, NUL and other controls, astral characters
(never lone surrogates: Python refuses to encode those, see the last test), the
scripts written without spaces, punctuation that sits inside their runs, and a few
100,000-character texts. It runs segmentation, perturbation (`perturb`,
`candidates`, `apply_edits`), the span maps and QA feature preparation on them,
and checks properties instead of outputs:

- no panic: the only exceptions are the documented ValueErrors, naming the text
  or example;
- spans lie inside their text, in order, and never overlap; every word has a
  letter or digit; a combining mark is never cut off from the character before it;
- rate 0 is the identity; the output is the pure-Python reference's
  (`reference_perturb`) and does not depend on the rest of the batch; two calls
  give the same result;
- `map_span_back` inverts `map_span` (around deletions too) wherever the
  perturbed span can tell what it came from;
- QA features: ids padded with the pad id, offsets inside the context and
  trimmed, labels on context tokens that cover the answer.

The checks are plain functions, so `scripts/fuzz_long.py` runs the same ones on a
million random inputs. Short by default (CI stays fast and derandomized); set
ROBUST_XLT_FUZZ_EXAMPLES to draw that many examples per test, at random.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

from reference_perturb import Counts, reference_counts, reference_perturb, word_key
from robust_xlt import (
    Lexicon,
    WordSet,
    apply_edits,
    candidates,
    known_languages,
    load_lexicon,
    normalize_lang,
    perturb,
    segment_words,
)
from robust_xlt import qa
from robust_xlt.stopwords import stopword_list

# ---------------------------------------------------------------- settings

_EXAMPLES = os.environ.get("ROBUST_XLT_FUZZ_EXAMPLES", "").strip()
settings.register_profile(
    "robust-xlt-fuzz",
    max_examples=int(_EXAMPLES) if _EXAMPLES else 40,
    derandomize=not _EXAMPLES,  # CI sees the same examples every run
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
FUZZ = settings.get_profile("robust-xlt-fuzz")
# 100,000-character texts cost about a second an example on a loaded 2-core machine.
LONG = settings(FUZZ, max_examples=max(2, FUZZ.max_examples // 20))

# ---------------------------------------------------------------- hostile text

# Combining marks, among them spacing marks that start a grapheme yet stay in the
# word (Myanmar U+102C, U+1038, Tai Tham U+1A61).
COMBINING = "\u0301\u0308\u0327\u0e31\u0e48\u0e4c\u093f\u094d\u0651\u064b\u3099\u309a\u20e3\ufe0f\U000e0100\u102c\u1038\u1a61"
JOINERS = "\u200d\u200c"
BIDI = "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Soft hyphen, word joiner, BOM, Mongolian vowel separator, Arabic number sign (a
# grapheme prefix), tag characters.
FORMAT = "\u00ad\u2060\ufeff\u180e\u0600\U000e0041"
NONCHARACTERS = "\ufdd0\ufdef\ufffe\uffff\U0001fffe\U0010ffff"
CONTROLS = "\x00\x01\x1b\x1c\x7f\x85"
SPACES = " \t\n\r\u00a0\u2028\u2029\u3000\u202f\u200b"
ASTRAL = "\U0001f600\U0001f468\U0001f469\U0001f1fa\U0001f1f8\U0001f3fb\U00020000\U0002a6d6\U0001d400\U00010400\U0001f130"
# Punctuation and symbols, several of which UAX #29 keeps inside unspaced runs.
PUNCTUATION = "_、。・〰฿๏ฯ๚၊។៛'.,:;-!?\"()「」‿"
SCRIPTS = (
    "กขคงจภาษไทยบ้านใหญ่มากั่ีื"  # Thai
    "漢字北京大学我们的房子很"  # Han
    "ひらがなのはとカタカナコンピューター東京家"  # kana
    "ກຂຄງຈកខគឃងကခဂဃင"  # Lao, Khmer, Myanmar
    "한국어집은हिन्दीभाषाالعربيةكبير"  # Hangul, Devanagari, Arabic
    "abcXYZéßİı0123٣"
)
HOSTILE = COMBINING + JOINERS + BIDI + FORMAT + NONCHARACTERS + CONTROLS + SPACES + ASTRAL + PUNCTUATION

# Synonyms and translations in the fuzzed languages, and entries that have broken
# segmentation or lookups: symbol and punctuation lemmas, decomposed and composed
# spellings, joiners, astral characters, unspaced-script words. (Not conftest's
# fixture: `import conftest` gets whichever conftest pytest loaded last.)
FUZZ_LEXICON = "".join(
    f"{line}\n"
    for line in [
        "en\tbig\ten\tlarge",
        "en\tbig\ten\thuge",
        "en\thouse\ten\thome",
        "en\tdog\ten\thound",
        "en\tthe\ten\tthis",
        "en\tice cream\tde\tEis",
        "en\tbig\tde\tgroß",
        "en\thouse\tde\tHaus",
        "de\tHaus\tde\tGebäude",
        "en\tbig\thi\tबड़ा",
        "en\thouse\thi\tघर",
        "hi\tघर\thi\tमकान",
        "hi\tहिन्दी\thi\tहिंदी",
        "en\tbig\tar\tكبير",
        "ar\tالبيت\tar\tالمنزل",
        "en\thouse\tko\t집",
        "ko\t집은\tko\t주택은",
        "ko\t_\tko\t밑줄",
        "en\tbig\tth\tใหญ่",
        "en\thouse\tth\tบ้าน",
        "en\tdog\tth\tหมา",
        "th\tใหญ่\tth\tมหึมา",
        "th\t฿\tth\tบาท",
        "th\tราคา\tth\tค่า",
        "th\tภาษา\tth\tภาษาไทย",
        "th\tฯลฯ\tth\tเป็นต้น",
        "en\thouse\tzh\t房子",
        "en\tdog\tzh\t狗",
        "zh\t房子\tzh\t房屋",
        "zh\t北京\tzh\t北平",
        "zh\t大学\tzh\t高校",
        "en\thouse\tja\t家",
        "en\tdog\tja\t犬",
        "ja\t東京\tja\t東京都",
        "ja\tコンピューター\tja\t計算機",
        "ja\tテスト\tja\t試験",
        "my\tက\tmy\tကြ",
        "my\tကား\tmy\tမော်တော်ကား",
        "sw\tnyumba\tsw\tmakazi",
        "en\tcafé\ten\tcoffeehouse",
        "en\tcafe\u0301\ten\tbistro",
        "en\ta\u200db\ten\tjoined",
        "en\tsmile\U0001f600\ten\tgrin",
        "en\t\U0001d400bc\ten\tbold",
        "tr\tkır\ttr\tkir",
        "de\tStraße\tde\tStrasse",
    ]
)
# Words the texts draw whole, so dictionary matching and edits happen.
LEXICON_WORDS = sorted(
    {w for line in FUZZ_LEXICON.splitlines() if line and not line.startswith("#") for w in line.split("\t")[1::2]}
)
LANGS = ["en", "th", "zh", "ja", "ko", "hi", "ar", "de", "tr", "lo", "km", "my"]
TARGETS = ["de", "th", "zh", "ja", "hi", "ar", "ko", "sw", "fr"]


def fuzz_lexicon(folder: Path) -> Lexicon:
    path = folder / "fuzz.tsv"
    path.write_text(FUZZ_LEXICON, encoding="utf-8")
    return load_lexicon([path])


@pytest.fixture(scope="module")
def lexicon(tmp_path_factory: pytest.TempPathFactory) -> Lexicon:
    return fuzz_lexicon(tmp_path_factory.mktemp("fuzz-lexicon"))


@pytest.fixture(scope="module")
def lexicon_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("random-lexicon")


_piece = st.one_of(
    st.sampled_from(LEXICON_WORDS),
    st.text(alphabet=SCRIPTS, min_size=1, max_size=6),
    st.text(alphabet=HOSTILE, min_size=1, max_size=3),
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=4),
    st.sampled_from(list(SPACES)),
)
hostile_text = st.lists(_piece, max_size=24).map("".join)
hostile_texts = st.lists(hostile_text, min_size=1, max_size=6)


@st.composite
def long_text_parts(draw) -> tuple[str, str, str]:
    """A hostile piece and the text around it; `long_text` repeats the piece to
    100,000 characters (one unspaced run of that length when it is Thai or Han).
    Hypothesis reports the parts, not the long text."""
    piece = draw(st.one_of(st.text(alphabet=SCRIPTS + HOSTILE, min_size=1, max_size=8), st.sampled_from(LEXICON_WORDS)))
    return draw(hostile_text), piece, draw(hostile_text)


def long_text(before: str, piece: str, after: str, length: int = 100_000) -> str:
    return before + (piece * (length // len(piece) + 1))[:length] + after


# ---------------------------------------------------------------- checks

# Rust's char::is_whitespace (White_Space), which the core trims by; Python's
# str.isspace also takes U+001C to U+001F.
WHITE_SPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B))))
NEWLINES = frozenset("\n\r\x0b\x0c\x85\u2028\u2029")


def has_letter_or_digit(word: str) -> bool:
    """What the core counts as a word: a letter, digit or letter-like mark (Unicode
    Alphabetic takes some marks and the circled letters, category So). Rust's
    Unicode tables are newer than this Python's: a character unassigned here (Cn)
    may be a letter there."""
    return any(
        unicodedata.category(c)[0] in "LMN"
        or unicodedata.category(c) == "Cn"
        or (unicodedata.category(c) == "So" and "LETTER" in unicodedata.name(c, ""))
        for c in word
    )


def show(text: str, limit: int = 120) -> str:
    """A failing 100,000-character text, cut so the report stays readable."""
    return repr(text) if len(text) <= limit else f"{text[: limit // 2]!r}...{text[-limit // 2 :]!r} ({len(text)} chars)"


def cuts_off_a_mark(text: str, at: int) -> bool:
    """Whether a boundary at `at` separates a combining mark from the character
    before it, which UAX #29 (WB4) forbids except after a line break."""
    return 0 < at < len(text) and unicodedata.category(text[at])[0] == "M" and text[at - 1] not in NEWLINES


def check_words(texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]) -> None:
    assert len(spans) == len(texts)
    for text, words in zip(texts, spans):
        last = 0
        for start, end in words:
            assert last <= start < end <= len(text), (show(text), words[:20])
            word = text[start:end]
            assert has_letter_or_digit(word), (show(text), start, show(word))
            assert not cuts_off_a_mark(text, start) and not cuts_off_a_mark(text, end), (show(text), start, show(word))
            last = end


def check_edits(original: str, p, lang_codes: Sequence[str] | None = None) -> None:
    """The edits rebuild the perturbed text from the original, in order, and the
    span maps carry each edit onto its replacement and back, except where an empty
    span is ambiguous: two insertions at one point of the original (apply_edits
    takes them), or two deletions that leave one point of the perturbed text."""
    rebuilt, cursor = [], 0
    for e in p.edits:
        (os_, oe), (ns, ne) = e.original_span, e.new_span
        assert cursor <= os_ <= oe <= len(original), (show(original), p.edits[:10])
        assert original[os_:oe] == e.original and p.text[ns:ne] == e.replacement
        rebuilt += [original[cursor:os_], e.replacement]
        cursor = oe
        if lang_codes is not None:
            assert e.lang in lang_codes
    assert "".join(rebuilt) + original[cursor:] == p.text
    empty_old = Counter(e.original_span for e in p.edits if e.original_span[0] == e.original_span[1])
    empty_new = Counter(e.new_span for e in p.edits if e.new_span[0] == e.new_span[1])
    for e in p.edits:
        if empty_old[e.original_span] < 2:
            assert p.map_span(*e.original_span) == e.new_span, (show(original), p.edits[:10], e)
        if empty_new[e.new_span] < 2:
            assert p.map_span_back(*e.new_span) == e.original_span, (show(original), p.edits[:10], e)


def check_span_maps(original: str, p, spans: Sequence[tuple[int, int]]) -> None:
    """`map_span` and `map_span_back` stay in bounds for any span; they are inverse
    for spans the perturbed text can tell apart: those between edits, and those
    holding whole edits whose ends are not the ends of a deletion (a deleted word
    leaves nothing in the perturbed span to say it was inside)."""
    n_old, n_new = len(original), len(p.text)
    edits = [e.original_span for e in p.edits]
    deletions = [e.original_span for e in p.edits if not e.replacement and e.original_span[0] < e.original_span[1]]
    for start, end in spans:
        ns, ne = p.map_span(start, end)
        assert 0 <= ns <= ne <= n_new, (show(original), p.edits[:10], start, end)
        bs, be = p.map_span_back(min(start, n_new), min(end, n_new))
        assert 0 <= bs <= be <= n_old
        if start == end:
            continue
        touched = [(a, b) for a, b in edits if (start < b and a < end) or (a == b and start < a < end)]
        if not touched:
            assert p.text[ns:ne] == original[start:end], (show(original), p.edits[:10], start, end)
            assert p.map_span_back(ns, ne) == (start, end), (show(original), p.edits[:10], start, end)
        elif all(start <= a and b <= end for a, b in touched) and not any(
            start == a or end == b for a, b in deletions
        ):
            assert p.map_span_back(ns, ne) == (start, end), (show(original), p.edits[:10], start, end)
    for bad in ((0, n_old + 1), (1, 0) if n_old else (0, 1)):
        with pytest.raises(ValueError, match="is not inside a text of"):
            p.map_span(*bad)


def check_perturbations(
    texts: Sequence[str], lang: str, lexicon: Lexicon, out, *, rate: float, seed: int, protect, max_edits, stopwords, **kw
) -> None:
    """Everything `perturb` promises for one batch, `out` being its result."""
    assert len(out) == len(texts)
    words = segment_words(texts, lang, lexicon, stopwords=stopwords)
    cands = candidates(texts, lang, lexicon, protect=protect, stopwords=stopwords, **kw)
    assert reference_perturb(texts, cands, rate=rate, seed=seed, max_edits=max_edits) == [
        (p.text, [(e.original_span, e.new_span, e.original, e.replacement, e.lang) for e in p.edits]) for p in out
    ]
    stop = frozenset(stopword_list(lang, stopwords) or ())
    for i, (text, p) in enumerate(zip(texts, out)):
        spans = protect[i] if protect else []
        counts = Counts(p.word_count, p.stopword_count, p.protected_count, p.no_candidate_count, p.eligible_count)
        assert counts == reference_counts(words[i], text, stop, spans, cands[i])
        assert p.word_count == len(words[i]) and p.eligible_count == len(cands[i])
        assert len(p.edits) <= p.eligible_count and (max_edits is None or len(p.edits) <= max_edits)
        if rate == 0:
            assert p.text == text and not p.edits
        check_edits(text, p, lang_codes=[lang, *(kw.get("target_langs") or [])])
        word_spans = set(words[i])
        for e in p.edits:
            assert e.original_span in word_spans
            assert word_key(e.replacement) != word_key(e.original)
        for s, e, word, options in cands[i]:
            assert text[s:e] == word and options and all(forms for _, forms in options)
            assert all(word_key(f) != word_key(word) for _, forms in options for f in forms)
        for ps, pe in spans:
            ns, ne = p.map_span(ps, pe)
            assert p.text[ns:ne] == text[ps:pe], (show(text), spans, p.edits[:10])


def check_perturb_call(texts: Sequence[str], lang: str, lexicon: Lexicon, **kw) -> list:
    """Runs `perturb` twice (the same result) and on a prefix of the batch (the same
    results for those texts), then checks the output."""
    out = perturb(texts, lang, lexicon, **kw)
    again = perturb(texts, lang, lexicon, **kw)
    assert [(p.text, p.edits) for p in out] == [(p.text, p.edits) for p in again]
    k = len(texts) // 2
    if k:
        kw_prefix = dict(kw, protect=kw["protect"][:k] if kw.get("protect") else kw.get("protect"))
        prefix = perturb(texts[:k], lang, lexicon, **kw_prefix)
        assert [(p.text, p.edits) for p in prefix] == [(p.text, p.edits) for p in out[:k]]
    check_perturbations(
        texts, lang, lexicon, out, **{"max_edits": None, "protect": None, "stopwords": "function", **kw}
    )
    return out


def check_apply_edits(texts: Sequence[str], edits, out) -> None:
    words = segment_words(texts, "en", stopwords="none")
    for text, p, w in zip(texts, out, words):
        assert p.word_count == len(w)
        assert (p.stopword_count, p.protected_count, p.no_candidate_count, p.eligible_count) == (0, 0, 0, 0)
        check_edits(text, p)


_EXAMPLE_ERROR = re.compile(r"example \d+: \S")


def check_qa(examples: Sequence, tok: qa.QATokenizer, setting: dict) -> None:
    """Train and eval features of one batch: the documented ValueError naming an
    example, or arrays that keep every promise of `prepare_*_features`."""
    try:
        train = qa.prepare_train_features(examples, tok, **setting)
    except ValueError as err:
        assert _EXAMPLE_ERROR.match(str(err)), str(err)
        return
    evalf = qa.prepare_eval_features(examples, tok, **setting)
    n, width = train["input_ids"].shape
    assert width == setting["max_length"] and evalf["input_ids"].shape == (n, width)
    for key in ("input_ids", "attention_mask", "token_type_ids", "overflow_to_sample_mapping"):
        assert np.array_equal(train[key], evalf[key]), key
    sample = train["overflow_to_sample_mapping"]
    assert sorted(set(sample.tolist())) == list(range(len(examples)))
    assert np.all(np.diff(sample) >= 0)
    mask = train["attention_mask"]
    assert set(np.unique(mask).tolist()) <= {0, 1}
    lengths = mask.sum(axis=1)
    assert np.array_equal(mask, (np.arange(width)[None, :] < lengths[:, None]).astype(mask.dtype))
    assert np.all(train["input_ids"][mask == 0] == tok.pad_id)
    offsets = evalf["offset_mapping"]
    for f in range(n):
        ex = examples[sample[f]]
        context = ex.context
        row = offsets[f]
        in_context = np.nonzero(row[:, 0] >= 0)[0]
        assert len(in_context) and np.all(np.diff(in_context) == 1), "context tokens are one run"
        assert np.all(row[row[:, 0] < 0] == -1)
        for s, e in row[in_context].tolist():
            assert 0 <= s <= e <= len(context), (show(context), s, e)
            piece = context[s:e]
            assert piece == "" or (piece[0] not in WHITE_SPACE and piece[-1] not in WHITE_SPACE), (show(context), piece)
        start, end = int(train["start_positions"][f]), int(train["end_positions"][f])
        assert 0 <= start <= end < width
        if not ex.answers:
            assert start == end == 0
            continue
        answer = ex.answers[0]
        a_s, a_e = trimmed(context, answer.start, answer.start + len(answer.text))
        first, last = row[in_context[0]], row[in_context[-1]]
        inside = first[0] <= a_s and last[1] >= a_e
        assert (start > 0) == inside, (show(context), answer.start, answer.text, start, end)
        if inside:
            assert start in in_context and end in in_context
    again = qa.prepare_eval_features(examples, tok, **setting)
    for key, value in evalf.items():
        assert np.array_equal(value, again[key]), key
    # Any logits decode to a piece of the example's own context.
    draw = np.random.default_rng(n)
    answers = qa.postprocess(examples, evalf, draw.normal(size=(n, width)), draw.normal(size=(n, width)))
    assert all(answers[ex.id] in ex.context for ex in examples)


def trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in WHITE_SPACE:
        start += 1
    while end > start and text[end - 1] in WHITE_SPACE:
        end -= 1
    return start, end


# ---------------------------------------------------------------- segmentation


@FUZZ
@given(texts=hostile_texts, lang=st.sampled_from(LANGS), stopwords=st.sampled_from(["function", "full", "none"]), with_lexicon=st.booleans())
def test_segmentation_spans_are_ordered_words(lexicon: Lexicon, texts, lang, stopwords, with_lexicon) -> None:
    lex = lexicon if with_lexicon else None
    spans = segment_words(texts, lang, lex, stopwords=stopwords)
    check_words(texts, spans)
    assert segment_words(texts, lang, lex, stopwords=stopwords) == spans
    assert [segment_words([t], lang, lex, stopwords=stopwords)[0] for t in texts] == spans


@FUZZ
@given(texts=hostile_texts, words=st.lists(st.text(alphabet=SCRIPTS + HOSTILE, min_size=1, max_size=5), max_size=8), lang=st.sampled_from(LANGS))
def test_random_lexicons_load_or_fail_cleanly_and_segment(lexicon_folder: Path, texts, words, lang) -> None:
    """A lexicon of random words (any of them punctuation, marks or controls) loads
    or is refused with a FormatError naming the file; its words never make a
    punctuation-only word."""
    path = lexicon_folder / "random.tsv"
    pairs = list(zip(words, words[1:] + words[:1]))
    path.write_text("".join(f"{lang}\t{a}\t{lang}\t{b}\n" for a, b in pairs), encoding="utf-8")
    try:
        lex = load_lexicon([path])
    except ValueError as err:  # FormatError is a ValueError
        assert str(path) in str(err), str(err)
        return
    spans = segment_words(texts, lang, lex, stopwords="none")
    check_words(texts, spans)
    out = check_perturb_call(texts, lang, lex, mode="synonym", rate=1.0, seed=0, stopwords="none")
    for text, p in zip(texts, out):
        check_span_maps(text, p, [(0, len(text)), (0, 0)])


@FUZZ
@given(words=st.lists(hostile_text, min_size=1, max_size=6), lang=st.sampled_from(LANGS), code=hostile_text)
def test_lookups_and_language_codes(lexicon: Lexicon, words, lang, code) -> None:
    for word in words:
        assert all(isinstance(w, str) and w for w in lexicon.synonyms(word, lang))
        assert all(isinstance(w, str) and w for w in lexicon.translations(word, lang, "en"))
    stop = WordSet(words)
    assert all(w in stop for w in words) and len(stop) <= len(words)
    try:
        assert normalize_lang(code) in known_languages()
    except ValueError as err:
        assert str(err).startswith("unknown language code"), str(err)


# ---------------------------------------------------------------- perturbation


@st.composite
def perturb_case(draw):
    texts = draw(hostile_texts)
    protect = None
    if draw(st.booleans()):
        protect = []
        for t in texts:
            spans = []
            for _ in range(draw(st.integers(0, 2))):
                a = draw(st.integers(0, len(t)))
                spans.append((a, draw(st.integers(a, len(t)))))
            protect.append(spans)
    mode = draw(st.sampled_from(["synonym", "codeswitch", "mixed"]))
    kw = dict(
        mode=mode,
        rate=draw(st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0)),
        seed=draw(st.integers(0, 2**64 - 1)),
        target_langs=draw(st.lists(st.sampled_from(TARGETS), min_size=1, max_size=4, unique=True)),
        protect=protect,
        max_edits=draw(st.none() | st.integers(0, 4)),
        stopwords=draw(st.sampled_from(["function", "full", "none"])),
    )
    return texts, draw(st.sampled_from(LANGS)), kw


def random_spans(draw, n: int, count: int) -> list[tuple[int, int]]:
    spans = []
    for _ in range(count):
        a = draw(st.integers(0, n))
        spans.append((a, draw(st.integers(a, n))))
    return spans


@FUZZ
@given(case=perturb_case(), data=st.data())
def test_perturbation_keeps_its_promises(lexicon: Lexicon, case, data) -> None:
    texts, lang, kw = case
    if kw["mode"] != "synonym" and not set(kw["target_langs"]) - {lang}:
        with pytest.raises(ValueError, match="needs target_langs other than the source language"):
            perturb(texts, lang, lexicon, **kw)
        return
    out = check_perturb_call(texts, lang, lexicon, **kw)
    for text, p in zip(texts, out):
        edges = [x for e in p.edits for x in e.original_span]
        spans = random_spans(data.draw, len(text), 4) + [(a, b) for a in edges for b in edges if a <= b]
        check_span_maps(text, p, spans)


@FUZZ
@given(texts=hostile_texts, seed=st.integers(0, 2**64 - 1), lang=st.sampled_from(LANGS))
def test_rate_zero_is_the_identity(lexicon: Lexicon, texts, seed, lang) -> None:
    out = perturb(texts, lang, lexicon, mode="mixed", rate=0.0, seed=seed, target_langs=TARGETS, stopwords="none")
    assert [(p.text, p.edits) for p in out] == [(t, []) for t in texts]
    for text, p in zip(texts, out):
        assert p.map_span(0, len(text)) == (0, len(text)) == p.map_span_back(0, len(text))


@st.composite
def edits_case(draw):
    """Texts and random non-overlapping edits anywhere (not only on words):
    insertions (empty spans), deletions (empty replacements) and replacements."""
    texts = draw(hostile_texts)
    edits = []
    for t in texts:
        cuts = sorted(draw(st.lists(st.integers(0, len(t)), max_size=8)))
        pairs = list(zip(cuts[::2], cuts[1::2]))
        repl = st.sampled_from(["", "", "x", "漢字", "\u0301", "\U0001f600"]) | hostile_text
        edits.append([(a, b, draw(repl), draw(st.sampled_from(TARGETS))) for a, b in pairs])
    return texts, edits


@FUZZ
@given(case=edits_case(), data=st.data())
def test_apply_edits_and_span_maps_around_deletions(case, data) -> None:
    texts, edits = case
    out = apply_edits(texts, edits)
    check_apply_edits(texts, edits, out)
    for text, p, text_edits in zip(texts, out, edits):
        assert [e.original_span for e in p.edits] == [(a, b) for a, b, _, _ in text_edits]
        edges = sorted({x for a, b, _, _ in text_edits for x in (a, b)} | {0, len(text)})
        spans = random_spans(data.draw, len(text), 4) + [(a, b) for a in edges for b in edges if a <= b]
        check_span_maps(text, p, spans)


@FUZZ
@given(case=edits_case(), data=st.data())
def test_bad_edits_are_value_errors_naming_the_text(case, data) -> None:
    texts, edits = case
    i = data.draw(st.integers(0, len(texts) - 1))
    n = len(texts[i])
    bad = [list(e) for e in edits]
    if data.draw(st.booleans()) or n == 0:
        bad[i] = [*bad[i], (n, n + 1 + data.draw(st.integers(0, 5)), "x", "en")]
        message = rf"text {i}: edit span \({n}, \d+\) is not inside its {n} characters"
    else:
        a = data.draw(st.integers(0, n - 1))
        bad[i] = [(a, n, "x", "en"), (a, a + 1, "y", "en")]
        message = rf"text {i}: edit span .* overlaps another edit"
    with pytest.raises(ValueError, match=message):
        apply_edits(texts, bad)


# ---------------------------------------------------------------- QA features


QA_SETTINGS = [
    dict(max_length=384, stride=128, max_query_length=64),
    dict(max_length=64, stride=16, max_query_length=16),
    dict(max_length=24, stride=4, max_query_length=4),
    dict(max_length=16, stride=0, max_query_length=2),
]
_QA_TRAINING_TEXT = [SCRIPTS, PUNCTUATION, *LEXICON_WORDS, "The big dog lives in a big house near the river."] * 5


def fuzz_tokenizers() -> dict[str, qa.QATokenizer]:
    """Two small tokenizers trained offline: XLM-R-like (Unigram, NFKC, Metaspace)
    and uncased-mBERT-like (WordPiece, BertNormalizer, which drops controls and
    accents)."""
    unigram = Tokenizer(models.Unigram())
    unigram.normalizer = normalizers.NFKC()
    unigram.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    unigram.train_from_iterator(
        _QA_TRAINING_TEXT,
        trainers.UnigramTrainer(vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], unk_token="<unk>", show_progress=False),
    )
    unigram.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wordpiece.train_from_iterator(
        _QA_TRAINING_TEXT,
        trainers.WordPieceTrainer(vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"], show_progress=False),
    )
    wordpiece.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", wordpiece.token_to_id("[CLS]")), ("[SEP]", wordpiece.token_to_id("[SEP]"))],
    )
    return {"unigram": qa.QATokenizer(unigram), "wordpiece": qa.QATokenizer(wordpiece)}


@pytest.fixture(scope="module")
def qa_tokenizers() -> dict[str, qa.QATokenizer]:
    return fuzz_tokenizers()


class Answer:
    __slots__ = ("text", "start")

    def __init__(self, text: str, start: int) -> None:
        self.text, self.start = text, start


class Example:
    __slots__ = ("id", "question", "context", "answers")

    def __init__(self, id: str, question: str, context: str, answers: tuple[Answer, ...]) -> None:
        self.id, self.question, self.context, self.answers = id, question, context, answers


# Mostly with a word in it: a blank question or context refuses the whole batch.
_qa_worded = st.tuples(hostile_text, st.sampled_from(LEXICON_WORDS), hostile_text).map("".join)
_qa_text = st.integers(0, 9).flatmap(lambda k: hostile_text if k == 0 else _qa_worded)


@st.composite
def qa_example(draw) -> Example:
    question, text = draw(_qa_text), draw(_qa_text)
    answers: tuple[Answer, ...] = ()
    if text and draw(st.booleans()):
        start = draw(st.integers(0, len(text) - 1))
        end = draw(st.integers(start + 1, min(len(text), start + 40)))
        answers = (Answer(text[start:end], start),)
    return Example(f"q{draw(st.integers(0, 2**32))}", question, text, answers)


@FUZZ
@given(examples=st.lists(qa_example(), min_size=1, max_size=4, unique_by=lambda ex: ex.id), name=st.sampled_from(["unigram", "wordpiece"]), setting=st.sampled_from(QA_SETTINGS))
def test_qa_features_keep_their_promises(qa_tokenizers, examples, name, setting) -> None:
    check_qa(examples, qa_tokenizers[name], setting)


# ---------------------------------------------------------------- long texts


@LONG
@given(parts=long_text_parts(), seed=st.integers(0, 2**64 - 1), lang=st.sampled_from(LANGS), data=st.data())
def test_long_texts(lexicon: Lexicon, qa_tokenizers, parts, seed, lang, data) -> None:
    text = long_text(*parts)
    texts = [text, text[: len(text) // 3]]
    check_words(texts, segment_words(texts, lang, lexicon))
    kw = dict(mode="mixed", rate=0.5, seed=seed, target_langs=TARGETS, max_edits=None, stopwords="function")
    out = check_perturb_call(texts, lang, lexicon, **kw)
    check_span_maps(text, out[0], random_spans(data.draw, len(text), 8))
    edits = [[(a, a + 3, "", "en") for a in range(0, len(t) - 3, 9973)] for t in texts]
    check_apply_edits(texts, edits, apply_edits(texts, edits))
    check_qa([Example("long", "q?", text, ())], qa_tokenizers["unigram"], QA_SETTINGS[0])


@pytest.mark.parametrize(
    "piece",
    ["ก", "漢", "カ_", "\u0301", "a\u200d", "\u200e", "ก\u0e31\u200e", "\x00", "\U0001f468\u200d\U0001f469", "a "],
    ids=["thai", "han", "katakana-underscore", "marks", "zwj", "lrm", "thai-mark-lrm", "nul", "emoji-zwj", "words"],
)
def test_one_hundred_thousand_characters_of_one_piece(lexicon: Lexicon, piece: str) -> None:
    text = (piece * (100_000 // len(piece) + 1))[:100_000]
    for lang in ("th", "ja", "en"):
        check_words([text], segment_words([text], lang, lexicon))
    kw = dict(mode="mixed", rate=1.0, seed=1, target_langs=TARGETS, max_edits=None, stopwords="none")
    check_perturb_call([text], "th", lexicon, **kw)


# ---------------------------------------------------------------- input Python cannot pass


def test_lone_surrogates_are_refused_by_python_before_the_core() -> None:
    # A str holding a lone surrogate has no UTF-8 form: PyO3 raises the codec's
    # UnicodeEncodeError (a ValueError) when it converts the argument.
    with pytest.raises(UnicodeEncodeError, match="surrogates not allowed"):
        segment_words(["a\ud800b"], "en")
