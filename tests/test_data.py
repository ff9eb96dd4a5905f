"""Task data loaders, load reports, hub row mapping and file checks (the splits
themselves are tested in test_splits.py).

Fixtures are written here, in every format; the tests marked shared_data read the
real benchmark files from ../shared/data and skip when it is absent.
"""

from __future__ import annotations

import json
import logging
import sys
import types
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import pytest

from robust_xlt.data import (
    PAWSX_LABELS,
    SAMPLE_LANGS,
    TASKS,
    XNLI_LABELS,
    Answer,
    DataError,
    LoadReport,
    PairExample,
    QAExample,
    check_premise_groups,
    check_row_counts,
    load_hub,
    load_pawsx,
    load_squad,
    load_task_file,
    load_xnli,
    sample_path,
    sentence_groups,
    split_groups,
)
from robust_xlt.data.hub import examples_from_rows
from robust_xlt.data.squad import locate_answer



def write(tmp_path: Path, name: str, text: str, newline: str = "\n") -> Path:
    """Write ``text`` with exact line endings (no platform translation)."""
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def write_json(tmp_path: Path, name: str, doc: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def squad_doc(
    *qas: dict[str, Any], context: str = "Nairobi is the capital of Kenya."
) -> dict[str, Any]:
    return {
        "version": "1.1",
        "data": [{"title": "t", "paragraphs": [{"context": context, "qas": list(qas)}]}],
    }


def qa(qid: str, question: str, *answers: tuple[str, int]) -> dict[str, Any]:
    return {
        "id": qid,
        "question": question,
        "answers": [{"text": t, "answer_start": s} for t, s in answers],
    }


# ---------------------------------------------------------------- PAWS-X

OFFICIAL_PAWSX = (
    "id\tsentence1\tsentence2\tlabel\n"
    "4\tDer Hund schläft.\tDer Hund ruht.\t1\n"
    "6\tA ist B.\tB ist A.\t0\n"
)


def test_pawsx_official_layout_is_detected_and_keeps_ids(tmp_path: Path) -> None:
    path = write(tmp_path, "dev_2k.tsv", OFFICIAL_PAWSX)
    examples = load_pawsx(path, "de")
    assert examples == [
        PairExample("4", "Der Hund schläft.", "Der Hund ruht.", 1, "de"),
        PairExample("6", "A ist B.", "B ist A.", 0, "de"),
    ]


def test_pawsx_xtreme_layout_with_crlf_uses_row_indices(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "dev-en.tsv",
        "A dog sleeps .\tA dog rests .\t1\nA is B .\tB is A .\t0\n",
        newline="\r\n",
    )
    examples = load_pawsx(path, "en")
    assert [(e.id, e.text_a, e.text_b, e.label) for e in examples] == [
        ("0", "A dog sleeps .", "A dog rests .", 1),
        ("1", "A is B .", "B is A .", 0),
    ]
    assert all(not e.text_b.endswith("\r") for e in examples)


def test_pawsx_labels_constant() -> None:
    assert PAWSX_LABELS == ("0", "1")


def test_pawsx_xtreme_csv_quoted_fields_are_restored_and_counted(tmp_path: Path) -> None:
    # How the XTREME files write a field containing quotes; the official file has the raw text.
    row = '"Die ""IPA"" hat Symbole."\tDas „IPA“ hat Zeichen.\t1\n'
    path = write(tmp_path, "dev-de.tsv", row + '"Er sagt "hallo" laut."\tEr ruft.\t0\n')
    report = LoadReport()
    examples = load_pawsx(path, "de", report=report)
    assert examples[0].text_a == 'Die "IPA" hat Symbole.'
    # Not CSV quoting (an undoubled inner quote): left exactly as written.
    assert examples[1].text_a == '"Er sagt "hallo" laut."'
    assert report.counts["csv_unquoted"] == 1
    assert load_pawsx(path, "de", unquote=False)[0].text_a == '"Die ""IPA"" hat Symbole."'


def test_pawsx_official_layout_is_not_unquoted_by_default(tmp_path: Path) -> None:
    path = write(
        tmp_path, "dev_2k.tsv", 'id\tsentence1\tsentence2\tlabel\n1\t"Quoted."\tPlain.\t0\n'
    )
    assert load_pawsx(path, "de")[0].text_a == '"Quoted."'


def test_pawsx_untranslated_rows_are_skipped_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = "id\tsentence1\tsentence2\tlabel\n1\tEins.\tNS\t0\n2\tZwei.\tZwo.\t1\n3\tNS\tNS\t0\n"
    path = write(tmp_path, "dev_2k.tsv", text)
    report = LoadReport()
    with caplog.at_level(logging.INFO, logger="robust_xlt.data"):
        examples = load_pawsx(path, "de", report=report)
    assert [e.id for e in examples] == ["2"]
    assert report.counts["read"] == 3 and report.counts["kept"] == 1
    assert report.counts["untranslated_skipped"] == 2
    assert report.samples["untranslated_skipped"] == [
        "line 2: sentence2 is 'NS'",
        "line 4: sentence1 and sentence2 are 'NS'",
    ]
    warning = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and "untranslated_skipped 2" in warning[0].getMessage()
    assert str(path) in warning[0].getMessage()


def test_pawsx_untranslated_rows_can_be_kept(tmp_path: Path) -> None:
    path = write(tmp_path, "dev-de.tsv", "Eins.\tNS\t0\nZwei.\tZwo.\t1\n")
    report = LoadReport()
    examples = load_pawsx(path, "de", keep_untranslated=True, report=report)
    assert [e.text_b for e in examples] == ["NS", "Zwo."]
    assert report.counts["untranslated_kept"] == 1 and not report.has_issues()


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        (
            "a\tb\t1\nonly two\tcolumns\n",
            "line 2",
            "expected 3 tab-separated columns (xtreme layout), found 2",
        ),
        ("a\tb\t1\na\tb\t2\n", "line 2", "unknown label '2'; allowed labels: '0', '1'"),
        ("a\tb\t1\na\tb\tyes\n", "line 2", "unknown label 'yes'"),
        ("a\tb\t1\n\na\tb\t0\n", "line 2", "blank line"),
        ("a\t \t1\n", "line 1", "empty sentence2"),
        ("1\ta\tb\t1\n", "line 1", "expected the official header"),
        ("id\ts1\ts2\tlabel\n1\ta\tb\t1\n", "line 1", "expected the official header"),
        ("id\tsentence1\tsentence2\tlabel\n", None, "header only, no data rows"),
        (
            "id\tsentence1\tsentence2\tlabel\n7\ta\tb\t1\n7\tc\td\t0\n",
            "line 3",
            "repeats the id of line 2",
        ),
        ("id\tsentence1\tsentence2\tlabel\n\ta\tb\t1\n", "line 2", "empty id"),
    ],
)
def test_pawsx_bad_input_names_file_line_and_value(
    tmp_path: Path, text: str, where: str | None, fragment: str
) -> None:
    path = write(tmp_path, "bad.tsv", text)
    with pytest.raises(DataError) as info:
        load_pawsx(path, "de")
    message = str(info.value)
    assert str(path) in message and fragment in message
    if where is not None:
        assert f"{path}: {where}: " in message
    assert info.value.path == str(path) and info.value.where == where


