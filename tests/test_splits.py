"""Leak-free splits: sentence and passage groups, the three-way group split, id
alignment across languages, and what ``load_task_data`` builds from them.

Small files are written here, shaped so that a split by row index leaks (rows far
apart share a sentence, in one language only); the tests marked shared_data repeat
the checks on the real PAWS-X and XNLI files and skip when ../shared/data is absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robust_xlt.data import (
    DataError,
    PairExample,
    QAExample,
    align_ids,
    load_pawsx,
    load_xnli,
    passage_groups,
    sentence_groups,
    split_groups,
)
from robust_xlt.data.splits import group_ids, normalise
from robust_xlt.training.config import ConfigError, TrainConfig
from robust_xlt.training.data import TaskData, load_task_data



def pair(ident: str, a: str, b: str, lang: str = "en", label: int = 0) -> PairExample:
    return PairExample(ident, a, b, label, lang)


def texts(examples: list[Any]) -> set[str]:
    out: set[str] = set()
    for ex in examples:
        out.update((ex.text_a, ex.text_b) if isinstance(ex, PairExample) else (ex.context,))
    return {normalise(t) for t in out}


def config(**overrides: Any) -> TrainConfig:
    return TrainConfig(**{"model": "tiny", **overrides}).resolved()


# ---------------------------------------------------------------- groups


def test_rows_sharing_a_sentence_in_any_language_are_one_group() -> None:
    en = [pair("0", "A.", "B."), pair("1", "C.", "D."), pair("2", "E.", "F."), pair("3", "B.", "G.")]
    # German rows 1 and 2 share a sentence their English originals do not share, once
    # spelled with a decomposed accent and a trailing space.
    de = [pair("1", "Café ist gut.", "X.", "de"), pair("2", "Cafe\u0301 ist gut. ", "Y.", "de")]
    assert sentence_groups(en, de) == [["0", "3"], ["1", "2"]]
    assert sentence_groups(en) == [["0", "3"], ["1"], ["2"]]


def test_group_ids_follow_first_appearance_and_join_chains() -> None:
    keyed = [("a", ["x"]), ("b", ["y"]), ("c", ["z", "y"]), ("d", ["x", "z"]), ("e", ["w"])]
    assert group_ids(keyed) == [["a", "b", "c", "d"], ["e"]]


def test_questions_of_one_passage_are_one_group() -> None:
    qs = [
        QAExample("q1", "Who?", "Passage one.", (), "en"),
        QAExample("q2", "What?", "Passage two.", (), "en"),
        QAExample("q3", "When?", " Passage one.", (), "en"),
    ]
    assert passage_groups(qs) == [["q1", "q3"], ["q2"]]


# ---------------------------------------------------------------- the group split


@given(
    sizes=st.lists(st.integers(1, 5), min_size=3, max_size=120),
    train_fraction=st.sampled_from([0.0, 0.2, 0.5, 0.7]),
    dev_fraction=st.sampled_from([0.0, 0.1, 0.25]),
    seed=st.one_of(st.none(), st.integers(0, 2**32)),
)
def test_split_groups_parts_are_disjoint_whole_groups(
    sizes: list[int], train_fraction: float, dev_fraction: float, seed: int | None
) -> None:
    groups = [[f"{g}.{k}" for k in range(n)] for g, n in enumerate(sizes)]
    try:
        split = split_groups(groups, train_fraction, dev_fraction, seed)
    except ValueError as exc:
        assert "at least one left to evaluate" in str(exc)
        return
    parts = [split.train, split.dev, split.eval]
    assert sorted(i for p in parts for i in p) == sorted(i for g in groups for i in g)
    owner = {i: k for k, p in enumerate(parts) for i in p}
    for g in groups:
        assert len({owner[i] for i in g}) == 1  # no group is cut
    n = len(groups)
    assert split.groups["train"] == (max(round(train_fraction * n), 1) if train_fraction else 0)
    assert split.groups["dev"] == (max(round(dev_fraction * n), 1) if dev_fraction else 0)
    assert split.groups["eval"] >= 1
    assert split == split_groups(groups, train_fraction, dev_fraction, seed)


def test_split_groups_seed_shuffles_and_none_keeps_order() -> None:
    groups = [[str(i)] for i in range(20)]
    assert split_groups(groups, 0.5).train == [str(i) for i in range(10)]
    shuffled = split_groups(groups, 0.5, seed=0)
    assert shuffled.train != [str(i) for i in range(10)] and len(shuffled.train) == 10
    assert shuffled.train == sorted(shuffled.train, key=int)  # parts keep the given order


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (([["a"], ["b"]], 0.5, 0.5), "at least one left to evaluate"),
        (([["a"]], 0.5), "at least one left to evaluate"),
        (([["a"], ["b"]], 1.0), r"train_fraction must lie in \[0, 1\)"),
        (([["a"], ["b"]], 0.5, -0.1), r"dev_fraction must lie in \[0, 1\)"),
    ],
)
def test_split_groups_rejects_impossible_splits(args: tuple[Any, ...], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        split_groups(*args)


# ---------------------------------------------------------------- id alignment


def test_align_ids_reports_missing_ids_and_keeps_the_common_ones_in_order() -> None:
    en = ["3", "1", "2", "0", "4", "5", "6", "7", "8", "9"]
    alignment = align_ids({"en": en, "de": sorted(en)[:-1], "zh": en})
    assert alignment.common == en[:-1]
    assert alignment.missing == {"de": ["9"]}
    with pytest.raises(DataError, match=r"de lacks 1 of the 10 example ids .* more than 5%"):
        align_ids({"en": en, "de": en[:-1]}, max_missing=0.05)


def test_align_ids_refuses_repeated_ids_and_sets_that_are_not_one_set() -> None:
    with pytest.raises(DataError, match=r"de: 1 example id\(s\) repeat"):
        align_ids({"en": ["0", "1"], "de": ["0", "0"]})
    # Official PAWS-X ids are the release's (4, 6, 7, ...), XTREME-layout ids row numbers.
    with pytest.raises(DataError, match=r"en lacks 3 of the 13 example ids") as info:
        align_ids({"en": [str(i) for i in range(10)], "de": ["4", "6", "7", "11", "12", "15"]})
    assert "official-layout" in str(info.value)


# ---------------------------------------------------------------- load_task_data on files

# PAWS-X-like rows: pairs reuse source sentences, and a split by row index puts rows
# 0 and 7 (English), 1 and 6 (German only) on two sides. Row 9 is untranslated in German.
EN = [
    ("The cat sat on the mat.", "On the mat sat the cat.", 1),
    ("Anna met Ben in Paris.", "Ben met Anna in Paris.", 0),
    ("The river flows north.", "North flows the river.", 1),
    ("He sold the red car.", "The red car was sold by him.", 1),
    ("Rain fell all day.", "It rained the whole day.", 1),
    ("The shop opens at nine.", "At nine the shop opens.", 1),
    ("Anna and Ben met in Paris.", "In Paris, Anna met Ben.", 1),
    ("The cat sat on the mat.", "The mat sat on the cat.", 0),
    ("Tom plays the violin.", "The violin is played by Tom.", 1),
    ("The bridge was built in 1900.", "In 1900 the bridge was built.", 1),
]
DE = [
    ("Die Katze saß auf der Matte.", "Auf der Matte saß die Katze.", 1),
    ("Anna traf Ben in Paris.", "Ben traf Anna in Paris.", 0),
    ("Der Fluss fließt nach Norden.", "Nach Norden fließt der Fluss.", 1),
    ("Er verkaufte das rote Auto.", "Das rote Auto wurde von ihm verkauft.", 1),
    ("Es regnete den ganzen Tag.", "Regen fiel den ganzen Tag.", 1),
    ("Der Laden öffnet um neun.", "Um neun öffnet der Laden.", 1),
    ("Anna traf Ben in Paris.", "In Paris traf Anna Ben.", 1),
    ("Die Katze saß auf der Matte.", "Die Matte saß auf der Katze.", 0),
    ("Tom spielt Geige.", "Die Geige wird von Tom gespielt.", 1),
    ("NS", "NS", 1),
]


def write_pawsx(folder: Path, rows: dict[str, list[tuple[str, str, int]]], ids: list[str] | None = None) -> str:
    """XTREME layout, or the official layout (header, the release's ids) when ``ids``."""
    for lang, lines in rows.items():
        body = [f"{a}\t{b}\t{y}" for a, b, y in lines]
        if ids is not None:
            body = ["id\tsentence1\tsentence2\tlabel", *(f"{i}\t{line}" for i, line in zip(ids, body, strict=True))]
        (folder / f"dev-{lang}.tsv").write_text("\n".join(body) + "\n", encoding="utf-8")
    return str(folder / "dev-{lang}.tsv")


def assert_leak_free(data: TaskData, files: dict[str, list[PairExample]], *, held_in: bool = True) -> None:
    """No evaluated row, in any language, shares a sentence with a training or dev row
    or with any language's translation of one; every language is scored on the same ids.
    ``held_in``: the training rows come from ``files`` (else from a file of their own)."""
    used = {ex.id for ex in data.dev} | ({ex.id for ex in data.train} if held_in else set())
    evaluated = {ex.id for exs in data.eval.values() for ex in exs}
    assert not used & evaluated
    used_texts = texts([ex for exs in files.values() for ex in exs if ex.id in used]) | texts(data.train + data.dev)
    for exs in data.eval.values():
        assert not texts(exs) & used_texts
    assert len({tuple(ex.id for ex in exs) for exs in data.eval.values()}) == 1


def test_pawsx_split_keeps_shared_sentences_out_of_training_in_every_language(tmp_path: Path) -> None:
    template = write_pawsx(tmp_path, {"en": EN, "de": DE})
    data = load_task_data(config(task="pawsx", eval_data=template, eval_langs=("de",), train_fraction=0.5, dev_fraction=0.2))
    files = {lang: load_pawsx(template.format(lang=lang), lang) for lang in ("en", "de")}
    assert_leak_free(data, files)
    s = data.splits
    assert s["method"] == "sentence-groups" and s["pool"] == "held-in" and s["seed"] == 0
    # 10 rows make 8 groups: {0, 7}, {1, 6} (German only), and 6 single rows.
    assert s["groups"] == {"total": 8, "train": 4, "dev": 2, "eval": 2}
    where = {i: part for part in ("train", "dev") for i in s["ids"][part]} | {i: "eval" for i in s["ids"]["eval"]["en"]}
    assert where.get("0", "none") == where.get("7", "none") and where.get("1", "none") == where.get("6", "none")
    assert s["overlap"]["train"] == {"en": 0, "de": 0} and s["overlap"]["dev"] == {"en": 0, "de": 0}
    assert json.loads(json.dumps(s)) == s
    again = load_task_data(config(task="pawsx", eval_data=template, eval_langs=("de",), train_fraction=0.5, dev_fraction=0.2), with_train=False)
    assert again.splits["ids"]["eval"] == s["ids"]["eval"]


def test_official_ids_are_alignment_keys_not_row_numbers(tmp_path: Path) -> None:
    ids = ["4", "6", "7", "11", "12", "15", "18", "21", "40", "7995"]
    template = write_pawsx(tmp_path, {"en": EN, "de": DE}, ids=ids)
    data = load_task_data(config(task="pawsx", eval_data=template, eval_langs=("de",), train_fraction=0.5, dev_fraction=0.2))
    files = {lang: load_pawsx(template.format(lang=lang), lang) for lang in ("en", "de")}
    assert_leak_free(data, files)
    s = data.splits
    parts = s["ids"]["train"] + s["ids"]["dev"] + s["ids"]["eval"]["en"]
    # Every English id is in one part, except the one German lacks (its NS row).
    assert sorted(parts, key=int) == [i for i in ids if i != "7995"]
    # The split put 7995 in the evaluation part: reported, not scored in English alone.
    assert s["dropped"]["missing"] == {"de": 1} and s["dropped"]["not_common"] == {"en": 1, "de": 0}


def test_mixed_layouts_are_refused_not_misaligned(tmp_path: Path) -> None:
    write_pawsx(tmp_path, {"en": EN})
    official = tmp_path / "official"
    official.mkdir()
    write_pawsx(official, {"de": DE}, ids=["4", "6", "7", "11", "12", "15", "18", "21", "40", "7995"])
    (tmp_path / "dev-de.tsv").write_text((official / "dev-de.tsv").read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(DataError, match="lacks .* example ids"):
        load_task_data(config(task="pawsx", eval_data=str(tmp_path / "dev-{lang}.tsv"), eval_langs=("de",), train_fraction=0.5))


def test_every_language_is_scored_on_the_same_capped_ids(tmp_path: Path) -> None:
    template = write_pawsx(tmp_path, {"en": EN, "de": DE, "fr": EN})
    train = tmp_path / "train.tsv"
    train.write_text("Something else.\tAnother thing.\t0\nA third one.\tA fourth one.\t1\n", encoding="utf-8")
    full = load_task_data(config(task="pawsx", train_data=str(train), eval_data=template, eval_langs=("de", "fr"), dev_fraction=0.1))
    # German row 9 is NS: its id is evaluated in no language, and that is reported.
    assert {lang: len(exs) for lang, exs in full.eval.items()} == {"en": 8, "de": 8, "fr": 8}
    assert full.splits["dropped"]["missing"] == {"de": 1}
    assert full.splits["dropped"]["not_common"] == {"en": 1, "de": 0, "fr": 1}
    assert full.splits["dropped"]["load"]["eval"]["de"] == {"untranslated_skipped": 1}
    capped = load_task_data(
        config(task="pawsx", train_data=str(train), eval_data=template, eval_langs=("de", "fr"), dev_fraction=0.1, max_eval_examples=3)
    )
    ids = {lang: [ex.id for ex in exs] for lang, exs in capped.eval.items()}
    assert ids["en"] == ids["de"] == ids["fr"] == [ex.id for ex in full.eval["en"]][:3]
    assert capped.splits["dropped"]["max_eval_examples"] == {"dev": 0, "en": 5, "de": 5, "fr": 5}
    assert "9" not in ids["en"]


def test_dev_split_off_evaluation_files_is_evaluated_in_no_language(tmp_path: Path) -> None:
    """MultiNLI-style training file, XNLI-style evaluation files: the dev groups' English
    rows select the model and leave every language's evaluation set."""
    lines = [f"premise {i // 3}\thypothesis {i}\t{['entailment', 'neutral', 'contradiction'][i % 3]}" for i in range(30)]
    de = [line.replace("premise", "Prämisse").replace("hypothesis", "Hypothese") for line in lines]
    (tmp_path / "dev-en.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "dev-de.tsv").write_text("\n".join(de) + "\n", encoding="utf-8")
    train = tmp_path / "mnli.tsv"
    train.write_text("A man sleeps.\tA person rests.\tentailment\nA dog runs.\tA cat sleeps.\tcontradiction\n", encoding="utf-8")
    template = str(tmp_path / "dev-{lang}.tsv")
    data = load_task_data(config(task="xnli", train_data=str(train), eval_data=template, eval_langs=("de",), dev_fraction=0.2))
    files = {lang: load_xnli(template.format(lang=lang), lang) for lang in ("en", "de")}
    assert_leak_free(data, files, held_in=False)
    assert len(data.train) == 2 and len(data.dev) == 6  # 2 of 10 premises, 3 hypotheses each
    assert {ex.lang for ex in data.dev} == {"en"}
    assert {lang: len(exs) for lang, exs in data.eval.items()} == {"en": 24, "de": 24}
    assert data.splits["pool"] == "eval" and data.splits["groups"] == {"total": 10, "train": 0, "dev": 2, "eval": 8}
    # Evaluation alone (robust-xlt eval) scores the same ids.
    again = load_task_data(config(task="xnli", train_data=str(train), eval_data=template, eval_langs=("de",), dev_fraction=0.2), with_train=False)
    assert again.splits["ids"]["eval"] == data.splits["ids"]["eval"] and again.train == again.dev == []


def test_xtreme_layout_xnli_files_must_keep_premise_triples(tmp_path: Path) -> None:
    lines = [f"premise {i // 3}\thypothesis {i}\tneutral" for i in range(9)]
    lines[4] = "a stray premise\thypothesis 4\tneutral"
    for lang in ("en", "de"):
        (tmp_path / f"dev-{lang}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"rows 3-5 \(en\) do not share a premise"):
        load_task_data(config(task="xnli", eval_data=str(tmp_path / "dev-{lang}.tsv"), eval_langs=("de",), train_fraction=0.5))


def test_dev_data_is_the_dev_set_in_dev_lang_and_nothing_is_split_off(tmp_path: Path) -> None:
    template = write_pawsx(tmp_path, {"en": EN, "de": DE})
    train = tmp_path / "train.tsv"
    train.write_text("Something else.\tAnother thing.\t0\n", encoding="utf-8")
    dev = tmp_path / "tune-de.tsv"
    dev.write_text("Etwas anderes.\tNoch etwas.\t1\n", encoding="utf-8")
    data = load_task_data(
        config(task="pawsx", train_data=str(train), dev_data=str(tmp_path / "tune-{lang}.tsv"), dev_lang="de", eval_data=template, eval_langs=("de",))
    )
    assert [ex.lang for ex in data.dev] == ["de"] and data.describe["dev"] == str(dev)
    assert data.splits["pool"] is None and data.splits["dev_lang"] == "de"
    assert len(data.eval["en"]) == 9  # all ids German holds, none kept back for dev


def test_dev_settings_that_cannot_work_are_refused(tmp_path: Path) -> None:
    template = write_pawsx(tmp_path, {"en": EN, "de": DE})
    with pytest.raises(ConfigError, match="dev_fraction 0 leaves no dev set"):
        load_task_data(config(task="pawsx", eval_data=template, train_fraction=0.5, dev_fraction=0.0))
    with pytest.raises(ConfigError, match="dev_lang 'de' needs --dev-data"):
        load_task_data(config(task="pawsx", eval_data=template, train_fraction=0.5, dev_lang="de"))


def test_qa_held_out_questions_never_share_a_passage_with_training(tmp_path: Path) -> None:
    paragraphs = [
        {
            "context": f"Passage {p} is about topic {p}.",
            "qas": [
                {"id": f"p{p}q{q}", "question": f"Question {q} on {p}?", "answers": [{"text": f"topic {p}", "answer_start": len(f"Passage {p} is about ")}]}
                for q in range(1 + p % 3)
            ],
        }
        for p in range(20)
    ]
    doc = {"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]}
    (tmp_path / "qa-en.json").write_text(json.dumps(doc), encoding="utf-8")
    (tmp_path / "qa-sw.json").write_text(json.dumps(doc), encoding="utf-8")
    data = load_task_data(config(task="qa", eval_data=str(tmp_path / "qa-{lang}.json"), eval_langs=("sw",), train_fraction=0.5))
    train, dev, held = (texts(part) for part in (data.train, data.dev, data.eval["en"]))
    assert not train & dev and not train & held and not dev & held
    assert len(train) == 10 and len(dev) == 2 and len(held) == 8  # passages
    assert len(data.eval["sw"]) == sum(1 + p % 3 for p in range(20))  # other languages untouched
    assert data.splits["method"] == "passage-groups"


# ---------------------------------------------------------------- real shared data


@pytest.fixture(scope="module")
def shared(shared_data: Any) -> Path:
    """The task archives of the shared data ($ROBUST_XLT_DATA or ../shared/data), unpacked once."""
    roots = {shared_data.require(name).parent for name in ('pawsx', 'xnli')}
    assert len(roots) == 1, roots
    return roots.pop()


@pytest.mark.shared_data
def test_shared_pawsx_split_leaks_no_sentence_in_any_language(shared: Path) -> None:
    template = str(shared / "pawsx" / "xtreme" / "dev-{lang}.tsv")
    data = load_task_data(config(task="pawsx", eval_data=template, train_fraction=0.5, dev_fraction=0.1))
    langs = ("en", "de", "es", "fr", "ja", "ko", "zh")
    files = {lang: load_pawsx(template.format(lang=lang), lang) for lang in langs}
    assert_leak_free(data, files)
    s = data.splits
    assert s["groups"]["total"] > 1100  # 2000 rows, 1143 groups
    assert s["counts"]["eval"]["en"] > 700 and set(s["counts"]["eval"]) == set(langs)
    assert s["dropped"]["load"]["eval"]["de"] == {"untranslated_skipped": 68}


@pytest.mark.shared_data
def test_shared_xnli_split_keeps_premises_whole(shared: Path) -> None:
    template = str(shared / "xnli" / "dev-{lang}.tsv")
    data = load_task_data(config(task="xnli", eval_data=template, eval_langs=("de", "sw"), train_fraction=0.5))
    files = {lang: load_xnli(template.format(lang=lang), lang) for lang in ("en", "de", "sw")}
    assert_leak_free(data, files)
    premises = [{ex.text_a for ex in part if isinstance(ex, PairExample)} for part in (data.train, data.dev, data.eval["en"])]
    assert not premises[0] & premises[1] and not premises[0] & premises[2] and not premises[1] & premises[2]
    assert data.splits["counts"]["eval"] == {"en": 996, "de": 996, "sw": 996}
