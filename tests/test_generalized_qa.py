"""`robust-xlt eval --generalized` for QA (MLQA's G-XLT): the question in one language,
the context and answers in another, for every ordered pair, on the tiny model and
three hand-written parallel SQuAD-format files (the same question ids in en, de, fr).

Checked: the diagonal is the ordinary per-language evaluation; every off-diagonal cell
pairs A's question with B's context and answers (its records equal an ordinary
evaluation of hand-built mixed questions); every cell's F1/EM recomputes from its
records; files that share no id fail in one line naming them; one language gives a
1x1 matrix with no mixed-language average; ids missing in some language are left out
and counted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from robust_xlt.cli import main
from robust_xlt.data import Answer, QAExample
from robust_xlt.evaluation import evaluate, generalized_sets, read_predictions
from robust_xlt.models import make_tiny_model_dir
from robust_xlt.qa import QATokenizer
from robust_xlt.tasks import InputSettings, get_task
from robust_xlt.training.config import TrainConfig

LANGS = ("en", "de", "fr")
METRICS = ("f1", "exact_match", "lang_f1", "lang_exact_match")
INPUT = ["--max-length", "96", "--qa-overlap", "32", "--max-query-length", "32"]

# Per language: paragraphs of (context, [(id, question, answer)]); the same ids are
# translations of the same question. fr lists its paragraphs in the other order, so the
# cells must follow the first language's order, not each file's.
PARALLEL: dict[str, list[tuple[str, list[tuple[str, str, str]]]]] = {
    "en": [
        (
            "The river Rhine flows through Basel and Cologne before it reaches the North Sea.",
            [("q1", "Which sea does the Rhine reach?", "North Sea"), ("q2", "Which city lies on the Rhine?", "Basel")],
        ),
        (
            "Marie Curie was born in Warsaw in 1867 and won two Nobel prizes.",
            [("q3", "Where was Marie Curie born?", "Warsaw"), ("q4", "When was Marie Curie born?", "1867")],
        ),
    ],
    "de": [
        (
            "Der Rhein fließt durch Basel und Köln, bevor er die Nordsee erreicht.",
            [("q1", "Welches Meer erreicht der Rhein?", "Nordsee"), ("q2", "Welche Stadt liegt am Rhein?", "Basel")],
        ),
        (
            "Marie Curie wurde 1867 in Warschau geboren und gewann zwei Nobelpreise.",
            [("q3", "Wo wurde Marie Curie geboren?", "Warschau"), ("q4", "Wann wurde Marie Curie geboren?", "1867")],
        ),
    ],
    "fr": [
        (
            "Marie Curie est née à Varsovie en 1867 et a reçu deux prix Nobel.",
            [("q3", "Où est née Marie Curie ?", "Varsovie"), ("q4", "Quand est née Marie Curie ?", "1867")],
        ),
        (
            "Le Rhin traverse Bâle et Cologne avant d'atteindre la mer du Nord.",
            [("q1", "Quelle mer le Rhin atteint-il ?", "mer du Nord"), ("q2", "Quelle ville se trouve sur le Rhin ?", "Bâle")],
        ),
    ],
}


def squad(paragraphs: list[tuple[str, list[tuple[str, str, str]]]], rename: str = "") -> dict[str, Any]:
    return {
        "version": "1.1",
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {"id": rename + i, "question": q, "answers": [{"text": a, "answer_start": context.index(a)}]}
                            for i, q, a in qas
                        ],
                    }
                    for context, qas in paragraphs
                ],
            }
        ],
    }


def write_files(folder: Path, renamed: dict[str, str] | None = None, drop: tuple[str, str] | None = None) -> str:
    """The parallel files in ``folder`` as ``{lang}.json``; ``renamed`` gives a
    language's ids a prefix (files that are no longer parallel), ``drop`` (language,
    id) leaves one question out. Returns the spec."""
    folder.mkdir(parents=True)
    for lang, paragraphs in PARALLEL.items():
        if drop is not None and drop[0] == lang:
            paragraphs = [(context, [qa for qa in qas if qa[0] != drop[1]]) for context, qas in paragraphs]
        text = json.dumps(squad(paragraphs, (renamed or {}).get(lang, "")), ensure_ascii=False)
        (folder / f"{lang}.json").write_text(text, encoding="utf-8")
    return str(folder / "{lang}.json")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny QA model whose start and end logits depend on the words (as in
    test_attack's QA test), so predictions differ between questions."""
    base = make_tiny_model_dir(tmp_path_factory.mktemp("tiny-base"), seed=1)
    torch.manual_seed(1)
    model, tokenizer = get_task("qa").load_model(str(base))
    with torch.no_grad():
        model.bert.embeddings.position_embeddings.weight.mul_(0.1)
        model.qa_outputs.weight.mul_(50.0)
    folder = tmp_path_factory.mktemp("tiny-qa")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    # No dev rows split off the English file, so every language holds every id.
    (folder / "robust_xlt.toml").write_text('[run]\ntask = "qa"\n[data]\ndev_fraction = 0.0\n')
    return folder