def test_pawsx_wrong_header_for_requested_official_layout(tmp_path: Path) -> None:
    path = write(tmp_path, "dev.tsv", "a\tb\t1\n")
    with pytest.raises(DataError, match=r"line 1: wrong header 'a\\tb\\t1'"):
        load_pawsx(path, "de", layout="official")


@pytest.mark.parametrize("text", ["", "\n\n", "   \r\n"])
def test_empty_files_are_errors(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "empty.tsv", text)
    for load in (load_pawsx, load_xnli):
        with pytest.raises(DataError, match=f"{path}: empty file"):
            load(path, "en")


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.tsv"
    path.write_bytes(b"a\tb\t1\n" + "café\tb\t0\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"line 2: not valid UTF-8"):
        load_pawsx(path, "fr")


def test_missing_files_raise_file_not_found(tmp_path: Path) -> None:
    for task in TASKS:
        with pytest.raises(FileNotFoundError, match="nope"):
            load_task_file(task, tmp_path / "nope", "en")


def test_bad_arguments_are_value_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "dev.tsv", "a\tb\t1\n")
    with pytest.raises(ValueError, match="unknown PAWS-X layout 'csv'"):
        load_pawsx(path, "en", layout="csv")
    with pytest.raises(ValueError, match="non-empty language code"):
        load_pawsx(path, "")
    with pytest.raises(ValueError, match="unknown task 'ner'; known tasks: pawsx, xnli, qa"):
        load_task_file("ner", path, "en")


