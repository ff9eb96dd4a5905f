"""Malformed input, every format the project reads: each case is a small file (or flag)
that must be refused with one clear error naming the file, the place in it (line or
JSON path) and the offending value, leaving every file it touched as it was; the CLI
answers with a non-zero exit and one message on stderr, never a traceback.

A case that fails is reported with its outcome first, so a sweep reads as counts:
``SILENT`` (accepted), ``TRACEBACK`` (an exception of another kind, one the CLI would
not catch), ``VAGUE`` (refused, but the message lacks a fragment) and ``HANG`` (still
running after the deadline). Cases marked ``xfail`` need a fix outside this package's
Python side (the reason says where).
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from robust_xlt import FormatError, load_lexicon
from robust_xlt.cli import main
from robust_xlt.data import Answer, DataError, QAExample, load_pawsx, load_squad, load_xnli
from robust_xlt.models import make_tiny_model_dir
from robust_xlt.training.checkpoint import CheckpointError, load_resume, read_best_info
from robust_xlt.training.config import ConfigError, build_config, load_toml

DEADLINE_S = 20  # any case still running after this is a hang


# ----------------------------------------------------------------- the harness


class _Hang(Exception):
    pass


@contextmanager
def _deadline(seconds: int = DEADLINE_S) -> Iterator[None]:
    def on_alarm(signum: int, frame: Any) -> None:
        raise _Hang

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def expect_error(call: Callable[[], Any], errors: tuple[type[BaseException], ...], fragments: list[str]) -> str:
    """Run ``call``; it must raise one of ``errors`` whose message holds every fragment."""
    try:
        with _deadline():
            result = call()
    except _Hang:
        pytest.fail(f"HANG: still running after {DEADLINE_S} s")
    except errors as exc:
        message = str(exc)
    except Exception as exc:  # noqa: BLE001 - the point is to classify it
        pytest.fail(f"TRACEBACK: {type(exc).__name__}: {str(exc)[:300]}")
    else:
        pytest.fail(f"SILENT: accepted, returned {str(result)[:200]}")
    missing = [f for f in fragments if f not in message]
    if missing:
        pytest.fail(f"VAGUE: message {message[:400]!r} lacks {missing}")
    return message


def expect_cli_error(argv: list[str], fragments: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """``robust-xlt ARGV`` must exit non-zero with one error message on stderr holding
    every fragment, and no traceback."""
    capsys.readouterr()
    code: int | str | None  # SystemExit.code may be any of these
    try:
        with _deadline():
            code = main(argv)
    except _Hang:
        pytest.fail(f"HANG: still running after {DEADLINE_S} s")
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"TRACEBACK: {type(exc).__name__}: {str(exc)[:300]}")
    err = capsys.readouterr().err
    if code == 0:
        pytest.fail(f"SILENT: exit 0; stderr {err[-300:]!r}")
    if "Traceback" in err:
        pytest.fail(f"TRACEBACK: on stderr: {err[-400:]!r}")
    errors = [line for line in err.splitlines() if "error:" in line]
    if len(errors) != 1:
        pytest.fail(f"VAGUE: expected one error line on stderr, got {err[-400:]!r}")
    missing = [f for f in fragments if f not in errors[0]]
    if missing:
        pytest.fail(f"VAGUE: message {errors[0][:400]!r} lacks {missing}")
    return errors[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes, to tell that nothing changed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def fill(fragments: list[str], path: Path) -> list[str]:
    return [f.replace("{path}", str(path)).replace("{name}", path.name) for f in fragments]


DEEP = "[" * 100_000 + "]" * 100_000  # deeper than any JSON parser's recursion


# ----------------------------------------------------------------- PAWS-X

PAWSX_HEADER = "id\tsentence1\tsentence2\tlabel\n"
PX = PAWSX_HEADER + "1\tA cat sat.\tA cat was sitting.\t1\n"  # one good official row

PAWSX_CASES = [
    # (id, file content, loader options, fragments besides the file name)
    ("empty-file", "", {}, ["empty file"]),
    ("only-blank-lines", "\n\n  \n", {}, ["empty file"]),
    ("header-only", PAWSX_HEADER, {}, ["header only"]),
    ("wrong-header", "id\ts1\ts2\tlabel\n1\ta\tb\t1\n", {"layout": "official"}, ["line 1", "wrong header", "s1"]),
    ("two-columns", "a\tb\n", {}, ["line 1", "not a PAWS-X file", "found 2 columns"]),
    ("official-short-row", PX + "2\tonly one\t1\n", {}, ["line 3", "expected 4", "found 3", "only one"]),
    ("official-extra-tab", PX + "2\ta\tb\t1\textra\n", {}, ["line 3", "found 5", "extra"]),
    ("official-empty-id", PX + " \ta\tb\t0\n", {}, ["line 3", "empty id"]),
    ("official-repeated-id", PX + "1\tB\tC\t0\n", {}, ["line 3", "id '1' repeats", "line 2"]),
    ("official-label-2", PX + "2\ta\tb\t2\n", {}, ["line 3", "unknown label '2'", "'0', '1'"]),
    ("official-label-word", PX + "2\ta\tb\tyes\n", {}, ["line 3", "unknown label 'yes'"]),
    ("official-empty-sentence1", PX + "2\t \tb\t0\n", {}, ["line 3", "empty sentence1"]),
    ("official-empty-sentence2", PX + "2\ta\t\t0\n", {}, ["line 3", "empty sentence2"]),
    ("official-blank-line-inside", PX + "\n2\ta\tb\t0\n", {}, ["line 3", "blank line"]),
    ("official-not-utf8", (PX + "2\tcaf\xe9\tb\t0\n").encode("latin-1"), {}, ["line 3", "not valid UTF-8"]),
    ("utf16-file", PX.encode("utf-16"), {}, ["line 1", "not valid UTF-8"]),
    ("xtreme-four-columns", "a\tb\t1\nc\td\t0\textra\n", {"layout": "xtreme"}, ["line 2", "expected 3", "found 4"]),
    ("xtreme-label-word", "a\tb\tparaphrase\n", {}, ["line 1", "unknown label 'paraphrase'"]),
    ("xtreme-empty-label", "a\tb\t\n", {}, ["line 1", "unknown label ''"]),
    ("xtreme-empty-sentence2", "a\tb\t1\nc\t  \t0\n", {}, ["line 2", "empty sentence2"]),
    ("xtreme-not-utf8", b"a\tb\t1\nc\xff\td\t0\n", {}, ["line 2", "not valid UTF-8"]),
    ("xtreme-crlf-blank-inside", "a\tb\t1\r\n\r\nc\td\t0\r\n", {}, ["line 2", "blank line"]),
]


@pytest.mark.parametrize(("content", "options", "fragments"), [pytest.param(*c[1:], id=c[0]) for c in PAWSX_CASES])
def test_pawsx_file(tmp_path: Path, content: str | bytes, options: dict[str, Any], fragments: list[str]) -> None:
    path = write(tmp_path / "dev_2k.tsv", content)
    expect_error(lambda: load_pawsx(path, "de", **options), (DataError,), [str(path), *fragments])


# ----------------------------------------------------------------- XNLI, MultiNLI

XNLI_HEADER = "language\tgold_label\tsentence1\tsentence2\tpairID\n"
XN = XNLI_HEADER + "de\tentailment\tEin Hund.\tEin Tier.\t1\n"
XN_EN = XNLI_HEADER + "en\tentailment\tA dog.\tAn animal.\t1\n"
XT = "A dog runs.\tAn animal moves.\tentailment\n"

XNLI_CASES: list[tuple[str, str | bytes, dict[str, Any], list[str]]] = [
    ("empty-file", "", {}, ["empty file"]),
    ("header-lacks-columns", "language\tgold_label\tsentence1\n", {}, ["line 1", "lacks column(s) sentence2"]),
    ("header-only", XNLI_HEADER, {}, ["header only"]),
    ("official-short-row", XN + "de\tneutral\tnur eins\n", {}, ["line 3", "expected 5", "found 3", "nur eins"]),
    ("official-no-rows-of-lang", XNLI_HEADER + "fr\tneutral\tUn.\tDeux.\t1\n", {}, ["no rows for language 'de'", "fr"]),
    ("official-unknown-label", XN + "de\tentails\tA.\tB.\t2\n", {}, ["line 3", "unknown label 'entails'", "'neutral'"]),
    ("official-empty-premise", XN + "de\tneutral\t\tB.\t2\n", {}, ["line 3", "empty premise"]),
    ("official-empty-hypothesis", XN + "de\tneutral\tA.\t \t2\n", {}, ["line 3", "empty hypothesis"]),
    ("official-not-utf8", (XN + "de\tneutral\tGr\xfc\xdfe.\tB.\t2\n").encode("latin-1"), {}, ["line 3", "not valid UTF-8"]),
    ("official-blank-line-inside", XN + "\t\nde\tneutral\tA.\tB.\t2\n", {}, ["line 3", "blank line"]),
    ("official-repeated-pair-id", XN + "de\tneutral\tA.\tB.\t1\n", {}, ["line 3", "pairID '1'", "line 2"]),
    ("official-empty-pair-id", XN + "de\tneutral\tA.\tB.\t \n", {}, ["line 3", "empty pairID"]),
    ("not-xnli", "a\tb\tc\td\te\n", {}, ["line 1", "not an XNLI file", "found 5 columns"]),
    ("xtreme-two-columns", XT + "A.\tentailment\n", {}, ["line 2", "expected 3", "found 2"]),
    ("xtreme-four-columns", XT + "A.\tB.\tneutral\t7\n", {}, ["line 2", "found 4"]),
    ("xtreme-numeric-label", XT + "A.\tB.\t0\n", {}, ["line 2", "unknown label '0'"]),
    ("xtreme-empty-premise", XT + " \tB.\tneutral\n", {}, ["line 2", "empty premise"]),
    ("xtreme-not-utf8", XT.encode() + b"\xc3\x28\tB.\tneutral\n", {}, ["line 2", "not valid UTF-8"]),
    # XTREME's translated MultiNLI training files: a header, 'contradictory' for contradiction.
    ("multinli-header-only", "premise\thypo\tlabel\n", {}, ["header only"]),
    ("multinli-misspelt-label", "premise\thypo\tlabel\nA.\tB.\tcontradictory\nC.\tD.\tcontradicts\n", {}, ["line 3", "unknown label 'contradicts'"]),
    ("multinli-short-row", "premise\thypo\tlabel\nA.\tB.\tneutral\nC.\tneutral\n", {}, ["line 3", "found 2"]),
    # The official MultiNLI release has no language column: not an XNLI file.
    ("multinli-official-release", "gold_label\tsentence1\tsentence2\tpairID\tgenre\nneutral\tA.\tB.\t1\tfiction\n", {}, ["line 1", "lacks column(s) language"]),
    ("multinli-no-consensus-label", "premise\thypo\tlabel\nA.\tB.\t-\n", {}, ["line 2", "unknown label '-'"]),
]


@pytest.mark.parametrize(("content", "options", "fragments"), [pytest.param(*c[1:], id=c[0]) for c in XNLI_CASES])
def test_xnli_file(tmp_path: Path, content: str | bytes, options: dict[str, Any], fragments: list[str]) -> None:
    path = write(tmp_path / "xnli.dev.tsv", content)
    expect_error(lambda: load_xnli(path, "de", **options), (DataError,), [str(path), *fragments])


# ----------------------------------------------------------------- arguments of every task loader

LOADERS: dict[str, tuple[Callable[..., Any], str | None]] = {"pawsx": (load_pawsx, PX), "xnli": (load_xnli, XN), "qa": (load_squad, None)}


def _good_file(tmp_path: Path, task: str) -> Path:
    loader, content = LOADERS[task]
    if content is None:
        return write(tmp_path / "ok.json", json.dumps(_squad()))
    return write(tmp_path / "ok.tsv", content)


@pytest.mark.parametrize("task", list(LOADERS))
@pytest.mark.parametrize(
    ("kind", "fragments"),
    [
        ("unknown-lang", ["'xx'", "language"]),
        ("empty-lang", ["lang must be a non-empty language code", "''"]),
        ("folder", ["{path}", "is a folder"]),
        ("missing", ["{path}"]),
    ],
)
def test_loader_arguments(tmp_path: Path, task: str, kind: str, fragments: list[str]) -> None:
    loader = LOADERS[task][0]
    errors: tuple[type[Exception], ...] = (DataError, ValueError)
    path, lang = _good_file(tmp_path, task), "de"
    if kind == "unknown-lang":
        lang = "xx"
    elif kind == "empty-lang":
        lang = ""
    elif kind == "folder":
        path = tmp_path / "a-folder.tsv"
        path.mkdir()
    else:
        path, errors = tmp_path / "absent.tsv", (FileNotFoundError,)
    expect_error(lambda: loader(path, lang), errors, fill(fragments, path))


@pytest.mark.parametrize(("loader", "name"), [(load_pawsx, "PAWS-X"), (load_xnli, "XNLI")])
def test_unknown_layout(tmp_path: Path, loader: Callable[..., Any], name: str) -> None:
    path = write(tmp_path / "d.tsv", XT)
    expect_error(lambda: loader(path, "de", layout="fancy"), (ValueError,), [f"unknown {name} layout 'fancy'", "official"])


# ----------------------------------------------------------------- SQuAD-format JSON


def _squad(answer: Any = None, **qa_overrides: Any) -> dict[str, Any]:
    qa: dict[str, Any] = {"id": "q1", "question": "Who?", "answers": [answer or {"text": "Ana", "answer_start": 0}]}
    qa.update(qa_overrides)
    return {"data": [{"title": "t", "paragraphs": [{"context": "Ana sang.", "qas": [qa]}]}]}


def _drop(doc: dict[str, Any], *keys: Any) -> dict[str, Any]:
    """``doc`` with the key at the end of the path ``keys`` deleted."""
    inner: Any = doc
    for k in keys[:-1]:
        inner = inner[k]
    del inner[keys[-1]]
    return doc


def _set(doc: dict[str, Any], value: Any, *keys: Any) -> dict[str, Any]:
    inner: Any = doc
    for k in keys[:-1]:
        inner = inner[k]
    inner[keys[-1]] = value
    return doc


P0 = ("data", 0, "paragraphs", 0)
Q0 = (*P0, "qas", 0)
A0 = (*Q0, "answers", 0)
QW = "data[0].paragraphs[0].qas[0]"

SQUAD_CASES = [
    ("empty-file", "", ["empty file"]),
    ("whitespace-only", " \n\t\n", ["empty file"]),
    ("trailing-comma", '{"data": [],}', ["invalid JSON", "line 1 column"]),
    ("truncated", json.dumps(_squad())[:40], ["invalid JSON", "line 1 column"]),
    ("not-utf8", json.dumps(_squad()).replace("Ana sang", "Ana \\u00e9").encode().replace(b"\\u00e9", b"\xe9"), ["not valid UTF-8", "line 1"]),
    ("utf16", json.dumps(_squad()).encode("utf-16"), ["not valid UTF-8"]),
    ("deeply-nested", DEEP, ["nested", "deep"]),
    ("top-level-array", "[1, 2]", ["top level", "expected a JSON object, found an array"]),
    ("no-data-key", '{"version": "1.1"}', ["top level", "missing key 'data'", "'version'"]),
    ("data-is-object", '{"data": {}}', ["top level", "'data' must be an array, found an object"]),
    ("data-empty", '{"data": []}', ["no questions"]),
    ("article-not-object", '{"data": ["x"]}', ["data[0]", "expected a JSON object, found a string"]),
    ("no-paragraphs", json.dumps(_drop(_squad(), "data", 0, "paragraphs")), ["data[0]", "missing key 'paragraphs'"]),
    ("paragraphs-string", json.dumps(_set(_squad(), "p", "data", 0, "paragraphs")), ["data[0]", "'paragraphs' must be an array", "'p'"]),
    ("no-context", json.dumps(_drop(_squad(), *P0, "context")), ["data[0].paragraphs[0]", "missing key 'context'"]),
    ("context-number", json.dumps(_set(_squad(), 7, *P0, "context")), ["data[0].paragraphs[0]", "'context' must be a string", "'7'"]),
    ("context-null", json.dumps(_set(_squad(), None, *P0, "context")), ["data[0].paragraphs[0]", "'context' must be a string, found null"]),
    ("no-qas", json.dumps(_drop(_squad(), *P0, "qas")), ["data[0].paragraphs[0]", "missing key 'qas'"]),
    ("no-id", json.dumps(_drop(_squad(), *Q0, "id")), [QW, "missing key 'id'"]),
    ("id-float", json.dumps(_squad(id=1.5)), [QW, "'id' must be a string or an integer", "1.5"]),
    ("id-null", json.dumps(_squad(id=None)), [QW, "'id' must be a string or an integer, found null"]),
    ("id-bool", json.dumps(_squad(id=True)), [QW, "'id'", "found a boolean"]),
    ("no-question", json.dumps(_drop(_squad(), *Q0, "question")), [QW, "missing key 'question'"]),
    ("question-list", json.dumps(_squad(question=["Who?"])), [QW, "'question' must be a string, found an array"]),
    ("no-answers", json.dumps(_drop(_squad(), *Q0, "answers")), [QW, "missing key 'answers'"]),
    ("answers-object", json.dumps(_squad(answers={"text": "Ana"})), [QW, "'answers' must be an array, found an object"]),
    ("answer-not-object", json.dumps(_squad(answers=["Ana"])), [f"{QW}.answers[0]", "expected a JSON object, found a string"]),
    ("answer-no-text", json.dumps(_drop(_squad(), *A0, "text")), [f"{QW}.answers[0]", "missing key 'text'"]),
    ("answer-text-number", json.dumps(_squad({"text": 5, "answer_start": 0})), [f"{QW}.answers[0]", "'text' must be a string", "'5'"]),
    ("no-answer-start", json.dumps(_drop(_squad(), *A0, "answer_start")), [f"{QW}.answers[0]", "missing key 'answer_start'"]),
    ("answer-start-string", json.dumps(_squad({"text": "Ana", "answer_start": "0"})), [f"{QW}.answers[0]", "'answer_start' must be an integer", "a string"]),
    ("answer-start-float", json.dumps(_squad({"text": "Ana", "answer_start": 0.5})), [f"{QW}.answers[0]", "'answer_start' must be an integer", "0.5"]),
    ("answer-start-bool", json.dumps(_squad({"text": "Ana", "answer_start": False})), [f"{QW}.answers[0]", "'answer_start'", "a boolean"]),
    ("answer-start-nan", json.dumps(_squad({"text": "Ana", "answer_start": float("nan")})), [f"{QW}.answers[0]", "'answer_start' must be an integer", "nan"]),
    ("answer-start-negative", json.dumps(_squad({"text": "Ana", "answer_start": -3})), [f"{QW}.answers[0]", "answer_start", "-3"]),
    ("answer-start-5000-digits", json.dumps(_squad()).replace('"answer_start": 0', '"answer_start": ' + "9" * 5000), [f"{QW}.answers[0]", "answer_start", "5000 digits"]),
    ("answer-start-30-digits", json.dumps(_squad({"text": "Ana", "answer_start": 10**30})), [f"{QW}.answers[0]", "answer_start", str(10**30)]),
    ("context-long-integer", json.dumps(_set(_squad(), 10**30, *P0, "context")), ["data[0].paragraphs[0]", "'context' is an integer of 31 digits"]),
    ("answer-text-elsewhere-only", json.dumps(_squad({"text": "sang", "answer_start": 500})), ["no usable", QW, "'sang'"]),
    ("only-blank-questions", json.dumps(_squad(question="  ")), ["no usable", QW, "empty question"]),
]


@pytest.mark.parametrize(("content", "fragments"), [pytest.param(*c[1:], id=c[0]) for c in SQUAD_CASES])
def test_squad_file(tmp_path: Path, content: str | bytes, fragments: list[str]) -> None:
    path = write(tmp_path / "tydiqa.goldp.de.dev.json", content)
    expect_error(lambda: load_squad(path, "de"), (DataError,), [str(path), *fragments])


@pytest.mark.parametrize("window", [-1])
def test_squad_repair_window(tmp_path: Path, window: int) -> None:
    path = write(tmp_path / "q.json", json.dumps(_squad()))
    expect_error(lambda: load_squad(path, "de", repair_window=window), (ValueError,), ["repair_window", "-1"])


# ----------------------------------------------------------------- QA features


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny-model"), seed=0)


@pytest.fixture(scope="module")
def qa_tokenizer(tiny: Path) -> Any:
    from transformers import AutoTokenizer

    from robust_xlt.qa import QATokenizer

    return QATokenizer(AutoTokenizer.from_pretrained(str(tiny)))


@pytest.mark.parametrize(
    ("answer", "fragments"),
    [
        (Answer("Bob", 0), ["'q7'", "'Bob'", "'Ana'", "0"]),  # the context holds 'Ana' there
        (Answer("sang", 4), None),  # a good one, for contrast
        (Answer("Ana", 40), ["example 0", "40", "beyond the context"]),
    ],
)
def test_qa_features_refuse_an_answer_not_in_its_context(qa_tokenizer: Any, answer: Answer, fragments: list[str] | None) -> None:
    from robust_xlt.qa import prepare_train_features

    example = QAExample("q7", "Who sang?", "Ana sang.", (answer,), "en")
    if fragments is None:
        assert prepare_train_features([example], qa_tokenizer, max_length=32, stride=4, max_query_length=8)["start_positions"][0] > 0
        return
    call = lambda: prepare_train_features([example], qa_tokenizer, max_length=32, stride=4, max_query_length=8)  # noqa: E731
    expect_error(call, (ValueError,), fragments)


# ----------------------------------------------------------------- lexicons

OMW_HEADER = "# Open Multilingual Wordnet\teng\thttp://x\tCC BY 4.0\n"
BOM = "\ufeff"

LEXICON_CASES = [
    # (id, file name, content, format, fragments besides the path, marks)
    ("tsv-empty", "lex.tsv", "", None, ["no lexicon entries"], ()),
    ("tsv-comments-only", "lex.tsv", "# a header\n\n# nothing else\n", None, ["no lexicon entries"], ()),
    ("tsv-three-columns", "lex.tsv", "en\tbig\ten\tlarge\nen\tbig\tlarge\n", None, [":2:", "found 3 column(s)", "big"], ()),
    ("tsv-five-columns", "lex.tsv", "en\tbig\ten\tlarge\tx\n", None, [":1:", "found 5 column(s)"], ()),
    ("tsv-unknown-language", "lex.tsv", "en\tbig\txx\tgross\n", None, [":1:", "unknown language code \"xx\""], ()),
    ("tsv-empty-word", "lex.tsv", "en\tbig\tde\t \n", None, [":1:", "empty word"], ()),
    ("tsv-not-utf8", "lex.tsv", b"en\tbig\tde\tgro\xdf\n", None, [":1:", "not valid UTF-8"], ()),
    ("tsv-utf16", "lex.tsv", "en\tbig\tde\tgroß\n".encode("utf-16"), None, [":1:", "not valid UTF-8"], ()),
    ("tsv-bom", "lex.tsv", BOM + "en\tbig\tde\tgroß\n", None, ["CHECK-BOM"], ()),
    ("unknown-name", "lexicon.txt", "big large\n", None, ["cannot tell the lexicon format", "SRC-TGT.txt"], ()),
    ("unknown-format", "lex.tsv", "en\tbig\ten\tlarge\n", "xml", ["unknown lexicon format 'xml'"], ()),
    ("muse-unknown-language", "en-xx.txt", "big gross\n", None, ["'xx' is not a known language code"], ()),
    ("muse-unknown-language-given-format", "en-xx.txt", "big gross\n", "muse", ["'xx' is not a known language code"], ()),
    ("muse-unnamed", "dict.txt", "big gross\n", "muse", ["cannot tell the languages", "SRC-TGT.txt"], ()),
    ("muse-three-fields", "en-de.txt", "big groß\nsmall klein winzig\n", None, [":2:", "found 3 field(s)", "winzig"], ()),
    ("muse-one-field", "en-de.txt", "big\n", None, [":1:", "found 1 field(s)"], ()),
    ("muse-tab-three", "en-de.txt", "big\tgroß\tx\n", None, [":1:", "found 3 field(s)"], ()),
    ("muse-empty", "en-de.txt", "", None, ["no lexicon entries"], ()),
    ("muse-blank-lines", "en-de.txt", "\n \n\n", None, ["no lexicon entries"], ()),
    ("muse-not-utf8", "en-de.txt", b"big gro\xdf\n", None, [":1:", "not valid UTF-8"], ()),
    ("muse-bom", "en-de.txt", BOM + "big groß\n", None, ["CHECK-BOM"], ()),
    ("omw-two-columns", "wn.tab", OMW_HEADER + "0001-n\teng:lemma\n", None, [":2:", "found 2 column(s)"], ()),
    ("omw-unknown-prefix", "wn.tab", OMW_HEADER + "0001-n\txx:lemma\tdog\n", None, [":2:", "unknown language code \"xx\""], ()),
    ("omw-no-prefix-no-header", "wn.tab", "0001-n\tlemma\tdog\n", None, [":1:", "no language prefix", "no header"], ()),
    ("omw-header-unknown-language", "wn.tab", "# wn\txyz\turl\tlic\n0001-n\tlemma\tdog\n", None, [":2:", "unknown language \"xyz\""], ()),
    ("omw-empty-synset", "wn.tab", OMW_HEADER + "\teng:lemma\tdog\n", None, [":2:", "empty synset id"], ()),
    ("omw-header-only", "wn.tab", OMW_HEADER, None, ["no lexicon entries"], ()),
    ("omw-definitions-only", "wn.tab", OMW_HEADER + "0001-n\teng:def\ta dog\n", None, ["no words"], ()),
    ("omw-not-utf8", "wn.tab", OMW_HEADER.encode() + b"0001-n\teng:lemma\tcaf\xe9\n", None, [":2:", "not valid UTF-8"], ()),
    ("omw-bom-header", "wn.tab", BOM + OMW_HEADER + "0001-n\tlemma\tdog\n0001-n\tlemma\thound\n", None, ["CHECK-BOM"], ()),
]


@pytest.mark.parametrize(
    ("name", "content", "format", "fragments"),
    [pytest.param(*c[1:5], id=c[0], marks=c[5]) for c in LEXICON_CASES],
)
def test_lexicon_file(tmp_path: Path, name: str, content: str | bytes, format: str | None, fragments: list[str]) -> None:
    path = write(tmp_path / name, content)
    if fragments == ["CHECK-BOM"]:
        # A BOM is not part of the first word: the file loads as if it had none.
        lexicon = load_lexicon([path], format)
        first = {"lex.tsv": ("big", "en", "de"), "en-de.txt": ("big", "en", "de"), "wn.tab": ("dog", "en", "en")}[name]
        assert lexicon.translations(*first) if first[1] != first[2] else lexicon.synonyms(first[0], "en")
        return
    expect_error(lambda: load_lexicon([path], format), (FormatError, ValueError), [str(path), *fragments])


@pytest.mark.parametrize(
    ("kind", "fragments"),
    [("folder", ["{path}", "is a folder"]), ("missing", ["{path}", "no such file"]), ("no-files", ["at least one file"])],
)
def test_lexicon_paths(tmp_path: Path, kind: str, fragments: list[str]) -> None:
    path = tmp_path / "lexicons.tsv"
    paths: list[Path] = [path]
    errors: tuple[type[BaseException], ...] = (ValueError,)
    if kind == "folder":
        path.mkdir()
    elif kind == "missing":
        errors = (FileNotFoundError,)
    else:
        paths = []
    expect_error(lambda: load_lexicon(paths), errors, fill(fragments, path))


def test_empty_lexicon_file_among_good_ones_is_named(tmp_path: Path) -> None:
    good = write(tmp_path / "good.tsv", "en\tbig\ten\tlarge\n")
    empty = write(tmp_path / "en-de.txt", "\n")
    expect_error(lambda: load_lexicon([good, empty]), (FormatError, ValueError), [str(empty), "no lexicon entries"])


# ----------------------------------------------------------------- TOML configs


def _toml_config(path: Path) -> Any:
    return build_config(load_toml(path))


TOML_CASES = [
    # (id, file content, fragments besides the path)
    ("not-utf8", "[run]\ntask = \"xnli\"\nmodel = \"caf\xe9\"\n".encode("latin-1"), ["not UTF-8", "line 3"]),
    ("utf16", "lr = 1e-4\n".encode("utf-16"), ["not UTF-8"]),
    ("syntax-error", "lr = \n", ["not valid TOML", "line 1"]),
    ("unclosed-table", "[optimization\nlr = 1e-4\n", ["not valid TOML", "line 1"]),
    ("unknown-key", "epoch = 3\n", ["unknown key 'epoch'"]),
    ("unknown-table", "[optimisation]\nlr = 1e-4\n", ["unknown table [optimisation]"]),
    ("key-in-wrong-table", "[data]\nlr = 1e-4\n", ["lr belongs in [optimization], not [data]"]),
    ("key-set-twice", "lr = 1e-4\n[optimization]\nlr = 2e-4\n", ["lr is set twice"]),
    ("kebab-and-snake-twice", "max_steps = 4\nmax-steps = 5\n", ["max_steps is set twice"]),
    ("batch-size-string", '[optimization]\nbatch_size = "32"\n', ["[optimization] batch_size", "must be an integer", "'32'"]),
    ("batch-size-float", "batch_size = 2.5\n", ["batch_size", "must be an integer", "2.5"]),
    ("batch-size-bool", "batch_size = true\n", ["batch_size", "must be an integer", "True"]),
    ("batch-size-zero", "[optimization]\nbatch_size = 0\n", ["batch_size must be at least 1, got 0"]),
    ("batch-size-negative", "batch_size = -3\n", ["batch_size must be at least 1, got -3"]),
    ("max-steps-astronomical", "max_steps = 9223372036854775807\n", ["max_steps", "9223372036854775807", "at most"]),
    ("max-steps-5000-digits", "max_steps = " + "9" * 5000 + "\n", ["max_steps", "digits"]),
    ("epochs-astronomical", "epochs = 1000000000\n", ["epochs", "1000000000", "at most"]),
    ("max-steps-zero", "max_steps = 0\n", ["max_steps must be at least 1, got 0"]),
    ("threads-huge", "[run]\nthreads = 100000000\n", ["threads", "100000000", "at most"]),
    ("lr-string", 'lr = "fast"\n', ["lr must be a number, got 'fast'"]),
    ("lr-numeric-string", 'lr = "1e-4"\n', ["lr must be a number", "'1e-4'"]),
    ("lr-nan", "lr = nan\n", ["lr must be a positive number, got nan"]),
    ("lr-inf", "lr = inf\n", ["lr must be a positive number, got inf"]),
    ("warmup-ratio-above-1", "warmup_ratio = 1.5\n", ["warmup_ratio must lie in [0, 1), got 1.5"]),
    ("dev-fraction-1", "dev_fraction = 1.0\n", ["dev_fraction must lie in [0, 1), got 1.0"]),
    ("method-unknown", 'method = "fancy"\n', ["unknown method 'fancy'"]),
    ("method-number", "method = 3\n", ["method must be a list or a comma-separated string, got 3"]),
    ("method-list-with-number", 'method = ["adv", 3]\n', ["method must be a string, got 3"]),
    ("method-empty-list", "method = []\n", ["method is empty"]),
    ("eval-langs-unknown", 'eval_langs = ["de", "xx"]\n', ["eval_langs", "unknown language code \"xx\""]),
    ("source-lang-number", "source_lang = 1\n", ["source_lang must be a string, got 1"]),
    ("task-unknown", 'task = "ner"\n', ["unknown task 'ner'"]),
    ("seed-negative", "seed = -1\n", ["seed must lie in [0, 2**63), got -1"]),
    ("device-unknown", 'device = "tpu"\n', ["unknown device 'tpu'"]),
    ("bool-as-string", 'freeze_embeddings = "yes"\n', ["freeze_embeddings must be true or false", "'yes'"]),
    ("bool-as-number", "freeze_embeddings = 1\n", ["freeze_embeddings must be true or false, got 1"]),
    ("max-train-examples-word", 'max_train_examples = "some"\n', ["max_train_examples must be an integer", "'some'"]),
    ("noise-unknown", 'noise = "pink"\n', ["unknown noise 'pink'"]),
    ("inline-table-for-a-value", "lr = { value = 1e-4 }\n", ["unknown table [lr]"]),
    ("bom", BOM + "lr = 1e-4\nepoch = 3\n", ["unknown key 'epoch'"]),  # the BOM itself is fine
]


@pytest.mark.parametrize(("content", "fragments"), [pytest.param(*c[1:], id=c[0]) for c in TOML_CASES])
def test_toml_config(tmp_path: Path, content: str | bytes, fragments: list[str]) -> None:
    path = write(tmp_path / "run.toml", content)
    expect_error(lambda: _toml_config(path), (ConfigError,), [str(path), *fragments])


def test_toml_path_is_a_folder(tmp_path: Path) -> None:
    expect_error(lambda: load_toml(tmp_path), (ConfigError,), [str(tmp_path), "is a folder"])


# ----------------------------------------------------------------- CLI flags

CLI_TRAIN_CASES = [
    # (id, flags, fragments)
    ("batch-size-word", ["--batch-size", "abc"], ["--batch-size", "must be an integer", "'abc'"]),
    ("batch-size-zero", ["--batch-size", "0"], ["--batch-size", "batch_size must be at least 1, got 0"]),
    ("batch-size-float", ["--batch-size", "2.5"], ["--batch-size", "'2.5'"]),
    ("max-steps-astronomical", ["--max-steps", "9" * 30], ["--max-steps", "9" * 30, "at most"]),
    ("max-steps-5000-digits", ["--max-steps", "9" * 5000], ["--max-steps", "digits"]),
    ("max-steps-exponent", ["--max-steps", "1e30"], ["--max-steps", "'1e30'"]),
    ("epochs-astronomical", ["--epochs", "1000000000"], ["--epochs", "1000000000", "at most"]),
    ("threads-zero", ["--threads", "0"], ["--threads", "threads must be at least 1, got 0"]),
    ("threads-huge", ["--threads", "100000000"], ["--threads", "100000000", "at most"]),
    ("lr-nan", ["--lr", "nan"], ["--lr", "lr must be a positive number, got nan"]),
    ("warmup-negative", ["--warmup-ratio", "-0.1"], ["--warmup-ratio", "-0.1"]),
    ("method-empty", ["--method", ""], ["method is empty"]),
    ("method-twice", ["--method", "rs-da,rs-da"], ["lists a method twice"]),
    ("standard-plus", ["--method", "standard,adv"], ["'standard' cannot be combined"]),
    ("source-lang-unknown", ["--source-lang", "xx"], ["--source-lang", "\"xx\""]),
    ("dev-fraction-1", ["--dev-fraction", "1"], ["--dev-fraction", "dev_fraction must lie in [0, 1), got 1.0"]),
    ("device-unknown", ["--device", "tpu"], ["--device", "unknown device 'tpu'"]),
    ("seed-negative", ["--seed", "-1"], ["--seed", "-1"]),
    ("seed-huge", ["--seed", str(2**64)], ["--seed", str(2**64)]),
    ("checkpoint-interval-negative", ["--checkpoint-interval", "-5"], ["--checkpoint-interval", "-5.0"]),
    ("max-train-examples-word", ["--max-train-examples", "some"], ["--max-train-examples", "'some'"]),
    ("freeze-with-value", ["--freeze-embeddings=yes"], ["--freeze-embeddings", "yes"]),
    ("unknown-flag", ["--bogus", "1"], ["unrecognized arguments: --bogus"]),
    ("resume-and-overwrite", ["--resume", "--overwrite"], ["--resume and --overwrite contradict"]),
    ("bad-hub-spec", ["--train-data", "hub:xnli", "--eval-data", "e-{lang}.tsv"], ["bad hub spec 'hub:xnli'"]),
    ("curriculum-on-standard", ["--curriculum", "linear"], ["curriculum 'linear' needs a robust method"]),
    ("adv-steps-zero", ["--method", "adv", "--adv-steps", "0"], ["--adv-steps", "adv_steps must be at least 1, got 0"]),
    ("adv-steps-huge", ["--method", "adv", "--adv-steps", "100000000"], ["--adv-steps", "100000000", "at most"]),
]


@pytest.mark.parametrize(("flags", "fragments"), [pytest.param(*c[1:], id=c[0]) for c in CLI_TRAIN_CASES])
def test_cli_train_flags(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], fragments: list[str]) -> None:
    out = tmp_path / "out"
    expect_cli_error(["train", "--model", str(tiny), *flags, "--output-dir", str(out)], fragments, capsys)
    assert not out.exists(), "a refused command created its output folder"


def test_cli_max_length_above_the_model(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    fragments = ["max_length 100000", "(512 tokens)", "give --max-length 512 or less"]
    expect_cli_error(["train", "--model", str(tiny), "--max-length", "100000", "--output-dir", str(out)], fragments, capsys)
    assert not out.exists()


@pytest.mark.parametrize(
    ("flags", "fragments"),
    [
        # A window of 32 holds 4 special tokens and 24 question tokens: 4 context tokens.
        (["--max-length", "32", "--qa-overlap", "4", "--max-query-length", "24"], ["qa_overlap 4", "= 4 context tokens", "give --qa-overlap 3 or less"]),
        # XTREME's overlap with a shorter window: 128 - 4 - 64 = 60.
        (["--max-length", "128"], ["qa_overlap 128", "max_length 128 - 4 special tokens - max_query_length 64 = 60", "--qa-overlap 59 or less"]),
        (["--max-length", "24", "--qa-overlap", "8", "--max-query-length", "24"], ["hold no context", "= -4", "--max-length above 36"]),
    ],
)
def test_cli_qa_windows_that_cannot_hold_the_overlap(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], fragments: list[str]
) -> None:
    out = tmp_path / "out"
    expect_cli_error(["train", "--model", str(tiny), "--task", "qa", *flags, "--output-dir", str(out)], fragments, capsys)
    assert not out.exists(), "a refused command created its output folder"


@pytest.mark.parametrize("command", ["eval", "attack"])
def test_cli_eval_qa_windows_that_cannot_hold_the_overlap(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    # The same check as train's, before any scoring, not the core's message mid-way.
    out = tmp_path / "out"
    flags = ["--task", "qa", "--max-length", "32", "--qa-overlap", "4", "--max-query-length", "24"]
    expect_cli_error([command, "--model-dir", str(tiny), *flags, "--output-dir", str(out)], ["qa_overlap 4", "give --qa-overlap 3 or less"], capsys)
    assert not out.exists(), "a refused command created its output folder"


ZERO_WIDTH = "\u200b"  # a non-empty question that tokenizes to nothing


@pytest.mark.parametrize(
    ("where", "question_id", "fragments"),
    [
        ("train", "smoke-train-p1-q2", ["training data", "train-en.json"]),
        ("de", "smoke-dev-p2-q1", ["de evaluation data", "dev-de.json"]),
        # Every English passage: whichever of them is the dev set is checked first.
        ("en", "smoke-dev-p1-q1", ["dev data", "dev-en.json"]),
    ],
)
def test_cli_unreadable_qa_question_names_the_file_and_id(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, question_id: str, fragments: list[str]
) -> None:
    from robust_xlt.data import sample_path

    files = {name: json.loads(sample_path("qa", *name.split("-")).read_text(encoding="utf-8")) for name in ("train-en", "dev-en", "dev-de")}
    doc = files["train-en" if where == "train" else f"dev-{where}"]
    for paragraph in (p for article in doc["data"] for p in article["paragraphs"]):
        for qa in paragraph["qas"]:
            if qa["id"] == question_id or where == "en":
                qa["question"] = ZERO_WIDTH
    for name, content in files.items():
        write(tmp_path / f"{name}.json", json.dumps(content))
    out = tmp_path / "out"
    argv = ["train", "--model", str(tiny), "--task", "qa", "--train-data", str(tmp_path / "train-en.json")]
    argv += ["--eval-data", str(tmp_path / "dev-{lang}.json"), "--eval-langs", "de", "--max-length", "96", "--qa-overlap", "24"]
    message = expect_cli_error([*argv, "--output-dir", str(out)], [*fragments, str(tmp_path), "'smoke-", "the question has no tokens"], capsys)
    if where != "en":
        assert f"question {question_id!r}" in message
    assert not out.exists(), "a refused command created its output folder"


def test_cli_output_dir_is_a_file(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = write(tmp_path / "notes.txt", "mine\n")
    expect_cli_error(["train", "--model", str(tiny), "--output-dir", str(out)], [str(out), "is a file"], capsys)
    assert out.read_text() == "mine\n"


def test_cli_config_is_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expect_cli_error(["train", "--config", str(tmp_path)], [str(tmp_path), "is a folder"], capsys)


@pytest.mark.parametrize(("content", "fragments"), [pytest.param(*c[1:], id=c[0]) for c in TOML_CASES[:16]])
def test_cli_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes, fragments: list[str]) -> None:
    path = write(tmp_path / "run.toml", content)
    expect_cli_error(["train", "--config", str(path), "--output-dir", str(tmp_path / "o")], [str(path), *fragments], capsys)


# Bad task files through the CLI: the loaders' message, as one line, no traceback.
CLI_DATA_CASES = [
    ("pawsx", "train.tsv", PX + "2\ta\tb\t2\n", ["line 3", "unknown label '2'"]),
    ("xnli", "train.tsv", XN_EN + "en\tneutral\tA.\n", ["line 3", "found 3"]),
    ("qa", "train.json", json.dumps(_squad({"text": "Ana", "answer_start": "0"})), [f"{QW}.answers[0]", "'answer_start'"]),
    ("qa", "deep.json", DEEP, ["nested"]),
    ("qa", "huge.json", json.dumps(_squad()).replace('"answer_start": 0', '"answer_start": ' + "9" * 5000), ["answer_start", "digits"]),
]


@pytest.mark.parametrize(("task", "name", "content", "fragments"), [pytest.param(*c, id=f"{c[0]}-{c[1]}") for c in CLI_DATA_CASES])
def test_cli_bad_training_file(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], task: str, name: str, content: str, fragments: list[str]
) -> None:
    train = write(tmp_path / name, content)
    dev = write(tmp_path / f"dev-en{train.suffix}", json.dumps(_squad()) if task == "qa" else (PX if task == "pawsx" else XN_EN))
    argv = ["train", "--model", str(tiny), "--task", task, "--train-data", str(train), "--eval-data", str(tmp_path / f"dev-{{lang}}{train.suffix}")]
    expect_cli_error([*argv, "--eval-langs", "en", "--output-dir", str(tmp_path / "o")], [str(train), *fragments], capsys)
    assert dev.exists()


@pytest.mark.parametrize(
    ("name", "content", "fragments"),
    [
        ("lex.tsv", "en\tbig\tlarge\n", [":1:", "found 3 column(s)"]),
        ("lex.tsv", "", ["no lexicon entries"]),
        ("en-xx.txt", "big gross\n", ["'xx'"]),
    ],
)
def test_cli_bad_lexicon(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str, fragments: list[str]) -> None:
    lexicon = write(tmp_path / name, content)
    argv = ["train", "--model", str(tiny), "--method", "rs-da", "--lexicon", str(lexicon), "--output-dir", str(tmp_path / "o")]
    expect_cli_error(argv, [str(lexicon), *fragments], capsys)


def test_cli_lexicon_folder(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "lexicons"
    folder.mkdir()
    argv = ["train", "--model", str(tiny), "--method", "rs-da", "--lexicon", str(folder), "--output-dir", str(tmp_path / "o")]
    expect_cli_error(argv, [str(folder), "is a folder"], capsys)


# ----------------------------------------------------------------- eval and attack flags


@pytest.fixture
def model_copy(tiny: Path, tmp_path: Path) -> Path:
    """A model folder of links to the tiny model's files, to damage one at a time."""
    folder = tmp_path / "model"
    folder.mkdir()
    for f in tiny.iterdir():
        (folder / f.name).symlink_to(f)
    return folder