def eval_argv(model: Path, spec: str, out: Path | None, *extra: str) -> list[str]:
    where = ["--output-dir", str(out)] if out is not None else []
    return ["eval", "--model-dir", str(model), "--eval-data", spec, "--threads", "1", "--device", "cpu", *INPUT, *where, *extra]


@pytest.fixture(scope="module")
def outputs(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("gxlt")
    spec = write_files(root / "data")
    assert main(eval_argv(model_dir, spec, root / "out", "--eval-langs", "de,fr", "--generalized")) == 0
    results = json.loads((root / "out" / "results.json").read_text())
    return {"spec": spec, "out": root / "out", "results": results, "matrix": results["generalized"]}


def cell(records: list[dict[str, Any]], a: str, b: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in ("first", "second")} for r in records if (r["first"], r["second"]) == (a, b)]


def load(spec: str, lang: str) -> list[Any]:
    return get_task("qa").load_file(spec.replace("{lang}", lang), lang)


def test_matrix_shape_and_table(outputs: dict[str, Any]) -> None:
    matrix = outputs["matrix"]
    assert matrix["languages"] == list(LANGS) and matrix["metrics"] == list(METRICS)
    assert (matrix["rows"], matrix["columns"]) == ("question", "context and answers")
    assert matrix["count"] == 4 and matrix["not_common"] == {lang: 0 for lang in LANGS}
    for m in METRICS:
        assert set(matrix[m]) == set(LANGS) and all(set(matrix[m][a]) == set(LANGS) for a in LANGS)
        assert set(matrix["averages"][m]) == {"same", "mixed"}
    assert matrix["same_average"] == matrix["averages"]["f1"]["same"]
    assert matrix["mixed_average"] == matrix["averages"]["f1"]["mixed"]
    table = (outputs["out"] / "results.md").read_text()
    assert "row = language of the question, column = language of the context and answers" in table
    assert table.count("| first \\\\ second | en | de | fr |") == len(METRICS)
    assert "F1:" in table and "EM:" in table


def test_diagonal_is_the_per_language_eval(outputs: dict[str, Any]) -> None:
    matrix, results = outputs["matrix"], outputs["results"]
    records = read_predictions(outputs["out"], "generalized")
    for lang in LANGS:
        for m in METRICS:
            assert matrix[m][lang][lang] == pytest.approx(results["languages"][lang][m])
        ordinary = {r["id"]: r for r in read_predictions(outputs["out"], lang)}
        assert {r["id"]: r for r in cell(records, lang, lang)} == ordinary


def test_each_cell_pairs_a_question_with_b_context(outputs: dict[str, Any], model_dir: Path) -> None:
    spec = outputs["spec"]
    files = {lang: {ex.id: ex for ex in load(spec, lang)} for lang in LANGS}
    records = read_predictions(outputs["out"], "generalized")
    mixed: dict[tuple[str, str], list[Any]] = generalized_sets({lang: load(spec, lang) for lang in LANGS}, get_task("qa"))
    task = get_task("qa")
    model, tokenizer = task.load_model(str(model_dir))
    config = TrainConfig(task="qa", max_length=96, qa_overlap=32, max_query_length=32).resolved()
    settings = InputSettings.of(config, qa_tokenizer=QATokenizer(tokenizer))
    question_matters = False
    for a in LANGS:
        for b in LANGS:
            got = cell(records, a, b)
            assert [r["id"] for r in got] == ["q1", "q2", "q3", "q4"]  # en's order, every cell
            for ex in mixed[(a, b)]:
                assert (ex.question, ex.context, ex.answers) == (files[a][ex.id].question, files[b][ex.id].context, files[b][ex.id].answers)
            for r in got:
                assert r["gold"] == [ans.text for ans in files[b][r["id"]].answers]
                assert r["prediction"] in files[b][r["id"]].context
            # Hand-built: A's question over B's context, evaluated as an ordinary set.
            built = [
                QAExample(i, files[a][i].question, files[b][i].context, files[b][i].answers, b) for i in ("q1", "q2", "q3", "q4")
            ]
            _, expected = evaluate(task, model, tokenizer, built, settings, torch.device("cpu"))
            assert got == expected
            question_matters |= a != b and [r["prediction"] for r in got] != [r["prediction"] for r in cell(records, b, b)]
    # The check above is only as strong as the model's use of the question.
    assert question_matters