# ---------------------------------------------------------------- XNLI

OFFICIAL_XNLI_HEADER = (
    "language\tgold_label\tsentence1_binary_parse\tsentence1\tsentence2\tpromptID\tpairID\n"
)


def test_xnli_xtreme_layout(tmp_path: Path) -> None:
    text = (
        "He came home.\tHe left.\tcontradiction\n"
        "He came home.\tHe is home.\tentailment\n"
        "He came home.\tIt rained.\tneutral\n"
    )
    path = write(tmp_path, "dev-en.tsv", text, newline="\r\n")
    examples = load_xnli(path, "en")
    assert [e.label for e in examples] == [2, 0, 1]
    assert [e.id for e in examples] == ["0", "1", "2"]
    assert XNLI_LABELS == ("entailment", "neutral", "contradiction")


def test_xnli_official_layout_filters_language_and_counts_others(tmp_path: Path) -> None:
    rows = [
        "en\tneutral\t( x )\tThe cat sat.\tIt was tired.\t1\t11",
        "sw\tneutral\t( x )\tPaka alikaa.\tAlikuwa amechoka.\t1\t11",
        "sw\tentailment\t( x )\tPaka alikaa.\tPaka yupo.\t1\t12",
    ]
    path = write(tmp_path, "xnli.dev.tsv", OFFICIAL_XNLI_HEADER + "\n".join(rows) + "\n")
    report = LoadReport()
    examples = load_xnli(path, "sw", report=report)
    assert examples == [
        PairExample("11", "Paka alikaa.", "Alikuwa amechoka.", 1, "sw"),
        PairExample("12", "Paka alikaa.", "Paka yupo.", 0, "sw"),
    ]
    assert report.counts["other_language"] == 1 and report.counts["kept"] == 2


def test_xnli_official_layout_errors(tmp_path: Path) -> None:
    good = OFFICIAL_XNLI_HEADER + "en\tneutral\tp\tA.\tB.\t1\t2\n"
    path = write(tmp_path, "xnli.test.tsv", good)
    with pytest.raises(DataError, match=r"no rows for language 'ur'; the file has en"):
        load_xnli(path, "ur")
    path = write(tmp_path, "cols.tsv", "language\tsentence1\tsentence2\nen\tA.\tB.\n")
    with pytest.raises(DataError, match=r"cols.tsv: line 1: header lacks column\(s\) gold_label"):
        load_xnli(path, "en")
    path = write(tmp_path, "short.tsv", good + "en\tneutral\tA.\tB.\n")
    with pytest.raises(DataError, match=r"short.tsv: line 3: expected 7 tab-separated columns"):
        load_xnli(path, "en")


def test_xnli_unknown_label_names_value_and_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "dev-fr.tsv", "A.\tB.\tneutral\nA.\tC.\tentails\n")
    with pytest.raises(DataError) as info:
        load_xnli(path, "fr")
    assert str(info.value) == (
        f"{path}: line 2: unknown label 'entails'; "
        "allowed labels: 'entailment', 'neutral', 'contradiction'"
    )


def test_xnli_train_header_and_contradictory_alias(tmp_path: Path) -> None:
    path = write(
        tmp_path, "train.tsv", "premise\thypo\tlabel\nA.\tB.\tcontradictory\nA.\tC.\tneutral\n"
    )
    report = LoadReport()
    examples = load_xnli(path, "en", report=report)
    assert [e.label for e in examples] == [2, 1]
    assert report.counts["label_alias"] == 1 and report.samples["label_alias"] == [
        "line 2: 'contradictory'"
    ]