def _replace(folder: Path, name: str, content: str | bytes | None) -> None:
    (folder / name).unlink(missing_ok=True)
    if content is not None:
        write(folder / name, content)


ATTACK_CASES = [
    ("budgets-above-1", ["--budgets", "2"], ["--budgets: 2 is not a share"]),
    ("budgets-word", ["--budgets", "0,x"], ["--budgets: 'x' is not a number"]),
    ("budgets-empty", ["--budgets", ","], ["--budgets is empty"]),
    ("budgets-twice", ["--budgets", "0.1,0.1"], ["--budgets lists 0.1 twice"]),
    ("samples-negative", ["--samples", "-1"], ["--samples must be 0 or more, got -1"]),
    ("beam-width-zero", ["--beam-width", "0"], ["--beam-width", "0"]),
    ("beam-width-word", ["--beam-width", "wide"], ["--beam-width", "'wide'"]),
    ("min-similarity-2", ["--min-similarity", "2"], ["--min-similarity", "2"]),
    ("min-similarity-word", ["--min-similarity", "high"], ["--min-similarity", "'high'"]),
    ("target-langs-synonym", ["--mode", "synonym", "--target-langs", "de"], ["--target-langs", "--mode synonym"]),
    ("target-langs-unknown", ["--mode", "codeswitch", "--target-langs", "xx"], ["--target-langs", "\"xx\""]),
    ("mode-unknown", ["--mode", "random"], ["--mode", "'random'"]),
]