def test_cells_recompute_from_their_records(outputs: dict[str, Any]) -> None:
    matrix = outputs["matrix"]
    records = read_predictions(outputs["out"], "generalized")
    assert len(records) == len(LANGS) ** 2 * matrix["count"]
    for m in METRICS:
        for a in LANGS:
            for b in LANGS:
                got = cell(records, a, b)
                assert matrix[m][a][b] == pytest.approx(100.0 * sum(r[m] for r in got) / len(got), abs=1e-3)
        same = [matrix[m][a][a] for a in LANGS]
        mixed = [matrix[m][a][b] for a in LANGS for b in LANGS if a != b]
        assert matrix["averages"][m] == pytest.approx({"same": sum(same) / 3, "mixed": sum(mixed) / 6})


def test_files_that_share_no_id_fail_naming_them(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # As TyDiQA-GoldP: each language's ids are its own.
    spec = write_files(tmp_path / "data", renamed={"de": "de-"})
    assert main(eval_argv(model_dir, spec, None, "--eval-langs", "de,fr", "--generalized")) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "not parallel" in err and "share no example id" in err
    assert str(tmp_path / "data" / "en.json") in err and str(tmp_path / "data" / "de.json") in err


def test_one_language_is_a_1x1_matrix(model_dir: Path, tmp_path: Path) -> None:
    spec = write_files(tmp_path / "data")
    assert main(eval_argv(model_dir, spec, tmp_path / "out", "--eval-langs", "en", "--generalized")) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    matrix = results["generalized"]
    assert matrix["languages"] == ["en"] and matrix["f1"] == {"en": {"en": pytest.approx(results["languages"]["en"]["f1"])}}
    assert matrix["mixed_average"] is None and matrix["averages"]["exact_match"]["mixed"] is None
    assert "mixed-language average none (one language)" in (tmp_path / "out" / "results.md").read_text()


def test_a_question_missing_in_one_language_leaves_every_cell(model_dir: Path, tmp_path: Path) -> None:
    spec = write_files(tmp_path / "data", drop=("de", "q2"))
    assert main(eval_argv(model_dir, spec, tmp_path / "out", "--eval-langs", "de,fr", "--generalized")) == 0
    matrix = json.loads((tmp_path / "out" / "results.json").read_text())["generalized"]
    assert matrix["count"] == 3 and matrix["not_common"] == {"en": 1, "de": 0, "fr": 1}
    records = read_predictions(tmp_path / "out", "generalized")
    assert len(records) == 9 * 3 and all(r["id"] != "q2" for r in records)


def test_ids_missing_in_a_language_are_left_out_and_none_shared_fails() -> None:
    def ex(i: str, lang: str) -> QAExample:
        return QAExample(i, f"question {i} {lang}", f"context {i} {lang}", (Answer("context", 0),), lang)

    sets = {"en": [ex("q1", "en"), ex("q2", "en"), ex("q3", "en")], "de": [ex("q3", "de"), ex("q1", "de")]}
    mixed: dict[tuple[str, str], list[Any]] = generalized_sets(sets)  # the task is the one whose examples these are
    assert [(e.id, e.question, e.context, e.lang) for e in mixed[("de", "en")]] == [
        ("q1", "question q1 de", "context q1 en", "de-en"),
        ("q3", "question q3 de", "context q3 en", "de-en"),
    ]
    with pytest.raises(ValueError, match=r"en \(e.json, 3 ids\) and de \(d.json, 1 id\) share no example id"):
        generalized_sets({"en": sets["en"], "de": [ex("x", "de")]}, sources={"en": "e.json", "de": "d.json"})
    # Every pair shares an id, but no id is in all three.
    three = {"en": [ex("a", "en"), ex("b", "en")], "de": [ex("b", "de"), ex("c", "de")], "fr": [ex("c", "fr"), ex("a", "fr")]}
    with pytest.raises(ValueError, match=r"no example id is in every language's file: en \(2 ids\), de \(2 ids\), fr \(2 ids\)"):
        generalized_sets(three)