def test_xnli_unrecognised_first_line(tmp_path: Path) -> None:
    path = write(tmp_path, "x.tsv", "a\tb\n")
    with pytest.raises(DataError, match=r"x.tsv: line 1: not an XNLI file"):
        load_xnli(path, "en")


# ---------------------------------------------------------------- SQuAD-format QA


def test_squad_loads_questions_with_code_point_offsets(tmp_path: Path) -> None:
    # Characters outside the BMP before the answer: UTF-16 or byte offsets would differ.
    context = "𠀀𠀁 Dar es Salaam ni jiji 🌍 kubwa."
    doc = squad_doc(qa("q1", "Jiji gani?", ("Dar es Salaam", 3), ("Dar", 3)), context=context)
    examples = load_squad(write_json(tmp_path, "sw.json", doc), "sw")
    assert examples == [
        QAExample("q1", "Jiji gani?", context, (Answer("Dar es Salaam", 3), Answer("Dar", 3)), "sw")
    ]


def test_squad_repairs_to_the_nearest_occurrence_and_counts(tmp_path: Path) -> None:
    context = "Kenya borders Kenya Airways. The Kenya shilling."
    doc = squad_doc(qa("q1", "Which?", ("Kenya", 17)), context=context)  # true spans at 0, 14, 33
    report = LoadReport()
    [example] = load_squad(write_json(tmp_path, "a.json", doc), "en", report=report)
    assert example.answers == (Answer("Kenya", 14),)
    assert report.counts["answer_repaired"] == 1
    assert report.samples["answer_repaired"] == [
        "data[0].paragraphs[0].qas[0].answers[0]: 'Kenya' answer_start 17 -> 14"
    ]


def test_squad_drops_answers_outside_the_window_and_empty_questions(tmp_path: Path) -> None:
    context = "x" * 200 + " Mombasa"
    doc = squad_doc(
        qa(
            "keep", "Q?", ("Mombasa", 150), ("Mombasa", 201)
        ),  # first repaired (51 away), second exact
        qa("lost", "Q?", ("Mombasa", 10)),  # 191 away: dropped, question dropped
        qa("none", "Q?"),  # no answers at all
        qa("blank", "Q?", ("  ", 0)),
        context=context,
    )
    report = LoadReport()
    examples = load_squad(
        write_json(tmp_path, "b.json", doc), "en", repair_window=60, report=report
    )
    assert [e.id for e in examples] == ["keep"]
    assert examples[0].answers == (Answer("Mombasa", 201), Answer("Mombasa", 201))
    assert report.counts["answer_repaired"] == 1
    assert report.counts["answer_dropped"] == 2
    assert report.counts["question_dropped"] == 3
    assert report.counts["read"] == 4 and report.counts["kept"] == 1
    dropped = report.samples["question_dropped"]
    assert dropped[0] == "data[0].paragraphs[0].qas[1]: id 'lost': no usable answer left"
    assert dropped[1] == "data[0].paragraphs[0].qas[2]: id 'none': no answers given"
    # With the default window the 51-away answer is dropped instead.
    strict = LoadReport()
    load_squad(write_json(tmp_path, "b.json", doc), "en", repair_window=50, report=strict)
    assert strict.counts["answer_repaired"] == 0 and strict.counts["answer_dropped"] == 3


def test_squad_duplicate_ids_are_renamed_and_counted(tmp_path: Path) -> None:
    doc = squad_doc(
        qa("0", "A?", ("Nairobi", 0)), qa("1", "B?", ("Kenya", 26)), qa("0", "C?", ("capital", 15))
    )
    report = LoadReport()
    examples = load_squad(write_json(tmp_path, "c.json", doc), "en", report=report)
    assert [e.id for e in examples] == ["0@0", "1", "0@2"]
    assert report.counts["id_renamed"] == 2


