"""Loading XTREME tasks from the Hugging Face hub into the same example types.

Needs the optional ``datasets`` package (``pip install 'robust-xlt[hub]'``), which
is imported only when :func:`load_hub` runs; the row mapping below is plain Python
and tested without it. Mapping is by field name, so these work:

============================  ===============  =====  ===============================
dataset id                    config           task   fields used
============================  ===============  =====  ===============================
google/xtreme                 PAWS-X.<lang>    pawsx  sentence1, sentence2, label ("0"/"1")
google/xtreme                 XNLI             xnli   language, sentence1, sentence2,
                                                      gold_label; rows of other
                                                      languages are skipped, counted
google/xtreme                 tydiqa           qa     id, question, context, answers;
                                                      all languages in one split, kept
                                                      by id prefix (``swahili-...``)
google/xtreme                 XQuAD.<lang>,    qa     id, question, context, answers
                              MLQA.<c>.<q>,
                              SQuAD
paws-x (google-research-      <lang>           pawsx  id, sentence1, sentence2, label
datasets/paws-x)                                      (ClassLabel "0"/"1")
xnli (facebook/xnli)          <lang>           xnli   premise, hypothesis, label
                                                      (ClassLabel entailment, neutral,
                                                      contradiction)
squad (rajpurkar/squad)       plain_text       qa     id, question, context, answers
============================  ===============  =====  ===============================

Integer labels are turned into names through the dataset's ClassLabel names, then
into this package's indices, so a dataset with another class order still maps
right; label -1 (unlabelled test rows) is an error. Rows without an ``id`` get
their 0-based position among the kept rows. PAWS-X ``NS`` placeholders and QA
answer checks are handled exactly as for files, with the same LoadReport.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, overload

from robust_xlt.data.errors import DataError, require_lang
from robust_xlt.data.examples import PAWSX_LABELS, XNLI_LABELS, PairExample, QAExample
from robust_xlt.data.pawsx import UNTRANSLATED
from robust_xlt.data.report import (
    KEPT,
    OTHER_LANGUAGE,
    READ,
    UNTRANSLATED_KEPT,
    UNTRANSLATED_SKIPPED,
    LoadReport,
)
from robust_xlt.data.squad import REPAIR_WINDOW, RawQuestion, build_qa_examples
from robust_xlt.data.tasks import TASKS

logger = logging.getLogger(__name__)

HUB_TASKS: tuple[str, ...] = TASKS
# TyDiQA-GoldP ids in the combined release start with the language's English name
# ("swahili-1234-0"; unverified here: the shared per-language files use bare integers).
TYDIQA_LANGUAGE_NAMES: dict[str, str] = {
    "ar": "arabic",
    "bn": "bengali",
    "en": "english",
    "fi": "finnish",
    "id": "indonesian",
    "ko": "korean",
    "ru": "russian",
    "sw": "swahili",
    "te": "telugu",
}
_TEXT_A = ("sentence1", "premise")
_TEXT_B = ("sentence2", "hypothesis")
_LABEL = ("label", "gold_label")
_TASK_LABELS = {"pawsx": PAWSX_LABELS, "xnli": XNLI_LABELS}


@overload
def load_hub(
    dataset_id: str,
    config: str | None,
    split: str,
    task: Literal["pawsx", "xnli"],
    lang: str,
    *,
    keep_untranslated: bool = False,
    repair_window: int = REPAIR_WINDOW,
    report: LoadReport | None = None,
) -> list[PairExample]: ...


@overload
def load_hub(
    dataset_id: str,
    config: str | None,
    split: str,
    task: Literal["qa"],
    lang: str,
    *,
    keep_untranslated: bool = False,
    repair_window: int = REPAIR_WINDOW,
    report: LoadReport | None = None,
) -> list[QAExample]: ...


@overload
def load_hub(
    dataset_id: str,
    config: str | None,
    split: str,
    task: str,
    lang: str,
    *,
    keep_untranslated: bool = False,
    repair_window: int = REPAIR_WINDOW,
    report: LoadReport | None = None,
) -> list[PairExample] | list[QAExample]: ...


def load_hub(
    dataset_id: str,
    config: str | None,
    split: str,
    task: str,
    lang: str,
    *,
    keep_untranslated: bool = False,
    repair_window: int = REPAIR_WINDOW,
    report: LoadReport | None = None,
) -> list[PairExample] | list[QAExample]:
    """Download (or reuse the cache of) a hub split and map it to examples of ``lang``."""
    require_lang(lang)
    _check_task(task)
    datasets = _import_datasets()
    rows = datasets.load_dataset(dataset_id, config, split=split)
    return examples_from_rows(
        rows,
        task=task,
        lang=lang,
        source=f"{dataset_id}/{config}[{split}]" if config else f"{dataset_id}[{split}]",
        label_names=label_names_of(rows),
        id_prefix=_tydiqa_prefix(dataset_id, config, lang) if task == "qa" else None,
        keep_untranslated=keep_untranslated,
        repair_window=repair_window,
        report=report,
    )


@overload
def examples_from_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    task: Literal["pawsx", "xnli"],
    lang: str,
    source: str,
    label_names: Sequence[str] | None = None,
    id_prefix: str | None = None,
    keep_untranslated: bool = False,
    repair_window: int = REPAIR_WINDOW,
    report: LoadReport | None = None,
) -> list[PairExample]: ...


@overload
def examples_from_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    task: Literal["qa"],
    lang: str,
    source: str,
    label_names: Sequence[str] | None = None,
    id_prefix: str | None = None,
    keep_untranslated: bool = False,
    repair_window: int = REPAIR_WINDOW,
    report: LoadReport | None = None,
) -> list[QAExample]: ...


@overload
def examples_from_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    task: str,
    lang: str,
    source: str,
    label_names: Sequence[str] | None = None,
    id_prefix: str | None = None,
    keep_untranslated: bool = False,
    repair_window: int = REPAIR_WINDOW,
    report: LoadReport | None = None,
) -> list[PairExample] | list[QAExample]: ...


def examples_from_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    task: str,
    lang: str,
    source: str,
    label_names: Sequence[str] | None = None,
    id_prefix: str | None = None,
    keep_untranslated: bool = False,
    repair_window: int = REPAIR_WINDOW,
    report: LoadReport | None = None,
) -> list[PairExample] | list[QAExample]:
    """Map hub rows (dicts) to examples; ``id_prefix`` keeps only QA rows whose id has it."""
    _check_task(task)
    rep = report if report is not None else LoadReport()
    rep.source, rep.lang = source, lang
    examples: list[PairExample] | list[QAExample]
    if task == "qa":
        questions = _raw_questions(rows, source, id_prefix, rep)
        examples = build_qa_examples(questions, lang, repair_window, rep, source=source)
    else:
        examples = _pairs(rows, task, lang, source, label_names, keep_untranslated, rep)
        rep.add(KEPT, len(examples))
    rep.log(logger)
    return examples


def label_names_of(rows: Any) -> list[str] | None:
    """ClassLabel names of a datasets.Dataset's label column, if it has one."""
    features = getattr(rows, "features", None) or {}
    for key in _LABEL:
        names = getattr(features.get(key), "names", None)
        if names:
            return list(names)
    return None


