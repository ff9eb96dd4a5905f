"""Files that appear whole or not at all: written to a sibling temporary file, then
renamed over the target (same file system, so the rename is atomic). A run killed
mid-write leaves the previous file, or none, never half of one. Opened normally, so
the user's umask applies. Every command's outputs (training results, predictions,
attack records) are written through here."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def temp_path(path: Path) -> Path:
    """The sibling of ``path`` written before the rename; a killed run's are removed at
    the next start (``.NAME.PID.tmp``)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_text_atomic(path: Path, text: str) -> None:
    tmp = temp_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any) -> None:
    """Indented JSON; NaN is refused, since JSON has none."""
    write_text_atomic(path, json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def write_jsonl(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    """One JSON object per line; NaN is refused."""
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in records))