def test_squad_report_summary_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_json(tmp_path, "d.json", squad_doc(qa("q", "A?", ("Nairobi", 0))))
    with caplog.at_level(logging.INFO, logger="robust_xlt.data"):
        load_squad(path, "en")
    assert [r.getMessage() for r in caplog.records] == [f"{path} [en]: read 1, kept 1"]


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"version": "1"}, "top level: missing key 'data'"),
        ([], "top level: expected a JSON object, found an array"),
        ({"data": [{"paragraphs": [{"qas": []}]}]}, "data[0].paragraphs[0]: missing key 'context'"),
        (
            squad_doc(qa("a", "Q?", ("Nairobi", 0)), {"id": "b", "question": "Q?"}),
            "data[0].paragraphs[0].qas[1]: missing key 'answers'",
        ),
        (
            squad_doc(
                {"id": "a", "question": "Q?", "answers": [{"text": "Nairobi", "answer_start": "0"}]}
            ),
            "data[0].paragraphs[0].qas[0].answers[0]: "
            "'answer_start' must be an integer, found a string '0'",
        ),
        (
            squad_doc(
                {"id": "a", "question": "Q?", "answers": [{"text": "N", "answer_start": True}]}
            ),
            "'answer_start' must be an integer, found a boolean",
        ),
        ({"data": [{"paragraphs": {}}]}, "data[0]: 'paragraphs' must be an array, found an object"),
    ],
)
def test_squad_structure_errors_name_the_json_path(tmp_path: Path, doc: Any, fragment: str) -> None:
    path = write_json(tmp_path, "bad.json", doc)
    with pytest.raises(DataError) as info:
        load_squad(path, "en")
    assert str(info.value).startswith(f"{path}: ") and fragment in str(info.value)


def test_squad_invalid_json_and_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", '{"data": [\n  {"paragraphs": ]\n}')
    with pytest.raises(DataError, match=r"broken.json: line 2 column 18: invalid JSON"):
        load_squad(path, "en")
    with pytest.raises(DataError, match="empty file"):
        load_squad(write(tmp_path, "e.json", " \n"), "en")


@pytest.mark.parametrize(
    ("start", "expected"),
    [(4, 4), (0, 4), (6, 4), (10, 12), (-3, 4), (500, None)],
)
def test_locate_answer(start: int, expected: int | None) -> None:
    # "ab" occurs at 4 and 12; ties (8) go to the earlier one.
    assert locate_answer("xxxxabxxxxxxabxx", "ab", start, window=8) == expected
    assert locate_answer("xxxxabxxxxxxabxx", "ab", 8, window=8) == 4


# ---------------------------------------------------------------- dispatch


def test_load_task_file_dispatches_by_task(tmp_path: Path) -> None:
    pawsx = write(tmp_path, "p.tsv", "a\tb\t1\n")
    xnli = write(tmp_path, "x.tsv", "a\tb\tneutral\n")
    squad = write_json(tmp_path, "q.json", squad_doc(qa("q", "A?", ("Nairobi", 0))))
    assert load_task_file("pawsx", pawsx, "en")[0] == PairExample("0", "a", "b", 1, "en")
    assert load_task_file("xnli", xnli, "en")[0] == PairExample("0", "a", "b", 1, "en")
    report = LoadReport()
    [example] = load_task_file("qa", squad, "sw", report=report)
    assert isinstance(example, QAExample) and example.lang == "sw" and report.counts["kept"] == 1


# ---------------------------------------------------------------- hub rows (no download)


def test_hub_xtreme_pawsx_rows_with_string_labels() -> None:
    rows = [
        {"sentence1": "a", "sentence2": "b", "label": "1"},
        {"sentence1": "NS", "sentence2": "b", "label": "0"},
    ]
    report = LoadReport()
    examples = examples_from_rows(
        rows, task="pawsx", lang="de", source="google/xtreme/PAWS-X.de", report=report
    )
    assert examples == [PairExample("0", "a", "b", 1, "de")]
    assert report.counts["untranslated_skipped"] == 1