def _pairs(
    rows: Iterable[Mapping[str, Any]],
    task: str,
    lang: str,
    source: str,
    label_names: Sequence[str] | None,
    keep_untranslated: bool,
    rep: LoadReport,
) -> list[PairExample]:
    examples: list[PairExample] = []
    # A row without an id is named by its position among this language's rows, skipped
    # NS placeholders included, so row k of every language is the same translated pair.
    position = -1
    for i, row in enumerate(rows):
        where = f"row {i}"
        if "language" in row and row["language"] != lang:
            rep.add(OTHER_LANGUAGE)
            continue
        position += 1
        rep.add(READ)
        a, b = _text(row, _TEXT_A, source, where), _text(row, _TEXT_B, source, where)
        label = _label(row, _TASK_LABELS[task], label_names, source, where)
        if task == "pawsx" and UNTRANSLATED in (a.strip(), b.strip()):
            detail = f"{where}: a sentence is {UNTRANSLATED!r}"
            if not keep_untranslated:
                rep.note(UNTRANSLATED_SKIPPED, detail)
                continue
            rep.note(UNTRANSLATED_KEPT, detail)
        ident = str(row["id"]) if row.get("id") is not None else str(position)
        examples.append(PairExample(ident, a, b, label, lang))
    return examples


def _raw_questions(
    rows: Iterable[Mapping[str, Any]], source: str, id_prefix: str | None, rep: LoadReport
) -> Iterator[RawQuestion]:
    for i, row in enumerate(rows):
        where = f"row {i}"
        ident = str(_field(row, "id", source, where))
        if id_prefix is not None and not ident.startswith(id_prefix):
            rep.add(OTHER_LANGUAGE)
            continue
        yield RawQuestion(
            where=where,
            id=ident,
            question=_field(row, "question", source, where),
            context=_field(row, "context", source, where),
            answers=_answers(_field(row, "answers", source, where), source, where),
        )


