"""Batched perturbation: equal to the pure-Python reference, and its properties."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference_perturb import Counts, map_position, reference_counts, reference_perturb, word_key
from robust_xlt import Lexicon, apply_edits, candidates, perturb, segment_words
from robust_xlt.perturbation import Mode
from robust_xlt.stopwords import stopword_list

TEXTS = {
    "en": ["The big dog ran to the house.", "A BIG House, a quick Dog!", "Nothing to change here."],
    "de": ["Das große Haus ist groß."],
    "hi": ["यह घर बहुत बड़ा है।"],
    "bn": ["এই বাড়ি খুব বড়।"],
    "te": ["ఈ ఇల్లు చాలా పెద్ద."],
    "th": ["บ้านหลังนี้ใหญ่มาก"],
    "zh": ["我家的房子很大。"],
    "ja": ["東京の家はとても大きい。"],
    "ar": ["هذا البيت كبير جدًا."],
    "ko": ["이 집 아주 커요."],
    "sw": ["Nyumba hii ni kubwa sana."],
}
TARGETS = ["de", "hi", "bn", "te", "th", "zh", "ja", "ar", "ko", "sw"]


def as_tuples(perturbations) -> list[tuple[str, list]]:
    return [
        (p.text, [(e.original_span, e.new_span, e.original, e.replacement, e.lang) for e in p.edits])
        for p in perturbations
    ]


def counts_of(p) -> Counts:
    return Counts(p.word_count, p.stopword_count, p.protected_count, p.no_candidate_count, p.eligible_count)


def reference_counts_of(texts, lang, lexicon, cands, protect=None, stopwords="function") -> list[Counts]:
    """The reference's counts, from the core's word spans and candidates."""
    words = segment_words(texts, lang, lexicon, stopwords=stopwords)
    stop = frozenset(stopword_list(lang, stopwords) or ())
    protect = protect or [[] for _ in texts]
    return [reference_counts(w, t, stop, s, c) for w, t, s, c in zip(words, texts, protect, cands)]


@pytest.mark.parametrize("lang", sorted(TEXTS))
@pytest.mark.parametrize("mode", ["synonym", "codeswitch", "mixed"])
@pytest.mark.parametrize(("rate", "max_edits"), [(0.0, None), (0.5, None), (1.0, None), (1.0, 1)])
def test_rust_equals_the_python_reference(
    fixture_lexicon: Lexicon, lang: str, mode: Mode, rate: float, max_edits: int | None
) -> None:
    texts = TEXTS[lang] * 4  # the same text at several batch indices draws differently
    targets = [t for t in TARGETS if t != lang] if lang != "en" else TARGETS
    if lang != "en" and mode != "synonym":
        targets = ["en"]
    for seed in (0, 1, 2**63 + 5):
        got = perturb(texts, lang, fixture_lexicon, mode=mode, rate=rate, seed=seed, target_langs=targets, max_edits=max_edits)
        cands = candidates(texts, lang, fixture_lexicon, mode=mode, target_langs=targets)
        assert as_tuples(got) == reference_perturb(texts, cands, rate=rate, seed=seed, max_edits=max_edits)
        assert [counts_of(p) for p in got] == reference_counts_of(texts, lang, fixture_lexicon, cands)


@pytest.mark.parametrize("lang", sorted(TEXTS))
def test_word_counts_equal_the_reference_with_protected_spans(fixture_lexicon: Lexicon, lang: str) -> None:
    texts = TEXTS[lang]
    protect = [[(0, len(t) // 2)] for t in texts]  # the first half of each text
    for stopwords in ("function", "full", "none"):
        got = perturb(texts, lang, fixture_lexicon, mode="synonym", rate=0.5, seed=4, protect=protect, stopwords=stopwords)
        cands = candidates(texts, lang, fixture_lexicon, mode="synonym", protect=protect, stopwords=stopwords)
        expected = reference_counts_of(texts, lang, fixture_lexicon, cands, protect, stopwords)
        assert [counts_of(p) for p in got] == expected
        assert all(c.word_count == sum(c[1:]) for c in expected)
    assert any(c.protected_count for c in expected)


def test_fixture_texts_have_candidates_in_every_language(fixture_lexicon: Lexicon) -> None:
    for lang, texts in TEXTS.items():
        cands = candidates(texts, lang, fixture_lexicon, mode="synonym")
        if texts[0] != "Nothing to change here.":
            assert cands[0], f"{lang}: no word of {texts[0]!r} has a synonym"


def test_replacements_take_the_original_casing(fixture_lexicon: Lexicon) -> None:
    (p,) = perturb(["BIG House"], "en", fixture_lexicon, mode="synonym", rate=1.0, seed=0, stopwords="none")
    big, house = p.edits
    assert big.replacement in {"HUGE", "LARGE"}
    assert house.replacement == "Home"


def test_stop_words_are_kept_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "stop.tsv"
    path.write_text("en\tthe\ten\tthis\nen\tcat\ten\tfeline\nen\thome\ten\thouse\n", encoding="utf-8")
    lex = Lexicon.from_files([path])
    (kept,) = perturb(["the cat home"], "en", lex, mode="synonym", rate=1.0, seed=0)
    assert [e.original for e in kept.edits] == ["cat", "home"]
    assert (kept.stopword_count, kept.eligible_count) == (1, 2)
    (full,) = perturb(["the cat home"], "en", lex, mode="synonym", rate=1.0, seed=0, stopwords="full")
    assert [e.original for e in full.edits] == ["cat"]  # stopwordsiso lists "home"
    (all_words,) = perturb(["the cat home"], "en", lex, mode="synonym", rate=1.0, seed=0, stopwords="none")
    assert [e.original for e in all_words.edits] == ["the", "cat", "home"]
    with pytest.raises(ValueError, match="unknown stop-word kind 'some'"):
        perturb(["the cat"], "en", lex, mode="synonym", rate=1.0, seed=0, stopwords="some")  # type: ignore[arg-type]


# Content words that stopwordsiso's English list (1,298 entries) protects from change.
CONTENT_WORDS = ["home", "said", "know", "think", "good", "went", "years", "place"]


@pytest.fixture(scope="module")
def content_lexicon(tmp_path_factory: pytest.TempPathFactory) -> Lexicon:
    rows = [
        ("home", "house"), ("said", "stated"), ("know", "understand"), ("think", "believe"),
        ("good", "fine"), ("went", "travelled"), ("years", "seasons"), ("place", "spot"),
        ("the", "this"), ("at", "near"), ("they", "people"), ("we", "people"), ("old", "aged"),
    ]
    path = tmp_path_factory.mktemp("content") / "content.tsv"
    path.write_text("".join(f"en\t{a}\ten\t{b}\n" for a, b in rows), encoding="utf-8")
    return Lexicon.from_files([path])


def test_content_words_are_eligible_with_the_function_word_list(content_lexicon: Lexicon) -> None:
    text = "They said the good years at home went by; we know the place and think it old."
    (cands,) = candidates([text], "en", content_lexicon, mode="synonym")
    assert [word for _, _, word, _ in cands] == ["said", "good", "years", "home", "went", "know", "place", "think", "old"]
    (full,) = candidates([text], "en", content_lexicon, mode="synonym", stopwords="full")
    assert not {word for _, _, word, _ in full} & set(CONTENT_WORDS)  # what the function lists fix
    (p,) = perturb([text], "en", content_lexicon, mode="synonym", rate=1.0, seed=0)
    assert counts_of(p) == Counts(word_count=17, stopword_count=8, protected_count=0, no_candidate_count=0, eligible_count=9)
    assert len(p.edits) == 9


def test_the_share_of_eligible_words_changed_is_the_rate(content_lexicon: Lexicon) -> None:
    import random

    vocab = [*CONTENT_WORDS, "Home", "GOOD", "Years", "the", "at", "they", "we", "old", "dog", "river", "a", "of"]
    draw = random.Random(5)
    texts = [" ".join(draw.choice(vocab) for _ in range(draw.randint(3, 15))) for _ in range(400)]
    for rate in (0.15, 0.5):
        out = perturb(texts, "en", content_lexicon, mode="synonym", rate=rate, seed=17)
        eligible = sum(p.eligible_count for p in out)
        changed = sum(len(p.edits) for p in out)
        assert eligible > 2000
        # 400 texts of about 5 eligible words: the share's standard deviation is
        # below 0.012, so 0.04 is over three of them.
        assert abs(changed / eligible - rate) < 0.04, (changed, eligible)
        for p, text in zip(out, texts):
            assert p.word_count == p.stopword_count + p.protected_count + p.no_candidate_count + p.eligible_count
            assert len(p.edits) <= p.eligible_count
            assert all(word_key(e.replacement) != word_key(e.original) for e in p.edits)


def test_a_replacement_equal_to_the_word_ignoring_case_is_never_offered(tmp_path: Path) -> None:
    # Upper-cased, Straße is STRASSE: no edit of STRASSE may pick it. The lexicon
    # keys differ (straße, strasse), so only casing makes the two equal.
    path = tmp_path / "de.tsv"
    path.write_text("de\tStraße\tde\tStrasse\nde\tStrasse\tde\tWeg\n", encoding="utf-8")
    lex = Lexicon.from_files([path])
    (cands,) = candidates(["STRASSE strasse"], "de", lex, mode="synonym", stopwords="none")
    assert [(word, options) for _, _, word, options in cands] == [
        ("STRASSE", [("de", ["WEG"])]),
        ("strasse", [("de", ["Straße", "Weg"])]),
    ]
    out = perturb(["STRASSE"] * 50, "de", lex, mode="synonym", rate=1.0, seed=0, stopwords="none")
    assert {e.replacement for p in out for e in p.edits} == {"WEG"}
    # With Straße its only candidate, STRASSE has none: no edit, not eligible.
    path.write_text("de\tStraße\tde\tStrasse\n", encoding="utf-8")
    (p,) = perturb(["STRASSE Strasse"], "de", Lexicon.from_files([path]), mode="synonym", rate=1.0, seed=0)
    assert [(e.original, e.replacement) for e in p.edits] == [("Strasse", "Straße")]
    assert (p.no_candidate_count, p.eligible_count) == (1, 1)


def test_a_symbol_lemma_is_never_a_word_of_an_unspaced_run(tmp_path: Path) -> None:
    # Issue 10's sweep: a lexicon lemma "฿" (in the Thai block, so inside Thai runs)
    # was matched as a word and replaced by its synonym.
    path = tmp_path / "th.tsv"
    path.write_text("th\t฿\tth\tบาท\nth\tราคา\tth\tค่า\n", encoding="utf-8")
    lex = Lexicon.from_files([path])
    text = "ราคา฿100"
    (spans,) = segment_words([text], "th", lex)
    assert [text[s:e] for s, e in spans] == ["ราคา", "100"]
    (cands,) = candidates([text], "th", lex, mode="synonym")
    assert [word for _, _, word, _ in cands] == ["ราคา"]
    (p,) = perturb([text], "th", lex, mode="synonym", rate=1.0, seed=0)
    assert [(e.original, e.replacement) for e in p.edits] == [("ราคา", "ค่า")]
    assert p.text == "ค่า฿100" and p.word_count == 2


def test_codeswitch_picks_target_languages(fixture_lexicon: Lexicon) -> None:
    out = perturb(["big house"] * 50, "en", fixture_lexicon, mode="codeswitch", rate=1.0, seed=3, target_langs=TARGETS)
    langs = {e.lang for p in out for e in p.edits}
    assert langs <= set(TARGETS) and len(langs) >= 5


def test_qa_answer_span_is_protected_and_follows_the_edits(fixture_lexicon: Lexicon) -> None:
    context = "The big dog lives in a big house near the big river."
    answer = (23, 32)  # "big house"
    out = perturb([context] * 20, "en", fixture_lexicon, mode="mixed", rate=1.0, seed=1, target_langs=TARGETS, protect=[[answer]] * 20)
    for p in out:
        start, end = p.map_span(*answer)
        assert p.text[start:end] == "big house"
        assert p.edits  # the other words did change


def test_bad_arguments_are_value_errors(fixture_lexicon: Lexicon) -> None:
    with pytest.raises(ValueError, match="rate"):
        perturb(["x"], "en", fixture_lexicon, mode="synonym", rate=1.5, seed=0)
    with pytest.raises(ValueError, match="target_langs"):
        perturb(["x"], "en", fixture_lexicon, mode="codeswitch", rate=0.5, seed=0)
    with pytest.raises(ValueError, match="'?\"?rewrite\"?'?"):
        perturb(["x"], "en", fixture_lexicon, mode="rewrite", rate=0.5, seed=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="text 0: protected span \\(2, 9\\)"):
        perturb(["abc"], "en", fixture_lexicon, mode="synonym", rate=0.5, seed=0, protect=[[(2, 9)]])
    with pytest.raises(ValueError, match="protect has 1 entries for 2 texts"):
        perturb(["a", "b"], "en", fixture_lexicon, mode="synonym", rate=0.5, seed=0, protect=[[]])
    with pytest.raises(ValueError, match="seed must lie in"):
        perturb(["x"], "en", fixture_lexicon, mode="synonym", rate=0.5, seed=-1)
    with pytest.raises(ValueError, match="max_edits must be >= 0, got -2"):
        perturb(["x"], "en", fixture_lexicon, mode="synonym", rate=0.5, seed=0, max_edits=-2)
    with pytest.raises(ValueError, match="unknown language code"):
        perturb(["x"], "en", fixture_lexicon, mode="codeswitch", rate=0.5, seed=0, target_langs=["zz"])


def test_apply_edits_matches_perturb_and_rejects_overlaps(fixture_lexicon: Lexicon) -> None:
    texts = TEXTS["en"]
    made = perturb(texts, "en", fixture_lexicon, mode="synonym", rate=1.0, seed=9)
    edits = [[(*e.original_span, e.replacement, e.lang) for e in p.edits] for p in made]
    again = apply_edits(texts, edits)
    assert as_tuples(again) == as_tuples(made)
    for p, words in zip(again, segment_words(texts, "en", stopwords="none")):
        assert counts_of(p) == Counts(len(words), 0, 0, 0, 0)
    with pytest.raises(ValueError, match="text 0"):
        apply_edits(["abcdef"], [[(0, 3, "x", "en"), (2, 4, "y", "en")]])
    with pytest.raises(ValueError, match="text 0: edit span \\(4, 99\\)"):
        apply_edits(["abcdef"], [[(4, 99, "x", "en")]])


# ---- properties ---------------------------------------------------------------

VOCAB = ["big", "Big", "BIG", "dog", "house", "quick", "the", "a", "ran", "大", "房子", "घर", ",", ".", "!", " ", "  ", "é"]
texts_strategy = st.lists(st.sampled_from(VOCAB), max_size=20).map(lambda ws: " ".join(ws))
settings.register_profile("core", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("core")


@given(texts=st.lists(st.text(max_size=40), max_size=6), seed=st.integers(0, 2**64 - 1))
def test_rate_zero_is_the_identity(fixture_lexicon: Lexicon, texts: list[str], seed: int) -> None:
    out = perturb(texts, "en", fixture_lexicon, mode="mixed", rate=0.0, seed=seed, target_langs=TARGETS)
    assert [p.text for p in out] == texts
    assert all(not p.edits for p in out)


@st.composite
def text_and_spans(draw):
    text = draw(texts_strategy)
    n = len(text)
    spans = []
    for _ in range(draw(st.integers(0, 3))):
        a = draw(st.integers(0, n))
        b = draw(st.integers(a, n))
        spans.append((a, b))
    return text, spans


@given(case=text_and_spans(), seed=st.integers(0, 2**32), rate=st.floats(0.0, 1.0))
def test_protected_spans_never_change_and_map_exactly(fixture_lexicon: Lexicon, case, seed: int, rate: float) -> None:
    text, spans = case
    (p,) = perturb([text], "en", fixture_lexicon, mode="mixed", rate=rate, seed=seed, target_langs=TARGETS, protect=[spans], stopwords="none")
    for start, end in spans:
        new_start, new_end = p.map_span(start, end)
        assert p.text[new_start:new_end] == text[start:end]


@given(case=text_and_spans(), seed=st.integers(0, 2**32), stopwords=st.sampled_from(["function", "full", "none"]))
def test_word_counts_add_up_and_rate_one_changes_every_eligible_word(fixture_lexicon: Lexicon, case, seed: int, stopwords) -> None:
    text, spans = case
    kwargs = dict(mode="mixed", target_langs=TARGETS, protect=[spans], stopwords=stopwords)
    (p,) = perturb([text], "en", fixture_lexicon, rate=1.0, seed=seed, **kwargs)
    (cands,) = candidates([text], "en", fixture_lexicon, **kwargs)
    assert counts_of(p) == reference_counts_of([text], "en", fixture_lexicon, [cands], [spans], stopwords)[0]
    assert p.word_count == p.stopword_count + p.protected_count + p.no_candidate_count + p.eligible_count
    assert len(p.edits) == p.eligible_count == len(cands)


@given(case=text_and_spans(), seed=st.integers(0, 2**32))
def test_map_span_round_trips(fixture_lexicon: Lexicon, case, seed: int) -> None:
    text, spans = case
    (p,) = perturb([text], "en", fixture_lexicon, mode="mixed", rate=0.7, seed=seed, target_langs=TARGETS, stopwords="none")
    inside = lambda pos: any(s < pos < e for (s, e) in (ed.original_span for ed in p.edits))  # noqa: E731
    forward = [(e.original_span, e.new_span) for e in p.edits]
    for start, end in spans:
        new_span = p.map_span(start, end)
        assert 0 <= new_span[0] <= new_span[1] <= len(p.text)
        assert new_span == (map_position(forward, start, False), map_position(forward, end, True))
        if not inside(start) and not inside(end):
            assert p.map_span_back(*new_span) == (start, end)
    for edit in p.edits:
        assert p.map_span(*edit.original_span) == edit.new_span
        assert p.map_span_back(*edit.new_span) == edit.original_span
        assert p.text[slice(*edit.new_span)] == edit.replacement


_THREAD_SCRIPT = """
import json, sys
from robust_xlt import load_lexicon, perturb
lex = load_lexicon([sys.argv[1]])
texts = json.loads(sys.argv[2])
out = perturb(texts, "en", lex, mode="mixed", rate=0.5, seed=42, target_langs=json.loads(sys.argv[3]))
print(json.dumps([[p.text, [(e.original_span, e.replacement, e.lang) for e in p.edits]] for p in out]))
"""


def test_one_thread_equals_two_threads(fixture_lexicon_path: Path) -> None:
    texts = [" ".join(VOCAB[(i * 7 + k) % len(VOCAB)] for k in range(12)) for i in range(400)]
    outputs = []
    for threads in ("1", "2"):
        env = {**os.environ, "RAYON_NUM_THREADS": threads}
        result = subprocess.run(
            [sys.executable, "-c", _THREAD_SCRIPT, str(fixture_lexicon_path), json.dumps(texts), json.dumps(TARGETS)],
            capture_output=True, text=True, env=env, timeout=120, check=True,
        )
        outputs.append(json.loads(result.stdout))
    assert outputs[0] == outputs[1]
    assert any(edits for _, edits in outputs[0])


@pytest.mark.shared_data
def test_real_lexicon_perturbation_equals_the_reference(shared_lexicon: Lexicon) -> None:
    texts = [
        "The quick brown fox jumps over the lazy dog near the old house.",
        "Scientists announced a large discovery about ancient rivers.",
        "Wanafunzi wengi walisoma kitabu kikubwa shuleni.",
    ]
    targets = ["de", "fr", "sw", "zh", "hi", "te", "bn", "ar", "ja", "ko", "th"]
    for mode in ("synonym", "codeswitch", "mixed"):
        got = perturb(texts, "en", shared_lexicon, mode=mode, rate=0.6, seed=7, target_langs=targets)
        cands = candidates(texts, "en", shared_lexicon, mode=mode, target_langs=targets)
        assert as_tuples(got) == reference_perturb(texts, cands, rate=0.6, seed=7)
        assert [counts_of(p) for p in got] == reference_counts_of(texts, "en", shared_lexicon, cands)
        assert any(p.edits for p in got)


@st.composite
def _text_and_edits(draw):
    """A text of words and spaces and non-overlapping edits of whole words, some of
    them deletions (empty replacements)."""
    words = draw(st.lists(st.text(alphabet="abcé漢", min_size=1, max_size=4), min_size=1, max_size=8))
    text = " ".join(words)
    starts = [sum(len(w) + 1 for w in words[:i]) for i in range(len(words))]
    chosen = draw(st.lists(st.integers(0, len(words) - 1), unique=True, max_size=len(words)))
    edits = [
        (starts[i], starts[i] + len(words[i]), draw(st.sampled_from(["", "x", "longer"])), "en") for i in sorted(chosen)
    ]
    return text, edits


@given(case=_text_and_edits())
@settings(max_examples=200, deadline=None)
def test_map_span_back_inverts_map_span_around_deletions(case) -> None:
    # Issue 10's fuzz finding: a deletion broke the inverse. Every span that touches no
    # edited word maps forward and back to itself.
    from robust_xlt.perturbation import apply_edits

    text, edits = case
    (p,) = apply_edits([text], [edits])
    for start in range(len(text) + 1):
        for end in range(start, len(text) + 1):
            if start == end or any(start < b and a < end for a, b, _, _ in edits):
                continue
            if any(a == b for a, b, _, _ in edits):
                raise AssertionError("edits are whole words")
            assert p.map_span_back(*p.map_span(start, end)) == (start, end), (text, edits, start, end)