def test_hub_rows_after_a_skipped_ns_row_keep_their_row_ids() -> None:
    """Rows without ids are named by position, skipped NS rows counted, so German row 2
    stays the translation of English row 2."""
    rows = [
        {"sentence1": "a", "sentence2": "b", "label": "1"},
        {"sentence1": "NS", "sentence2": "b", "label": "0"},
        {"sentence1": "c", "sentence2": "d", "label": "0"},
    ]
    examples = examples_from_rows(rows, task="pawsx", lang="de", source="google/xtreme/PAWS-X.de")
    assert [e.id for e in examples] == ["0", "2"]


def test_hub_xtreme_xnli_rows_are_filtered_by_language() -> None:
    rows = [
        {"language": "en", "sentence1": "p", "sentence2": "h", "gold_label": "neutral"},
        {"language": "sw", "sentence1": "p", "sentence2": "h1", "gold_label": "contradiction"},
        {"language": "sw", "sentence1": "p", "sentence2": "h2", "gold_label": "entailment"},
    ]
    report = LoadReport()
    examples = examples_from_rows(
        rows, task="xnli", lang="sw", source="google/xtreme/XNLI", report=report
    )
    assert [(e.id, e.text_b, e.label) for e in examples] == [("0", "h1", 2), ("1", "h2", 0)]
    assert report.counts["other_language"] == 1


def test_hub_class_label_integers_map_through_names() -> None:
    # facebook/xnli: premise/hypothesis, ClassLabel; a reordered ClassLabel still maps by name.
    rows = [
        {"premise": "p", "hypothesis": "h", "label": 0},
        {"premise": "p", "hypothesis": "g", "label": 2},
    ]
    examples = examples_from_rows(
        rows,
        task="xnli",
        lang="fr",
        source="xnli/fr",
        label_names=["contradiction", "neutral", "entailment"],
    )
    assert [e.label for e in examples] == [2, 0]
    # google-research-datasets/paws-x: integer ids and ClassLabel names "0"/"1".
    paws = [{"id": 17, "sentence1": "a", "sentence2": "b", "label": 1}]
    assert (
        examples_from_rows(
            paws, task="pawsx", lang="ja", source="paws-x/ja", label_names=["0", "1"]
        )[0].id
        == "17"
    )


def test_hub_bad_rows_name_source_and_row() -> None:
    with pytest.raises(DataError, match=r"xnli/en\[test\]: row 0: unlabelled row \(label -1\)"):
        examples_from_rows(
            [{"premise": "p", "hypothesis": "h", "label": -1}],
            task="xnli",
            lang="en",
            source="xnli/en[test]",
        )
    with pytest.raises(
        DataError, match=r"s: row 0: row has none of the fields sentence2, hypothesis"
    ):
        examples_from_rows([{"sentence1": "a", "label": "0"}], task="pawsx", lang="en", source="s")
    with pytest.raises(DataError, match=r"unknown label 'maybe'"):
        examples_from_rows(
            [{"premise": "p", "hypothesis": "h", "label": "maybe"}],
            task="xnli",
            lang="en",
            source="s",
        )
    with pytest.raises(ValueError, match="unknown task 'pos'"):
        examples_from_rows([], task="pos", lang="en", source="s")


class _FakeSplit(list):  # type: ignore[type-arg]
    """Stands in for datasets.Dataset: iterable rows plus .features."""

    features: ClassVar[dict[str, Any]] = {}


def _fake_datasets(rows: list[dict[str, Any]], calls: list[tuple[Any, ...]]) -> types.ModuleType:
    module = types.ModuleType("datasets")

    def load_dataset(dataset_id: str, config: str | None, split: str) -> _FakeSplit:
        calls.append((dataset_id, config, split))
        return _FakeSplit(rows)

    module.load_dataset = load_dataset  # type: ignore[attr-defined]
    return module


