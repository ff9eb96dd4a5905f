"""SQuAD-format QA loader (SQuAD v1.1, TyDiQA-GoldP, XQuAD, MLQA).

Layout: ``{"data": [{"paragraphs": [{"context": str, "qas": [{"id", "question",
"answers": [{"text": str, "answer_start": int}]}]}]}]}``. ``answer_start`` is a
code-point (Python ``str``) offset into ``context``.

Every answer is checked against its context. One whose text is not at
``answer_start`` is moved to the nearest occurrence of the text within
``repair_window`` code points of it (ties go to the earlier one); one with no such
occurrence, or with blank text, is dropped. A question left with no answer is
dropped. Question ids must be unique for predictions to be keyed by them, but the
shared TyDiQA-GoldP files reuse small integers (3696 English questions carry 89
distinct ids), so each occurrence of a repeated id becomes ``<id>@<n>``, ``n``
being the question's 0-based position in the file. Every repair, drop and rename
is counted in the LoadReport and summarised in one log line.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from robust_xlt.data.errors import DataError, read_bytes, require_lang, utf8_error
from robust_xlt.data.examples import Answer, QAExample
from robust_xlt.data.report import (
    ANSWER_DROPPED,
    ANSWER_REPAIRED,
    ID_RENAMED,
    KEPT,
    QUESTION_DROPPED,
    READ,
    LoadReport,
)

logger = logging.getLogger(__name__)

# Offsets computed on bytes, UTF-16 units or differently normalised whitespace are
# typically off by a few to a few dozen code points; a wider window starts to match
# a different occurrence of short answers such as years or numbers.
REPAIR_WINDOW = 50


@dataclass(frozen=True, slots=True)
class RawQuestion:
    """One question as found in a source, before its answers are checked."""

    where: str  # location in the source, for messages: a JSON path or "row 12"
    id: str
    question: str
    context: str
    answers: tuple[tuple[str, int], ...]  # (text, answer_start)


def load_squad(
    path: str | PathLike[str],
    lang: str,
    *,
    repair_window: int = REPAIR_WINDOW,
    report: LoadReport | None = None,
) -> list[QAExample]:
    """Read a SQuAD-format JSON file whose questions are in language ``lang``.

    Raises FileNotFoundError, or DataError naming the file and the JSON path (or
    line and column for unparsable JSON) for an empty file, invalid JSON, JSON nested
    too deeply, a missing key, a value of the wrong type, a negative or absurdly large
    ``answer_start``, or a file left with no usable question; ValueError for an
    unknown language code.
    """
    p = Path(path)
    require_lang(lang)
    doc = _read_json(p)
    rep = report if report is not None else LoadReport()
    rep.source, rep.lang = str(p), lang
    examples = build_qa_examples(_iter_questions(p, doc), lang, repair_window, rep, source=str(p))
    rep.log(logger)
    return examples


def locate_answer(context: str, text: str, start: int, window: int) -> int | None:
    """Where ``text`` occurs in ``context``: at ``start`` if it is there, else the
    nearest occurrence starting within ``window`` code points of ``start``."""
    if start >= 0 and context.startswith(text, start):
        return start
    lo = max(0, start - window)
    hi = min(len(context), start + window + len(text))
    best: int | None = None
    found = context.find(text, lo, hi)
    while found != -1:
        if best is None or abs(found - start) < abs(best - start):
            best = found
        found = context.find(text, found + 1, hi)
    return best


def build_qa_examples(
    questions: Iterable[RawQuestion],
    lang: str,
    repair_window: int,
    rep: LoadReport,
    *,
    source: str,
) -> list[QAExample]:
    """Check every answer, drop what cannot be used and make ids unique, counting all of it."""
    if repair_window < 0:
        raise ValueError(f"repair_window must be >= 0 code points, got {repair_window}")
    items = list(questions)
    if not items:
        raise DataError("no questions in the file", path=source)
    id_counts = Counter(q.id for q in items)
    examples: list[QAExample] = []
    first_drop: str | None = None
    for ordinal, q in enumerate(items):
        rep.add(READ)
        if not q.question.strip():
            rep.note(QUESTION_DROPPED, f"{q.where}: empty question")
            first_drop = first_drop or f"{q.where}: empty question"
            continue
        answers, dropped = _checked_answers(q, repair_window, rep)
        if not answers:
            reason = "no answers given" if not q.answers else "no usable answer left"
            rep.note(QUESTION_DROPPED, f"{q.where}: id {q.id!r}: {reason}")
            first_drop = first_drop or (dropped[0] if dropped else f"{q.where}: id {q.id!r}: {reason}")
            continue
        ident = q.id
        if id_counts[q.id] > 1:
            ident = f"{q.id}@{ordinal}"
            rep.note(
                ID_RENAMED, f"{q.where}: id {q.id!r} occurs {id_counts[q.id]} times, now {ident!r}"
            )
        examples.append(QAExample(ident, q.question, q.context, tuple(answers), lang))
    if not examples:
        # Every question dropped: a file of the wrong language or offsets, never data.
        raise DataError(f"no usable question: all {len(items)} were dropped; the first: {first_drop}", path=source)
    _check_unique(examples, source)
    rep.add(KEPT, len(examples))
    return examples


def _checked_answers(q: RawQuestion, window: int, rep: LoadReport) -> tuple[list[Answer], list[str]]:
    """The usable answers, and what was said of each dropped one."""
    answers: list[Answer] = []
    dropped: list[str] = []
    for k, (text, start) in enumerate(q.answers):
        where = f"{q.where}.answers[{k}]"
        if not text.strip():
            dropped.append(f"{where}: blank answer text {text!r}")
            rep.note(ANSWER_DROPPED, dropped[-1])
            continue
        found = locate_answer(q.context, text, start, window)
        if found is None:
            dropped.append(f"{where}: {text!r} not within {window} of answer_start {start}")
            rep.note(ANSWER_DROPPED, dropped[-1])
            continue
        if found != start:
            rep.note(ANSWER_REPAIRED, f"{where}: {text!r} answer_start {start} -> {found}")
        answers.append(Answer(text, found))
    return answers, dropped


def _check_unique(examples: list[QAExample], source: str) -> None:
    """Renamed ids could in principle collide with an id the source already used."""
    seen: set[str] = set()
    for ex in examples:
        if ex.id in seen:
            raise DataError(f"question id {ex.id!r} is not unique even after renaming", path=source)
        seen.add(ex.id)


# Integers longer than this are kept as _LongInt instead of being converted: no offset
# has 19 digits, and Python refuses to convert more than 4300 at all.
_MAX_INT_DIGITS = 18


class _LongInt(str):
    """The digits of a JSON integer too long to be an offset or id, for the message."""


def _parse_int(digits: str) -> int | _LongInt:
    return _LongInt(digits) if len(digits.lstrip("-")) > _MAX_INT_DIGITS else int(digits)


def _read_json(path: Path) -> Any:
    raw = read_bytes(path).removeprefix(b"\xef\xbb\xbf")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(utf8_error(raw, err), path=path) from None
    if not text.strip():
        raise DataError("empty file", path=path)
    try:
        return json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as err:
        raise DataError(
            f"invalid JSON: {err.msg}", path=path, where=f"line {err.lineno} column {err.colno}"
        ) from None
    except RecursionError:
        raise DataError("invalid JSON: nested too deeply for a SQuAD-format file", path=path) from None


def _iter_questions(path: Path, doc: Any) -> Iterator[RawQuestion]:
    for ai, article in enumerate(_get(doc, "data", list, path, "top level")):
        aw = f"data[{ai}]"
        for pi, para in enumerate(_get(article, "paragraphs", list, path, aw)):
            pw = f"{aw}.paragraphs[{pi}]"
            context = _get(para, "context", str, path, pw)
            for qi, qa in enumerate(_get(para, "qas", list, path, pw)):
                qw = f"{pw}.qas[{qi}]"
                answers = tuple(
                    (
                        _get(ans, "text", str, path, f"{qw}.answers[{k}]"),
                        _answer_start(ans, path, f"{qw}.answers[{k}]"),
                    )
                    for k, ans in enumerate(_get(qa, "answers", list, path, qw))
                )
                yield RawQuestion(
                    where=qw,
                    id=str(_get(qa, "id", (str, int), path, qw)),
                    question=_get(qa, "question", str, path, qw),
                    context=context,
                    answers=answers,
                )


def _answer_start(answer: Any, path: Path, where: str) -> int:
    start: int = _get(answer, "answer_start", int, path, where)
    if start < 0:
        raise DataError(f"answer_start {start} is negative; it is a code-point offset into the context", path=path, where=where)
    return start


def _get(obj: Any, key: str, kind: type | tuple[type, ...], path: Path, where: str) -> Any:
    """``obj[key]`` checked to be of ``kind``; bools are not accepted as ints."""
    if not isinstance(obj, dict):
        raise DataError(f"expected a JSON object, found {_json_type(obj)}", path=path, where=where)
    if key not in obj:
        raise DataError(
            f"missing key {key!r} (has {', '.join(map(repr, obj)) or 'no keys'})",
            path=path,
            where=where,
        )
    value = obj[key]
    if isinstance(value, _LongInt):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if int in kinds and str in kinds:
            return str(value)  # an id (Natural Questions' have 19 digits): its digits are the id
        shown = value if len(value) <= 40 else f"{value[:20]}...{value[-4:]}"
        digits = len(value.lstrip("-"))
        problem = "too large for an offset" if int in kinds else f"where {_kind_name(kind)} belongs"
        raise DataError(f"{key!r} is an integer of {digits} digits ({shown}), {problem}", path=path, where=where)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise DataError(
            f"{key!r} must be {_kind_name(kind)}, found {_json_type(value)} {str(value)[:40]!r}",
            path=path,
            where=where,
        )
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_json_type_name(k) for k in kinds)


def _json_type_name(kind: type) -> str:
    return {dict: "an object", list: "an array", str: "a string", int: "an integer"}.get(
        kind, kind.__name__
    )


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return (
        _json_type_name(type(value))
        if type(value) in (dict, list, str, int)
        else type(value).__name__
    )
