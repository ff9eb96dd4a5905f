"""The one exception the data layer raises for bad task data."""

from __future__ import annotations

from os import PathLike
from pathlib import Path


class DataError(ValueError):
    """Task data that cannot be read as the format it claims to be.

    The message names the file, the place in it (``line 12`` or a JSON path such as
    ``data[3].paragraphs[0].qas[5]``) and what is wrong, so a user can open the file
    and fix it. The same three parts stay available as attributes for callers that
    want to report them differently.
    """

    def __init__(
        self,
        problem: str,
        *,
        path: str | PathLike[str] | None = None,
        where: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = None if path is None else str(path)
        self.where = where
        parts = [p for p in (self.path, where) if p]
        super().__init__(": ".join([*parts, problem]))


def require_lang(lang: object) -> None:
    """Every example carries its language, so a loader refuses to guess one, and a
    misspelt one ('xx', 'german') would otherwise only surface in a later lookup."""
    if not isinstance(lang, str) or not lang.strip():
        raise ValueError(f"lang must be a non-empty language code such as 'de', got {lang!r}")
    from robust_xlt import normalize_lang

    try:
        normalize_lang(lang)
    except ValueError as exc:
        raise ValueError(f"lang {lang!r}: {exc}") from None


def read_bytes(path: Path) -> bytes:
    """The bytes of a data file; a folder is a DataError naming it (FileNotFoundError
    for a missing file, as everywhere)."""
    if path.is_dir():
        raise DataError("is a folder, not a data file", path=path)
    return path.read_bytes()


def utf8_error(raw: bytes, err: UnicodeDecodeError) -> str:
    """Where a decoding error is, as ``line N, byte M of the line`` (1-based line)."""
    line = raw.count(b"\n", 0, err.start) + 1
    column = err.start - (raw.rfind(b"\n", 0, err.start) + 1)
    return f"not valid UTF-8 at line {line}, byte {column} of the line ({raw[err.start:err.start + 1]!r})"