def test_load_hub_tydiqa_keeps_one_language_by_id_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"text": ["Nairobi"], "answer_start": [0]}
    rows = [
        {"id": "swahili-1-0", "question": "Q?", "context": "Nairobi ni mji.", "answers": answers},
        {"id": "finnish-2-0", "question": "Q?", "context": "Nairobi on.", "answers": answers},
    ]
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setitem(sys.modules, "datasets", _fake_datasets(rows, calls))
    report = LoadReport()
    examples = load_hub("google/xtreme", "tydiqa", "validation", "qa", "sw", report=report)
    assert calls == [("google/xtreme", "tydiqa", "validation")]
    assert [(e.id, e.answers) for e in examples] == [("swahili-1-0", (Answer("Nairobi", 0),))]
    assert (
        report.counts["other_language"] == 1 and report.source == "google/xtreme/tydiqa[validation]"
    )
    with pytest.raises(ValueError, match="TyDiQA-GoldP has no language 'de'"):
        load_hub("google/xtreme", "tydiqa", "validation", "qa", "de")


def test_load_hub_without_datasets_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(ImportError, match=r"robust-xlt\[hub\]"):
        load_hub("google/xtreme", "PAWS-X.de", "validation", "pawsx", "de")


# ---------------------------------------------------------------- splits


def test_check_row_counts_names_the_file_that_disagrees(tmp_path: Path) -> None:
    paths = [
        write(tmp_path, f"dev-{lang}.tsv", "a\tb\t1\n" * n)
        for lang, n in (("en", 4), ("de", 4), ("sw", 3))
    ]
    assert check_row_counts(paths[:2]) == 4
    with pytest.raises(DataError) as info:
        check_row_counts(paths)
    assert info.value.path == str(paths[2])
    assert f"{paths[2]} has 3 rows" in str(info.value) and "have 4 rows" in str(info.value)
    assert check_row_counts([write(tmp_path, "h.tsv", "id\tx\n1\t2\n")], header=True) == 1


def test_check_premise_groups() -> None:
    good = [PairExample(str(i), f"p{i // 3}", f"h{i}", i % 3, "en") for i in range(6)]
    check_premise_groups(good)
    bad = [*good[:4], PairExample("4", "other", "h", 0, "en"), good[5]]
    with pytest.raises(DataError, match=r"rows 3-5 \(en\) do not share a premise: example '4'"):
        check_premise_groups(bad)
    with pytest.raises(DataError, match="not whole groups of 3"):
        check_premise_groups(good[:5])


# ---------------------------------------------------------------- real shared data

PAWSX_LANGS = ("de", "en", "es", "fr", "ja", "ko", "zh")
XNLI_LANGS = (
    "ar",
    "bg",
    "de",
    "el",
    "en",
    "es",
    "fr",
    "hi",
    "ru",
    "sw",
    "th",
    "tr",
    "ur",
    "vi",
    "zh",
)


@pytest.fixture(scope="module")
def shared(shared_data: Any) -> Path:
    """The task archives of the shared data ($ROBUST_XLT_DATA or ../shared/data), unpacked once."""
    roots = {shared_data.require(name).parent for name in ('pawsx', 'xnli', 'tydiqa-goldp')}
    assert len(roots) == 1, roots
    return roots.pop()


@pytest.mark.shared_data
def test_shared_pawsx_xtreme_files(shared: Path) -> None:
    paths = [shared / "pawsx" / "xtreme" / f"dev-{lang}.tsv" for lang in PAWSX_LANGS]
    assert check_row_counts(paths) == 2000
    skipped = {}
    for lang, path in zip(PAWSX_LANGS, paths, strict=True):
        report = LoadReport()
        examples = load_pawsx(path, lang, report=report)
        assert report.counts["read"] == 2000
        assert len(examples) + report.counts["untranslated_skipped"] == 2000
        skipped[lang] = report.counts["untranslated_skipped"]
        assert len(load_pawsx(path, lang, keep_untranslated=True)) == 2000
    assert skipped == {"de": 68, "en": 0, "es": 38, "fr": 8, "ja": 20, "ko": 35, "zh": 16}


@pytest.mark.shared_data
@pytest.mark.parametrize("lang", ["de", "ko", "zh"])
def test_shared_pawsx_official_matches_xtreme_after_unquoting(shared: Path, lang: str) -> None:
    official = load_pawsx(
        shared / "pawsx" / "official" / lang / "dev_2k.tsv", lang, keep_untranslated=True
    )
    xtreme = load_pawsx(
        shared / "pawsx" / "xtreme" / f"dev-{lang}.tsv", lang, keep_untranslated=True
    )
    assert len(official) == len(xtreme) == 2000
    assert [(e.text_a, e.text_b, e.label) for e in official] == [
        (e.text_a, e.text_b, e.label) for e in xtreme
    ]


