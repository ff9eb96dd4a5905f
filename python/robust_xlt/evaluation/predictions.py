"""Per-example prediction files: ``predictions-{lang}.jsonl`` beside ``results.json``.

One JSON object per line, in evaluation order. Sentence pairs: ``id``,
``prediction`` and ``gold`` (label indices), ``correct``, ``probabilities`` (one per
class). QA: ``id``, ``prediction`` (answer text), ``gold`` (answer texts), and ``f1``,
``exact_match``, ``lang_f1``, ``lang_exact_match`` in [0, 1]. A language's score in
``results.json`` is the mean of ``correct`` (or of a QA score) times 100, so paired
statistics between runs need nothing but these files and the example ids.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from robust_xlt.atomic import write_jsonl

PREFIX = "predictions-"


def predictions_path(folder: Path, lang: str) -> Path:
    return folder / f"{PREFIX}{lang}.jsonl"


def write_predictions(folder: Path, lang: str, records: Iterable[dict[str, Any]]) -> Path:
    """Write one language's records atomically (temp file, then rename)."""
    path = predictions_path(folder, lang)
    write_jsonl(path, records)
    return path


def read_predictions(folder: Path, lang: str) -> list[dict[str, Any]]:
    """One language's records; ValueError naming the file and line of a bad one."""
    return read_records(predictions_path(folder, lang))


def read_records(path: Path) -> list[dict[str, Any]]:
    """A JSONL file of per-example records (objects with an ``id``, one a line), as
    predictions and attack records are written; ValueError naming the file and line
    of a bad one."""
    records = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not a JSON object ({exc})") from None
            if not isinstance(record, dict) or "id" not in record:
                raise ValueError(f"{path}:{number}: expected an object with an 'id'")
            records.append(record)
    return records