@pytest.mark.parametrize(("flags", "fragments"), [pytest.param(*c[1:], id=c[0]) for c in ATTACK_CASES])
def test_cli_attack_flags(model_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], fragments: list[str]) -> None:
    out = tmp_path / "attack"
    expect_cli_error(["attack", "--model-dir", str(model_copy), "--output-dir", str(out), *flags], fragments, capsys)
    assert not out.exists()


@pytest.mark.parametrize("command", ["eval", "attack"])
def test_cli_eval_output_dir_is_a_file(model_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    out = write(tmp_path / "results.json", '{"mine": 1}\n')
    expect_cli_error([command, "--model-dir", str(model_copy), "--output-dir", str(out)], [str(out), "is a file"], capsys)
    assert out.read_text() == '{"mine": 1}\n'


@pytest.mark.parametrize("command", ["eval", "attack"])
def test_cli_eval_into_a_training_run_is_refused(model_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    run = tmp_path / "run"
    write(run / "config.toml", "[run]\ntask = \"xnli\"\n")
    write(run / "results.json", '{"run": 1}\n')
    write(run / "metrics.jsonl", '{"event": "final"}\n')
    before = snapshot(run)
    expect_cli_error([command, "--model-dir", str(model_copy), "--output-dir", str(run)], [str(run), "holds a training run"], capsys)
    assert snapshot(run) == before


@pytest.mark.parametrize("command", ["eval", "attack"])
def test_cli_eval_into_the_model_folder_is_refused(model_copy: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    # RUN/best itself: a resumed run replacing best/ would take the results with it.
    before = snapshot(model_copy)
    expect_cli_error([command, "--model-dir", str(model_copy), "--output-dir", str(model_copy)], [str(model_copy), "is a model folder"], capsys)
    assert snapshot(model_copy) == before


@pytest.mark.parametrize("command", ["eval", "attack"])
def test_cli_model_dir_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    model = write(tmp_path / "model.safetensors", b"x")
    expect_cli_error([command, "--model-dir", str(model), "--output-dir", str(tmp_path / "o")], [str(model)], capsys)


# ----------------------------------------------------------------- model folders

MODEL_CASES = [
    # (id, file, new content or None to delete, fragments besides the folder)
    ("weights-truncated", "model.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{}", ["model.safetensors"]),
    ("weights-garbage", "model.safetensors", b"not a safetensors file at all", ["model.safetensors"]),
    ("weights-empty", "model.safetensors", b"", ["model.safetensors"]),
    ("weights-missing", "model.safetensors", None, ["model.safetensors"]),
    ("config-not-json", "config.json", "{not json", ["config.json"]),
    ("config-empty", "config.json", "", ["config.json"]),
    ("config-array", "config.json", "[1, 2]", ["config.json"]),
    ("config-deeply-nested", "config.json", '{"a": ' + DEEP + "}", ["config.json"]),
    ("config-missing", "config.json", None, ["config.json"]),
    ("config-unknown-model-type", "config.json", '{"model_type": "bogus"}', ["config.json", "bogus"]),
    ("tokenizer-not-json", "tokenizer.json", "{not json", ["tokenizer"]),
    ("run-config-not-toml", "robust_xlt.toml", "[run\n", ["robust_xlt.toml", "not valid TOML"]),
    ("run-config-not-utf8", "robust_xlt.toml", b"[run]\nmodel = \"caf\xe9\"\n", ["robust_xlt.toml", "not UTF-8"]),
    ("run-config-bad-value", "robust_xlt.toml", "[optimization]\nbatch_size = 0\n", ["robust_xlt.toml", "batch_size must be at least 1"]),
]


@pytest.mark.parametrize(("name", "content", "fragments"), [pytest.param(*c[1:], id=c[0]) for c in MODEL_CASES])
def test_cli_eval_damaged_model_folder(
    model_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str | bytes | None, fragments: list[str]
) -> None:
    _replace(model_copy, name, content)
    before = snapshot(model_copy)
    out = tmp_path / "eval"
    expect_cli_error(["eval", "--model-dir", str(model_copy), "--output-dir", str(out)], [str(model_copy), *fragments], capsys)
    assert snapshot(model_copy) == before
    assert not (out / "results.json").exists()


# ----------------------------------------------------------------- run folders and checkpoints


def _fast(tiny: Path, out: Path) -> list[str]:
    return ["--model", str(tiny), "--task", "pawsx", "--batch-size", "4", "--max-length", "32", "--threads", "1", "--max-steps", "1", "--output-dir", str(out)]


def _saved_config(tiny: Path, out: Path) -> str:
    from robust_xlt.cli import build_parser, config_layers
    from robust_xlt.training.config import to_toml

    args = build_parser().parse_args(["train", *_fast(tiny, out)])
    return to_toml(build_config(*config_layers(args)).resolved())


def _resume_state(**overrides: Any) -> str:
    state: dict[str, Any] = {k: {} for k in ("optimizer_groups", "scheduler", "rng", "state", "config", "runtime")}
    state.update({"format_version": 2, "step": 1, **overrides})
    return json.dumps(state)


RUN_CASES = [
    # (id, files of the run folder, --resume?, fragments besides the folder)
    ("resume-other-files", {"notes.md": "mine", "results.md": "# mine"}, True, ["holds no robust-xlt run", "nothing was changed"]),
    # Names a killed run's half-written files have, which a refused command leaves too.
    (
        "resume-other-files-and-temporaries",
        {"notes.md": "mine", ".best.tmp/model.safetensors": b"x", ".resume.tmp/state.json": "{}", ".results.md.7.tmp": "#"},
        True,
        ["holds no robust-xlt run", "nothing was changed"],
    ),
    ("fresh-over-a-run", {"results.json": "{}", "metrics.jsonl": ""}, False, ["already holds a run", "--resume"]),
    ("fresh-over-a-killed-run", {"config.toml": "SAVED", "metrics.jsonl": "", ".resume.tmp/state.json": "{}", ".splits.json.7.tmp": "{"}, False, ["already holds a run"]),
    ("resume-config-not-toml", {"config.toml": "[run\n", "results.md": "# r"}, True, ["config.toml", "not valid TOML"]),
    ("resume-config-not-utf8", {"config.toml": b"[run]\nmodel = \"\xe9\"\n"}, True, ["config.toml", "not UTF-8"]),
    ("resume-config-bad-value", {"config.toml": "[optimization]\nbatch_size = -1\n"}, True, ["config.toml", "batch_size must be at least 1"]),
    ("resume-config-other-run", {"config.toml": "[run]\nseed = 7\n"}, True, ["config.toml", "another config", "task: 'xnli' -> 'pawsx'"]),
    pytest.param({"config.toml": "SAVED", "results.json": "{oops"}, True, ["results.json"], id="resume-results-not-json"),
    ("state-missing", {"resume/trainable.safetensors": b""}, True, ["state.json", "cannot read"]),
    ("state-not-json", {"resume/state.json": "{oops"}, True, ["state.json", "cannot read"]),
    ("state-not-utf8", {"resume/state.json": b"{\"step\": \"\xe9\"}"}, True, ["state.json", "cannot read"]),
    ("state-array", {"resume/state.json": "[]"}, True, ["state.json", "not a robust-xlt resume checkpoint"]),
    ("state-missing-keys", {"resume/state.json": '{"step": 3}'}, True, ["state.json", "missing format_version"]),
    ("state-deeply-nested", {"resume/state.json": DEEP}, True, ["state.json", "nested"]),
    ("state-format-string", {"resume/state.json": _resume_state(format_version="2")}, True, ["state.json", "format '2'"]),
    ("state-format-1", {"resume/state.json": _resume_state(format_version=1)}, True, ["state.json", "checkpoint format 1"]),
    ("trainable-missing", {"resume/state.json": _resume_state()}, True, ["trainable.safetensors", "damaged"]),
    (
        "trainable-garbage",
        {"resume/state.json": _resume_state(), "resume/trainable.safetensors": b"garbage", "resume/optimizer.safetensors": b"", "resume/rng.safetensors": b""},
        True,
        ["trainable.safetensors", "damaged"],
    ),
    ("legacy-checkpoint", {"resume.pt": b"old"}, True, ["resume.pt", "older robust-xlt"]),
]


@pytest.mark.parametrize(("files", "resume", "fragments"), [pytest.param(*c[1:], id=c[0]) if isinstance(c[0], str) else c for c in RUN_CASES])
def test_cli_train_into_a_bad_run_folder(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], files: dict[str, str | bytes], resume: bool, fragments: list[str]
) -> None:
    out = tmp_path / "run"
    for name, content in files.items():
        write(out / name, _saved_config(tiny, out) if content == "SAVED" else content)
    before = snapshot(out)
    argv = ["train", *(["--resume"] if resume else []), *_fast(tiny, out)]
    expect_cli_error(argv, [str(out), *fragments], capsys)
    assert snapshot(out) == before, "a refused command changed the run folder"


CHECKPOINT_API_CASES = [
    ("state-deeply-nested", "resume/state.json", DEEP, ["nested"]),
    ("state-not-object", "resume/state.json", '"step"', ["not a robust-xlt resume checkpoint"]),
    ("state-empty", "resume/state.json", "", ["cannot read"]),
    ("best-info-not-json", "best/best.json", "{", ["best.json", "cannot read"]),
    ("best-info-array", "best/best.json", "[1]", ["best.json", "expected a JSON object"]),
    ("best-info-deeply-nested", "best/best.json", DEEP, ["best.json", "nested"]),
    ("best-info-not-utf8", "best/best.json", b'{"step": "\xff"}', ["best.json", "cannot read"]),
]


@pytest.mark.parametrize(("name", "content", "fragments"), [pytest.param(*c[1:], id=c[0]) for c in CHECKPOINT_API_CASES])
def test_checkpoint_files(tmp_path: Path, name: str, content: str | bytes, fragments: list[str]) -> None:
    path = write(tmp_path / name, content)
    call = (lambda: load_resume(tmp_path)) if name.startswith("resume/") else (lambda: read_best_info(path.parent))
    expect_error(call, (CheckpointError,), [str(path), *fragments])


def test_damaged_copy_leaves_the_original_model_alone(tiny: Path, model_copy: Path) -> None:
    # The model-folder cases damage links' targets never: they replace the link.
    _replace(model_copy, "model.safetensors", b"x")
    assert (tiny / "model.safetensors").stat().st_size > 1000