@pytest.mark.shared_data
def test_shared_xnli_files(shared: Path) -> None:
    paths = [shared / "xnli" / f"dev-{lang}.tsv" for lang in XNLI_LANGS]
    assert check_row_counts(paths) == 2490
    for lang, path in zip(XNLI_LANGS, paths, strict=True):
        examples = load_xnli(path, lang)
        assert len(examples) == 2490
        assert Counter(e.label for e in examples) == {0: 830, 1: 830, 2: 830}
        check_premise_groups(examples)  # consecutive triples share a premise


@pytest.mark.shared_data
def test_shared_xnli_groups_are_premises(shared: Path) -> None:
    files = [load_xnli(shared / "xnli" / f"dev-{lang}.tsv", lang) for lang in XNLI_LANGS]
    groups = sentence_groups(*files)
    # 830 premises x 3; two premises share a hypothesis, in some language, and join.
    assert len(groups) == 829 and sorted({len(g) for g in groups}) == [3, 6]
    split = split_groups(groups, 0.5, 0.1, seed=0)
    en = files[XNLI_LANGS.index("en")]
    premise = {e.id: e.text_a for e in en}
    train, held = {premise[i] for i in split.train}, {premise[i] for i in split.dev + split.eval}
    assert not train & held


@pytest.mark.shared_data
@pytest.mark.parametrize(("lang", "questions"), [("en", 3696), ("ko", 1625), ("sw", 2755)])
def test_shared_tydiqa_files(shared: Path, lang: str, questions: int) -> None:
    report = LoadReport()
    examples = load_squad(
        shared / "tydiqa-goldp" / f"tydiqa.goldp.{lang}.train.json", lang, report=report
    )
    assert report.counts["read"] == questions
    # Every answer in the shared files is where answer_start says: nothing repaired or dropped.
    assert len(examples) == questions
    assert report.counts["answer_repaired"] == report.counts["answer_dropped"] == 0
    assert len({e.id for e in examples}) == questions  # ids made unique
    for ex in examples:
        for answer in ex.answers:
            assert ex.context[answer.start : answer.start + len(answer.text)] == answer.text


# ---------------------------------------------------------------- smoke sample


@pytest.mark.parametrize("task", TASKS)
def test_smoke_sample_loads_for_every_task_split_and_language(task: str) -> None:
    train = load_task_file(task, sample_path(task, "train", "en"), "en")
    assert 24 <= len(train) <= 40
    dev_ids = {}
    for lang in SAMPLE_LANGS:
        report = LoadReport()
        dev = load_task_file(task, sample_path(task, "dev", lang), lang, report=report)
        assert 8 <= len(dev) <= 12 and all(e.lang == lang for e in dev)
        assert not report.has_issues()
        dev_ids[lang] = [e.id for e in dev]
    # Dev files are translations of each other: the same ids in every language.
    assert all(ids == dev_ids["en"] for ids in dev_ids.values())
    assert "sw" in SAMPLE_LANGS


def test_smoke_sample_labels_are_balanced() -> None:
    pawsx = load_pawsx(sample_path("pawsx", "train", "en"), "en")
    assert Counter(e.label for e in pawsx) == {0: 15, 1: 15}
    xnli = load_xnli(sample_path("xnli", "train", "en"), "en")
    assert Counter(e.label for e in xnli) == {0: 10, 1: 10, 2: 10}
    check_premise_groups(xnli)


def test_sample_path_rejects_what_the_sample_lacks() -> None:
    with pytest.raises(ValueError, match="train split has no language 'sw'; it has en"):
        sample_path("qa", "train", "sw")
    with pytest.raises(ValueError, match="no split 'test'"):
        sample_path("qa", "test", "en")
    with pytest.raises(ValueError, match="unknown task 'ner'"):
        sample_path("ner", "dev", "en")