def _answers(value: Any, source: str, where: str) -> tuple[tuple[str, int], ...]:
    """Answers as (text, start): datasets gives a dict of lists, JSON a list of dicts."""
    if isinstance(value, Mapping):
        texts, starts = list(value.get("text", [])), list(value.get("answer_start", []))
        if len(texts) != len(starts):
            raise DataError(
                f"answers has {len(texts)} texts but {len(starts)} answer_starts",
                path=source,
                where=where,
            )
        pairs = list(zip(texts, starts, strict=True))
    else:
        if not all(isinstance(a, Mapping) for a in value):
            raise DataError(
                f"answers must be objects with text and answer_start, found {value!r}",
                path=source,
                where=where,
            )
        pairs = [(a.get("text"), a.get("answer_start")) for a in value]
    for text, start in pairs:
        if not isinstance(text, str) or isinstance(start, bool) or not isinstance(start, int):
            raise DataError(
                f"answer ({text!r}, {start!r}) is not (text, integer start)",
                path=source,
                where=where,
            )
    return tuple(pairs)


def _text(row: Mapping[str, Any], keys: tuple[str, ...], source: str, where: str) -> str:
    for key in keys:
        if key in row:
            value = row[key]
            if not isinstance(value, str) or not value.strip():
                raise DataError(
                    f"{key!r} must be a non-empty string, found {value!r}", path=source, where=where
                )
            return value
    raise DataError(
        f"row has none of the fields {', '.join(keys)}; it has {', '.join(row)}",
        path=source,
        where=where,
    )


def _label(
    row: Mapping[str, Any],
    labels: tuple[str, ...],
    names: Sequence[str] | None,
    source: str,
    where: str,
) -> int:
    key = next((k for k in _LABEL if k in row), None)
    if key is None:
        raise DataError(f"row has none of the fields {', '.join(_LABEL)}", path=source, where=where)
    value = row[key]
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise DataError(f"unlabelled row ({key} {value})", path=source, where=where)
        value = names[value] if names is not None and value < len(names) else str(value)
    if value not in labels:
        allowed = ", ".join(repr(x) for x in labels)
        raise DataError(
            f"unknown label {value!r}; allowed labels: {allowed}", path=source, where=where
        )
    return labels.index(value)


def _field(row: Mapping[str, Any], key: str, source: str, where: str) -> Any:
    if key not in row:
        raise DataError(
            f"missing field {key!r}; the row has {', '.join(row)}", path=source, where=where
        )
    return row[key]


def _tydiqa_prefix(dataset_id: str, config: str | None, lang: str) -> str | None:
    """TyDiQA on the hub mixes languages in one split; other QA sets are one language."""
    if "tydiqa" not in f"{dataset_id} {config}".lower():
        return None
    if lang not in TYDIQA_LANGUAGE_NAMES:
        raise ValueError(
            f"TyDiQA-GoldP has no language {lang!r}; "
            f"it has {', '.join(sorted(TYDIQA_LANGUAGE_NAMES))}"
        )
    return TYDIQA_LANGUAGE_NAMES[lang] + "-"


def _check_task(task: str) -> None:
    if task not in HUB_TASKS:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(HUB_TASKS)}")


def _import_datasets() -> Any:
    try:
        return importlib.import_module("datasets")
    except ImportError as err:
        raise ImportError(
            "loading from the hub needs the optional 'datasets' package: "
            "pip install 'robust-xlt[hub]'"
        ) from err
